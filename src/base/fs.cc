#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace kiln {

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Error::Sys(errno, "open " + path);
  return UniqueFd(fd);
}

Result<size_t> ReadFull(int fd, void* buf, size_t n) {
  size_t done = 0;
  auto* p = static_cast<char*>(buf);
  while (done < n) {
    ssize_t r = ::read(fd, p + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::Sys(errno, "read");
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status WriteFull(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Error::Sys(errno, "write");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::Sys(errno, "read " + path);
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

Status FsyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Error::Sys(errno, "fsync " + what);
  return Ok();
}

Status FsyncDir(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  return FsyncFd(fd.get(), dir);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
    Status st = WriteFull(fd.get(), data.data(), data.size());
    if (st) st = FsyncFd(fd.get(), tmp);
    if (!st) {
      ::unlink(tmp.c_str());
      return std::move(st).error().Context("write " + path);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error::Sys(e, "rename " + tmp + " to " + path);
  }
  return FsyncDir(Dirname(path));
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Ok();
    return Error::Sys(ENOTDIR, "mkdir " + path);
  }
  std::string parent = Dirname(path);
  if (parent != path) TRY(MakeDirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    return Error::Sys(errno, "mkdir " + path);
  return Ok();
}

namespace {

Status RemoveAt(int dirfd, const char* name, const std::string& shown,
                const std::atomic<bool>* stop) {
  if (stop && stop->load(std::memory_order_relaxed))
    return Error(ErrorCode::kBusy, "removal of " + shown + " stopped");
  if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return Ok();
  if (errno != EISDIR && errno != EPERM) return Error::Sys(errno, "remove " + shown);
  int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Error::Sys(errno, "open " + shown);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return Error::Sys(errno, "opendir " + shown);
  }
  Status result;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    Status st = RemoveAt(fd, e->d_name, shown + "/" + e->d_name, stop);
    if (!st) {
      result = std::move(st);
      break;
    }
  }
  ::closedir(d);
  TRY(result);
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
    return Error::Sys(errno, "rmdir " + shown);
  return Ok();
}

}  // namespace

Status RemoveAll(const std::string& path) {
  return RemoveAt(AT_FDCWD, path.c_str(), path, nullptr);
}

Status RemoveAllUnless(const std::string& path, const std::atomic<bool>& stop) {
  return RemoveAt(AT_FDCWD, path.c_str(), path, &stop);
}

Status RemoveAllAt(int dirfd, const std::string& name) {
  return RemoveAt(dirfd, name.c_str(), name, nullptr);
}

int OpenAt2(int dirfd, const std::string& path, int flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = resolve;
  for (int again = 0;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || (errno == EAGAIN && ++again < 1000)) continue;
    return -1;
  }
}

Result<bool> Exists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return Error::Sys(errno, "stat " + path);
}

Result<struct stat> Lstat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Error::Sys(errno, "stat " + path);
  return st;
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Error::Sys(errno, "opendir " + path);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  if (out.back() != '/') out += '/';
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  out += b;
  return out;
}

std::string Dirname(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto pos = path.rfind('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

std::string Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto pos = path.rfind('/');
  return std::string(pos == std::string_view::npos ? path : path.substr(pos + 1));
}

Result<TempDir> TempDir::Make(const std::string& parent, std::string_view prefix) {
  TRY(MakeDirs(parent, 0700));
  std::string tmpl = JoinPath(parent, std::string(prefix) + "XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) return Error::Sys(errno, "mkdtemp " + tmpl);
  return TempDir(std::move(tmpl));
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)RemoveAll(path_);
}

}  // namespace kiln
