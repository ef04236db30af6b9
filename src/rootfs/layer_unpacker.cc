#include "rootfs/layer_unpacker.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <map>
#include <vector>

#include "base/fs.h"
#include "layer/entry_policy.h"
#include "layer/tar_reader.h"

namespace kiln {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

int OpenBeneath(int root, const std::string& rel, int flags) {
  if (rel.empty()) return ::fcntl(root, F_DUPFD_CLOEXEC, 0);
  return OpenAt2(root, rel, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

class Unpacker {
 public:
  Unpacker(ByteSource* in, UniqueFd root, bool whiteouts)
      : reader_(in), whiteouts_(whiteouts), root_(std::move(root)) {}

  Result<UnpackStats> Run() {
    for (;;) {
      ASSIGN_OR_RETURN(archive_entry * e, reader_.Next());
      if (e == nullptr) break;
      TarEntryInfo info = DescribeEntry(e);
      ASSIGN_OR_RETURN(std::string rel, policy_.Check(info));
      auto st = Entry(e, info, rel);
      if (!st) return std::move(st).error().Context("unpack \"" + info.path + "\"");
      ++stats_.entries;
    }
    TRY(reader_.Finish());
    // Directory mtimes last: creating their children changed them.
    for (const auto& [rel, ts] : dir_times_) {
      UniqueFd dir(OpenBeneath(root_.get(), rel, O_RDONLY | O_DIRECTORY));
      if (dir.valid()) ::futimens(dir.get(), ts.data());
    }
    return stats_;
  }

 private:
  // The parent directory of rel, beneath the root; created (0755) when the archive skipped it.
  Result<UniqueFd> Parent(const std::string& rel) {
    std::string parent = rel.find('/') == std::string::npos ? "" : Dirname(rel);
    int fd = OpenBeneath(root_.get(), parent, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      ASSIGN_OR_RETURN(UniqueFd g, Parent(parent));
      if (::mkdirat(g.get(), Basename(parent).c_str(), 0755) != 0 && errno != EEXIST)
        return Error::Sys(errno, "mkdir " + parent);
      fd = OpenBeneath(root_.get(), parent, O_RDONLY | O_DIRECTORY);
    }
    if (fd < 0) return Error::Sys(errno, "open parent " + parent);
    return UniqueFd(fd);
  }

  // Removes whatever is at name so the entry can take its place (later entries win in tar).
  Status Clear(int dir, const std::string& name, bool keep_dir) {
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Ok();
      return Error::Sys(errno, "stat " + name);
    }
    if (S_ISDIR(st.st_mode)) {
      if (keep_dir) return Ok();
      return RemoveAllAt(dir, name);  // never follows links: fd-relative, O_NOFOLLOW
    }
    if (::unlinkat(dir, name.c_str(), 0) != 0) return Error::Sys(errno, "replace " + name);
    return Ok();
  }

  Status Entry(archive_entry* e, const TarEntryInfo& info, const std::string& rel) {
    if (rel.empty()) return Metadata(root_.get(), "", e, true);  // the root itself
    std::string name = Basename(rel);
    ASSIGN_OR_RETURN(UniqueFd dir, Parent(rel));
    if (whiteouts_ && name == kOpaqueMarker) {
      ++stats_.whiteouts;
      if (::fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return Error::Sys(errno, "mark opaque");
      return Ok();
    }
    if (whiteouts_ && std::string_view(name).starts_with(kWhiteoutPrefix)) {
      ++stats_.whiteouts;
      std::string target = name.substr(kWhiteoutPrefix.size());
      TRY(Clear(dir.get(), target, false));
      if (::mknodat(dir.get(), target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
        return Error::Sys(errno, "create whiteout");
      return Ok();
    }
    switch (info.type) {
      case EntryType::kDir: {
        TRY(Clear(dir.get(), name, true));
        if (::mkdirat(dir.get(), name.c_str(), 0700) != 0 && errno != EEXIST)
          return Error::Sys(errno, "mkdir");
        UniqueFd d(
            ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d.valid()) return Error::Sys(errno, "open dir");
        return Metadata(d.get(), rel, e, true);
      }
      case EntryType::kFile: {
        TRY(Clear(dir.get(), name, false));
        UniqueFd f(::openat(dir.get(), name.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!f.valid()) return Error::Sys(errno, "create");
        // Blocks at their offsets: the gaps a sparse entry leaves stay holes in the file.
        for (;;) {
          ASSIGN_OR_RETURN(TarReader::Block b, reader_.ReadBlock());
          if (b.size == 0) break;
          const char* p = static_cast<const char*>(b.data);
          for (size_t done = 0; done < b.size;) {
            ssize_t w =
                ::pwrite(f.get(), p + done, b.size - done, b.offset + static_cast<off_t>(done));
            if (w < 0) {
              if (errno == EINTR) continue;
              return Error::Sys(errno, "write");
            }
            done += static_cast<size_t>(w);
          }
          stats_.bytes += b.size;
        }
        if (::ftruncate(f.get(), archive_entry_size(e)) != 0) return Error::Sys(errno, "truncate");
        return Metadata(f.get(), rel, e, false);
      }
      case EntryType::kSymlink: {
        TRY(Clear(dir.get(), name, false));
        if (::symlinkat(info.link_target.c_str(), dir.get(), name.c_str()) != 0)
          return Error::Sys(errno, "symlink");
        const la_int64_t secs = archive_entry_mtime(e);
        struct timespec ts[2] = {{secs, 0}, {secs, archive_entry_mtime_nsec(e)}};
        if (::fchownat(dir.get(), name.c_str(), archive_entry_uid(e), archive_entry_gid(e),
                       AT_SYMLINK_NOFOLLOW) != 0)
          return Error::Sys(errno, "chown symlink");
        ::utimensat(dir.get(), name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        return Ok();
      }
      case EntryType::kHardlink: {
        ASSIGN_OR_RETURN(std::string target, NormalizeEntryPath(info.link_target));
        ASSIGN_OR_RETURN(UniqueFd tdir, Parent(target));
        TRY(Clear(dir.get(), name, false));
        if (::linkat(tdir.get(), Basename(target).c_str(), dir.get(), name.c_str(), 0) != 0)
          return Error::Sys(errno, "hardlink to " + target);
        return Ok();
      }
      case EntryType::kChar:
      case EntryType::kBlock:
      case EntryType::kFifo: {
        TRY(Clear(dir.get(), name, false));
        mode_t type = info.type == EntryType::kChar    ? S_IFCHR
                      : info.type == EntryType::kBlock ? S_IFBLK
                                                       : S_IFIFO;
        if (::mknodat(dir.get(), name.c_str(), type | 0600,
                      makedev(info.dev_major, info.dev_minor)) != 0)
          return Error::Sys(errno, "mknod");
        UniqueFd n(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!n.valid()) return Error::Sys(errno, "open node");
        return PathMetadata(n.get(), e);
      }
    }
    return Ok();
  }

  // Owner, mode, xattrs and mtime through an open fd of a file or directory.
  Status Metadata(int fd, const std::string& rel, archive_entry* e, bool is_dir) {
    if (::fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) != 0)
      return Error::Sys(errno, "chown");
    // After chown, which clears setuid/setgid.
    if (::fchmod(fd, archive_entry_perm(e) & 07777) != 0) return Error::Sys(errno, "chmod");
    archive_entry_xattr_reset(e);
    const char* key;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
      if (::fsetxattr(fd, key, value, size, 0) != 0)
        return Error::Sys(errno, std::string("set xattr ") + key);
    }
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    if (is_dir)
      dir_times_[rel] = {ts[0], ts[1]};
    else
      ::futimens(fd, ts);
    return Ok();
  }

  // The same for nodes (devices, fifos), which must not be opened for I/O.
  Status PathMetadata(int path_fd, archive_entry* e) {
    std::string proc = "/proc/self/fd/" + std::to_string(path_fd);
    if (::chown(proc.c_str(), archive_entry_uid(e), archive_entry_gid(e)) != 0)
      return Error::Sys(errno, "chown");
    if (::chmod(proc.c_str(), archive_entry_perm(e) & 07777) != 0)
      return Error::Sys(errno, "chmod");
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    ::utimensat(AT_FDCWD, proc.c_str(), ts, 0);
    return Ok();
  }

  TarReader reader_;
  bool whiteouts_;
  EntryPolicy policy_;
  UniqueFd root_;
  UnpackStats stats_;
  std::map<std::string, std::array<struct timespec, 2>> dir_times_;
};

}  // namespace

Result<UnpackStats> UnpackLayer(ByteSource* in, const std::string& dest) {
  ASSIGN_OR_RETURN(UniqueFd root, OpenFile(dest, O_RDONLY | O_DIRECTORY));
  Unpacker u(in, std::move(root), /*whiteouts=*/true);
  return u.Run();
}

Result<UnpackStats> UnpackTarAt(ByteSource* in, int dirfd) {
  int fd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return Error::Sys(errno, "dup");
  Unpacker u(in, UniqueFd(fd), /*whiteouts=*/false);
  return u.Run();
}

}  // namespace kiln
