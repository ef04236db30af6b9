// context: what the daemon's modules share, made once by kilnd (no globals): root dir, catalog,
// blob store, unpacked-layer cache, the locks that order gc against publishing, background
// jobs and the trash.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "catalog/catalog.h"
#include "context/trash.h"
#include "rootfs/layer_cache.h"
#include "store/blob_store.h"

namespace kiln {

// Counts operations that are reading an image (exports), so it cannot be removed under them.
class ImageUsers {
 public:
  class Lease {
   public:
    Lease(ImageUsers* u, std::string id) : u_(u), id_(std::move(id)) {}
    Lease(Lease&& o) noexcept : u_(o.u_), id_(std::move(o.id_)) { o.u_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (u_) u_->Release(id_);
    }

   private:
    ImageUsers* u_;
    std::string id_;
  };

  Lease Acquire(const std::string& id) {
    std::lock_guard lock(mu_);
    ++count_[id];
    return Lease(this, id);
  }
  bool InUse(const std::string& id) {
    std::lock_guard lock(mu_);
    return count_.count(id) > 0;
  }

 private:
  void Release(const std::string& id) {
    std::lock_guard lock(mu_);
    if (--count_[id] == 0) count_.erase(id);
  }
  std::mutex mu_;
  std::map<std::string, int> count_;
};

// Work that outlives the request that started it (image creation). kilnd waits for it to end
// before it exits, so no job is cut off by a clean stop.
class BackgroundJobs {
 public:
  void Spawn(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    ++running_;
    std::thread([this, fn = std::move(fn)] {
      fn();
      std::lock_guard lock(mu_);
      if (--running_ == 0) idle_.notify_all();
    }).detach();
  }
  void WaitAll() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int running_ = 0;
};

struct Context {
  std::string root;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<BlobStore> store;
  std::unique_ptr<LayerCache> layers;  // unpacked layers, for instances
  ImageUsers users;
  // Held shared while blobs are published for a catalog record, exclusively by gc, so gc never
  // sees a blob between its record's insert and its rename into place.
  std::shared_mutex publish_mu;
  BackgroundJobs jobs;
  std::unique_ptr<Trash> trash;  // last: stopped first when the context goes

  static Result<std::unique_ptr<Context>> Open(const std::string& root);
};

}  // namespace kiln
