#include "layer/tar_reader.h"

namespace kiln {
namespace {
constexpr size_t kBuf = 1 << 17;
}

TarReader::TarReader(ByteSource* raw)
    : raw_(raw),
      decompress_(&raw_),
      plain_(&decompress_),
      a_(archive_read_new()),
      buf_(new char[kBuf]) {
  archive_read_support_format_tar(a_);
  archive_read_support_format_gnutar(a_);
}

TarReader::~TarReader() {
  archive_read_free(a_);
}

la_ssize_t TarReader::ReadCallback(struct archive* a, void* self_ptr, const void** buf) {
  auto* self = static_cast<TarReader*>(self_ptr);
  auto got = self->plain_.Read(self->buf_.get(), kBuf);
  if (!got) {
    self->pending_ = std::move(got).error();
    self->has_pending_ = true;
    archive_set_error(a, EIO, "%s", self->pending_.message().c_str());
    return -1;
  }
  *buf = self->buf_.get();
  return static_cast<la_ssize_t>(*got);
}

Error TarReader::ArchiveError(std::string_view what) {
  if (has_pending_) return pending_;
  const char* msg = archive_error_string(a_);
  return Error::Corruption(std::string(what) + ": " + (msg ? msg : "damaged archive"));
}

Result<archive_entry*> TarReader::Next() {
  if (!opened_) {
    if (archive_read_open(a_, this, nullptr, &TarReader::ReadCallback, nullptr) != ARCHIVE_OK)
      return ArchiveError("not a tar archive");
    opened_ = true;
  }
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(a_, &e);
  if (rc == ARCHIVE_EOF) {
    if (entries_ == 0) return Error::Corruption("archive is empty or not a tar archive");
    return nullptr;
  }
  if (rc == ARCHIVE_WARN) rc = ARCHIVE_OK;
  if (rc != ARCHIVE_OK)
    return ArchiveError(entries_ == 0 ? "not a tar archive" : "damaged archive");
  ++entries_;
  return e;
}

Result<TarReader::Block> TarReader::ReadBlock() {
  Block b;
  la_int64_t off = 0;
  int rc = archive_read_data_block(a_, &b.data, &b.size, &off);
  if (rc == ARCHIVE_EOF) return Block{};
  if (rc < ARCHIVE_WARN) return ArchiveError("damaged archive");
  b.offset = off;
  return b;
}

Result<size_t> TarReader::ReadData(void* buf, size_t n) {
  la_ssize_t r = archive_read_data(a_, buf, n);
  if (r < 0) return ArchiveError("damaged archive");
  return static_cast<size_t>(r);
}

Status TarReader::Finish() {
  // libarchive stops at the end-of-archive marker; hash whatever padding follows.
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, plain_.Read(buf_.get(), kBuf));
    if (n == 0) break;
  }
  return Ok();
}

TarEntryInfo DescribeEntry(archive_entry* e) {
  TarEntryInfo info;
  const char* p = archive_entry_pathname(e);
  info.path = p ? p : "";
  if (const char* h = archive_entry_hardlink(e)) {
    info.type = EntryType::kHardlink;
    info.link_target = h;
    return info;
  }
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR:
      info.type = EntryType::kDir;
      break;
    case AE_IFLNK:
      info.type = EntryType::kSymlink;
      if (const char* t = archive_entry_symlink(e)) info.link_target = t;
      break;
    case AE_IFCHR:
      info.type = EntryType::kChar;
      break;
    case AE_IFBLK:
      info.type = EntryType::kBlock;
      break;
    case AE_IFIFO:
      info.type = EntryType::kFifo;
      break;
    default:
      info.type = EntryType::kFile;
      break;
  }
  info.dev_major = archive_entry_rdevmajor(e);
  info.dev_minor = archive_entry_rdevminor(e);
  return info;
}

Result<LayerScan> ScanLayer(ByteSource* in,
                            const std::function<void(const std::string&)>& on_entry) {
  TarReader reader(in);
  EntryPolicy policy;
  LayerScan scan;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  for (;;) {
    ASSIGN_OR_RETURN(archive_entry * e, reader.Next());
    if (e == nullptr) break;
    TarEntryInfo info = DescribeEntry(e);
    unsigned type = archive_entry_filetype(e);
    if (type == AE_IFSOCK)
      return Error::InvalidArgument("archive entry \"" + info.path +
                                    "\": sockets cannot be stored in images");
    if (info.type == EntryType::kFile && type != AE_IFREG && archive_entry_hardlink(e) == nullptr)
      return Error::InvalidArgument("archive entry \"" + info.path + "\": unsupported entry type");
    ASSIGN_OR_RETURN(std::string path, policy.Check(info));
    if (on_entry) on_entry(path);
    ++scan.entries;
    // Read the data so truncation inside an entry is noticed and the hash covers it.
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, reader.ReadData(buf.get(), kBuf));
      if (n == 0) break;
    }
  }
  TRY(reader.Finish());
  scan.digest = reader.raw_digest();
  scan.diff_id = reader.diff_id();
  scan.compression = reader.compression();
  scan.size = reader.raw_size();
  scan.plain_size = reader.plain_size();
  return scan;
}

}  // namespace kiln
