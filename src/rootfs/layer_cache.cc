#include "rootfs/layer_cache.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "layer/byte_source.h"
#include "rootfs/layer_unpacker.h"

namespace kiln {

Status LayerCache::Init() {
  return MakeDirs(dir_, 0700);
}

std::string LayerCache::PathOf(const std::string& diff_id) const {
  return JoinPath(dir_, DigestHex(diff_id));
}

Result<std::string> LayerCache::Ensure(const LayerRecord& layer) {
  TRY(ValidateDigest(layer.diff_id));
  std::string path = PathOf(layer.diff_id);
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(bool present, Exists(path));
  if (present) return path;
  ASSIGN_OR_RETURN(TempDir tmp, TempDir::Make(store_->tmp_dir(), "unpack-"));
  ASSIGN_OR_RETURN(UniqueFd blob, store_->OpenBlob(layer.digest));
  FdSource src(blob.get());
  // The temp dir is 0700; the unpacked root gets the layer's own mode, or 0755.
  if (::chmod(tmp.path().c_str(), 0755) != 0) return Error::Sys(errno, "chmod " + tmp.path());
  auto stats = UnpackLayer(&src, tmp.path());
  if (!stats) return std::move(stats).error().Context("unpack layer " + layer.diff_id);
  {
    // Unpacked files must be on disk before the directory is named as complete.
    ASSIGN_OR_RETURN(UniqueFd d, OpenFile(tmp.path(), O_RDONLY | O_DIRECTORY));
    if (::syncfs(d.get()) != 0) return Error::Sys(errno, "sync " + tmp.path());
  }
  if (::rename(tmp.path().c_str(), path.c_str()) != 0)
    return Error::Sys(errno, "publish unpacked layer " + path);
  tmp.Keep();
  TRY(FsyncDir(dir_));
  LogInfo("unpacked layer " + layer.diff_id + " (" + std::to_string(stats->entries) + " entries)");
  return path;
}

Result<int> LayerCache::Prune(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto names, ListDir(dir_));
  int removed = 0;
  for (const auto& n : names) {
    if (keep.count("sha256:" + n)) continue;
    TRY(RemoveAll(JoinPath(dir_, n)));
    ++removed;
  }
  return removed;
}

}  // namespace kiln
