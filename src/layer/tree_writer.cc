#include "layer/tree_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "base/fs.h"
#include "layer/byte_source.h"
#include "layer/entry_policy.h"
#include "layer/tar_reader.h"

namespace kiln {
namespace {

constexpr size_t kBuf = 1 << 17;

la_ssize_t SinkWrite(struct archive* a, void* p, const void* buf, size_t n);

class TreeTarWriter {
 public:
  TreeTarWriter(const std::string& root, const TarSink& sink, const TreeWriteOptions& opts)
      : root_(root),
        sink_(sink),
        opts_(opts),
        a_(archive_write_new()),
        disk_(archive_read_disk_new()),
        links_(archive_entry_linkresolver_new()),
        buf_(new char[kBuf]) {
    archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_per_block(a_, 10240);
    archive_read_disk_set_behavior(disk_, ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
    archive_entry_linkresolver_set_strategy(links_, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
  }
  ~TreeTarWriter() {
    archive_entry_linkresolver_free(links_);
    archive_read_free(disk_);
    archive_write_free(a_);
  }

  // The whole tree below root_ (name empty), or the one entry name in root_ and what is below it.
  Result<TreeWriteStats> Run(const std::string& name = "") {
    if (archive_write_open(a_, this, nullptr, SinkWrite, nullptr) != ARCHIVE_OK)
      return Fail("open");
    TRY(name.empty() ? Walk("") : Add(name));
    if (archive_write_close(a_) != ARCHIVE_OK) return Fail("finish archive");
    return stats_;
  }

 private:
  Status Walk(const std::string& rel) {
    std::string abs = rel.empty() ? root_ : JoinPath(root_, rel);
    ASSIGN_OR_RETURN(auto names, ListDir(abs));
    for (const auto& name : names) {
      std::string child = rel.empty() ? name : rel + "/" + name;
      TRY(Add(child));
    }
    return Ok();
  }

  Status Add(const std::string& rel) {
    if (opts_.exclude.count(rel)) return Ok();
    std::string abs = JoinPath(root_, rel);
    ASSIGN_OR_RETURN(struct stat st, Lstat(abs));
    if (S_ISSOCK(st.st_mode)) {
      ++stats_.skipped_sockets;
      return Ok();
    }
    if (opts_.overlay_upper && S_ISCHR(st.st_mode) && st.st_rdev == 0) return Whiteout(rel, st);
    archive_entry* e = archive_entry_new();
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> guard(e, archive_entry_free);
    archive_entry_copy_sourcepath(e, abs.c_str());
    UniqueFd fd;
    if (S_ISREG(st.st_mode)) {
      ASSIGN_OR_RETURN(fd, OpenFile(abs, O_RDONLY | O_NOFOLLOW));
    }
    if (archive_read_disk_entry_from_file(disk_, e, fd.valid() ? fd.get() : -1, &st) != ARCHIVE_OK)
      return Error(ErrorCode::kIO, "read " + abs + ": " + DiskError());
    archive_entry_set_pathname(e, rel.c_str());
    // Sparse files keep their map: the pax writer takes the whole stream and skips the holes.
    bool opaque = false;
    if (opts_.overlay_upper) opaque = DropOverlayXattrs(e);
    archive_entry* sparse = nullptr;
    archive_entry_linkify(links_, &e, &sparse);
    if (e != nullptr) {
      if (archive_write_header(a_, e) < ARCHIVE_WARN) return Fail("write header for " + rel);
      ++stats_.entries;
      if (fd.valid() && archive_entry_size(e) > 0) {
        // Reading the metadata may have probed holes with lseek; data starts at 0.
        if (::lseek(fd.get(), 0, SEEK_SET) != 0) return Error::Sys(errno, "seek " + abs);
        TRY(CopyData(fd.get(), abs));
      }
    }
    if (opaque) TRY(Marker(rel + "/.wh..wh..opq", st));
    if (S_ISDIR(st.st_mode)) TRY(Walk(rel));
    return Ok();
  }

  // An overlay whiteout becomes the OCI ".wh.NAME" marker next to it.
  Status Whiteout(const std::string& rel, const struct stat& st) {
    std::string dir = rel.find('/') == std::string::npos ? "" : Dirname(rel) + "/";
    return Marker(dir + ".wh." + Basename(rel), st);
  }

  Status Marker(const std::string& path, const struct stat& st) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0);
    archive_entry_set_size(e, 0);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    int rc = archive_write_header(a_, e);
    archive_entry_free(e);
    if (rc < ARCHIVE_WARN) return Fail("write " + path);
    ++stats_.whiteouts;
    ++stats_.entries;
    return Ok();
  }

