#include "image/exporter.h"

#include <archive.h>
#include <archive_entry.h>

#include <set>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/ids.h"
#include "oci/image_spec.h"
#include "oci/media_types.h"

namespace kiln {
namespace {

constexpr size_t kBuf = 1 << 17;

struct WriteState {
  const ByteSink* sink;
  Error error{ErrorCode::kInternal, ""};
  bool failed = false;
};

la_ssize_t WriteCallback(struct archive* a, void* p, const void* buf, size_t n) {
  auto* s = static_cast<WriteState*>(p);
  Status st = (*s->sink)(buf, n);
  if (!st) {
    s->error = std::move(st).error();
    s->failed = true;
    archive_set_error(a, EIO, "%s", s->error.message().c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

class LayoutTarWriter {
 public:
  LayoutTarWriter(const ByteSink& sink, int64_t mtime) : a_(archive_write_new()), mtime_(mtime) {
    state_.sink = &sink;
    archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_per_block(a_, 10240);
  }
  ~LayoutTarWriter() { archive_write_free(a_); }

  Status Open() {
    if (archive_write_open(a_, &state_, nullptr, WriteCallback, nullptr) != ARCHIVE_OK)
      return Fail("open");
    return Ok();
  }
  Status Dir(const std::string& path) { return Header(path, AE_IFDIR, 0755, 0); }
  Status Bytes(const std::string& path, std::string_view data) {
    TRY(Header(path, AE_IFREG, 0644, data.size()));
    if (!data.empty() && archive_write_data(a_, data.data(), data.size()) < 0) return Fail(path);
    return Ok();
  }
  Status File(const std::string& path, int fd, uint64_t size) {
    TRY(Header(path, AE_IFREG, 0644, size));
    std::unique_ptr<char[]> buf(new char[kBuf]);
    uint64_t left = size;
    while (left > 0) {
      ASSIGN_OR_RETURN(size_t n, ReadFull(fd, buf.get(), std::min<uint64_t>(kBuf, left)));
      if (n == 0) return Error::Corruption(path + " is shorter than recorded");
      if (archive_write_data(a_, buf.get(), n) < 0) return Fail(path);
      left -= n;
    }
    return Ok();
  }
  Status Close() {
    if (archive_write_close(a_) != ARCHIVE_OK) return Fail("close");
    return Ok();
  }

 private:
  Status Header(const std::string& path, unsigned type, int mode, uint64_t size) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, mtime_, 0);
    int rc = archive_write_header(a_, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) return Fail(path);
    return Ok();
  }
  Error Fail(const std::string& what) {
    if (state_.failed) return state_.error;
    const char* m = archive_error_string(a_);
    return Error(ErrorCode::kIO, "write " + what + ": " + (m ? m : "tar error"));
  }

  struct archive* a_;
  int64_t mtime_;
  WriteState state_;
};

}  // namespace

uint64_t EstimateExportSize(const ImageRecord& im) {
  uint64_t total = 4096;
  auto blob = [&](uint64_t size) { total += 1024 + (size + 511) / 512 * 512; };
  blob(im.manifest_size);
  blob(4096);  // config
  for (const auto& l : im.layers) blob(l.size);
  return total;
}

Status ExportImage(Context& ctx, const ImageRecord& im, const std::string& ref,
                   const ByteSink& sink) {
  auto lease = ctx.users.Acquire(im.id);
  oci::Descriptor md{std::string(oci::kManifest), im.manifest_digest,
                     static_cast<int64_t>(im.manifest_size)};
  md.annotations[std::string(oci::kAnnotationRefName)] = ref.empty() ? im.name : ref;
  md.annotations[std::string(oci::kAnnotationCreated)] = FormatTime(im.created_at);
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", oci::kIndex},
                          {"manifests", nlohmann::json::array({md.ToJson()})}};

  LayoutTarWriter w(sink, im.created_at);
  TRY(w.Open());
  TRY(w.Bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  TRY(w.Bytes("index.json", index.dump()));
  TRY(w.Dir("blobs"));
  TRY(w.Dir("blobs/sha256"));
  std::vector<std::string> digests = {im.manifest_digest, im.config_digest};
  for (const auto& l : im.layers) digests.push_back(l.digest);
  std::set<std::string> written;
  for (const auto& d : digests) {
    if (!written.insert(d).second) continue;  // a layer used twice is one blob
    ASSIGN_OR_RETURN(UniqueFd fd, ctx.store->OpenBlob(d));
    ASSIGN_OR_RETURN(uint64_t size, ctx.store->Size(d));
    TRY_CTX(w.File("blobs/sha256/" + DigestHex(d), fd.get(), size), "export " + im.name);
  }
  return w.Close();
}

}  // namespace kiln
