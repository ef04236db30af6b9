// rootfs: the host's cache of unpacked layers, <root>/layers/<diff_id hex>/, each unpacked once
// and shared read-only (as overlay lower dirs) by every instance that uses it.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "base/error.h"
#include "catalog/catalog.h"
#include "store/blob_store.h"

namespace kiln {

class LayerCache {
 public:
  LayerCache(std::string dir, BlobStore* store) : dir_(std::move(dir)), store_(store) {}

  Status Init();
  // The unpacked directory of the layer, unpacking its blob on first use. Unpacking happens in
  // the store's tmp dir and is renamed into place, so a crash never leaves a half layer here.
  Result<std::string> Ensure(const LayerRecord& layer);
  std::string PathOf(const std::string& diff_id) const;
  // Removes unpacked layers whose diff_id is not in keep. Returns how many went.
  Result<int> Prune(const std::set<std::string>& keep);

 private:
  std::string dir_;
  BlobStore* store_;
  std::mutex mu_;  // one unpack at a time; others wait and then find it done
};

}  // namespace kiln