  // Removes trusted.overlay.* xattrs (overlay's own bookkeeping); true when the dir was opaque.
  static bool DropOverlayXattrs(archive_entry* e) {
    std::vector<std::pair<std::string, std::string>> keep;
    bool opaque = false;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      std::string n = name;
      if (n.starts_with("trusted.overlay.")) {
        if (n == "trusted.overlay.opaque" && size >= 1 && static_cast<const char*>(value)[0] == 'y')
          opaque = true;
        continue;
      }
      keep.emplace_back(n, std::string(static_cast<const char*>(value), size));
    }
    archive_entry_xattr_clear(e);
    for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
    return opaque;
  }

 public:
  Status Sink(const void* buf, size_t n) { return sink_(buf, n); }
  Error sink_error_{ErrorCode::kInternal, ""};
  bool sink_failed_ = false;

 private:
  Status CopyData(int fd, const std::string& abs) {
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, ReadFull(fd, buf_.get(), kBuf));
      if (n == 0) return Ok();
      if (archive_write_data(a_, buf_.get(), n) < 0) return Fail("write " + abs);
      stats_.bytes += n;
    }
  }

  std::string DiskError() {
    const char* m = archive_error_string(disk_);
    return m ? m : "unknown error";
  }
  Error Fail(const std::string& what) {
    if (sink_failed_) return sink_error_;
    const char* m = archive_error_string(a_);
    return Error(ErrorCode::kIO, what + ": " + (m ? m : "tar error"));
  }

  std::string root_;
  const TarSink& sink_;
  const TreeWriteOptions& opts_;
  struct archive* a_;
  struct archive* disk_;
  archive_entry_linkresolver* links_;
  std::unique_ptr<char[]> buf_;
  TreeWriteStats stats_;
};

la_ssize_t SinkWrite(struct archive* a, void* p, const void* buf, size_t n) {
  auto* w = static_cast<TreeTarWriter*>(p);
  Status st = w->Sink(buf, n);
  if (!st) {
    w->sink_error_ = std::move(st).error();
    w->sink_failed_ = true;
    archive_set_error(a, EIO, "%s", w->sink_error_.message().c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

}  // namespace

Result<TreeWriteStats> WriteTreeAsTar(const std::string& dir, const TarSink& sink,
                                      const TreeWriteOptions& options) {
  ASSIGN_OR_RETURN(struct stat st, Lstat(dir));
  if (!S_ISDIR(st.st_mode)) return Error::InvalidArgument(dir + " is not a directory");
  TreeTarWriter w(dir, sink, options);
  return w.Run();
}

Result<TreeWriteStats> WriteEntryAsTar(const std::string& dir, const std::string& name,
                                       const TarSink& sink) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return Error::InvalidArgument("invalid entry name \"" + name + "\"");
  TreeWriteOptions none;
  TreeTarWriter w(dir, sink, none);
  return w.Run(name);
}

Result<TreeWriteStats> WriteTreeAsTar(const std::string& dir, int fd) {
  return WriteTreeAsTar(dir, [fd](const void* d, size_t n) { return WriteFull(fd, d, n); });
}

Status ExtractPlainTree(int in_fd, const std::string& dir) {
  FdSource src(in_fd);
  TarReader reader(&src);
  EntryPolicy policy;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  for (;;) {
    ASSIGN_OR_RETURN(archive_entry * e, reader.Next());
    if (e == nullptr) break;
    TarEntryInfo info = DescribeEntry(e);
    ASSIGN_OR_RETURN(std::string rel, policy.Check(info));
    if (rel.empty()) continue;
    std::string path = JoinPath(dir, rel);
    if (info.type == EntryType::kDir) {
      TRY(MakeDirs(path, 0755));
      continue;
    }
    if (info.type != EntryType::kFile)
      return Error::InvalidArgument("unexpected entry \"" + info.path + "\" in an image layout");
    TRY(MakeDirs(Dirname(path), 0755));
    // O_NOFOLLOW and O_EXCL: never write through a link that was already in dir.
    ASSIGN_OR_RETURN(UniqueFd out, OpenFile(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644));
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, reader.ReadData(buf.get(), kBuf));
      if (n == 0) break;
      TRY_CTX(WriteFull(out.get(), buf.get(), n), path);
    }
  }
  return reader.Finish();
}

}  // namespace kiln
