// base: file-system helpers that every module shares. All fds are O_CLOEXEC, EINTR is retried,
// and every failure is an Error naming the path.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace kiln {

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0644);
Result<std::string> ReadFile(const std::string& path);
// Reads exactly n bytes unless EOF comes first; returns the bytes read.
Result<size_t> ReadFull(int fd, void* buf, size_t n);
Status WriteFull(int fd, const void* buf, size_t n);
Status FsyncFd(int fd, const std::string& what);
Status FsyncDir(const std::string& dir);

// Writes data to path atomically: temp file in the same dir, fsync, rename, fsync the dir.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

Status MakeDirs(const std::string& path, mode_t mode = 0755);
// Removes path and everything below it without following symlinks; a missing path is fine.
Status RemoveAll(const std::string& path);
// The same for name relative to an open directory.
Status RemoveAllAt(int dirfd, const std::string& name);
// RemoveAll that gives up (kBusy) between two entries once stop is set.
Status RemoveAllUnless(const std::string& path, const std::atomic<bool>& stop);
// openat2(2) with the given flags (O_CLOEXEC added) and RESOLVE_* bits: the fd, or -1 with
// errno. Retries EINTR, and EAGAIN, which RESOLVE_IN_ROOT/BENEATH return when any rename or
// mount on the host raced the lookup (the kernel then cannot prove ".." stayed inside).
int OpenAt2(int dirfd, const std::string& path, int flags, uint64_t resolve);
Result<bool> Exists(const std::string& path);
Result<struct stat> Lstat(const std::string& path);
// Names in a directory, sorted, without "." and "..".
Result<std::vector<std::string>> ListDir(const std::string& path);

std::string JoinPath(std::string_view a, std::string_view b);
std::string Dirname(std::string_view path);
std::string Basename(std::string_view path);

// A directory made under parent that is removed with everything in it unless Keep() is called.
class TempDir {
 public:
  static Result<TempDir> Make(const std::string& parent, std::string_view prefix);
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  void Keep() { path_.clear(); }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace kiln
