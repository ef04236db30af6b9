// layer: reading tar streams (plain, gzip or zstd) through libarchive, with kiln's own
// decompression in front so the uncompressed stream can be hashed (the OCI diff_id).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/error.h"
#include "layer/byte_source.h"
#include "layer/entry_policy.h"

namespace kiln {

// One pass over a tar stream. Next() yields entries; entry data is read with ReadData() or
// skipped. Finish() drains the stream so the hashes cover every byte.
class TarReader {
 public:
  explicit TarReader(ByteSource* raw);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The next entry, or nullptr at the end of the archive.
  Result<archive_entry*> Next();
  Result<size_t> ReadData(void* buf, size_t n);
  // The next data block of the entry and its offset in the file; size 0 at the end. Sparse
  // entries come as blocks with gaps between them (the holes).
  struct Block {
    const void* data = nullptr;
    size_t size = 0;
    int64_t offset = 0;
  };
  Result<Block> ReadBlock();
  // Reads to the end of the underlying stream. Returns the digests of the raw (as stored) and the
  // decompressed bytes.
  Status Finish();

  std::string raw_digest() { return raw_.Digest(); }
  std::string diff_id() { return plain_.Digest(); }
  uint64_t raw_size() const { return raw_.bytes(); }
  uint64_t plain_size() const { return plain_.bytes(); }
  Compression compression() const { return decompress_.compression(); }

 private:
  static la_ssize_t ReadCallback(struct archive*, void* self, const void** buf);
  Error ArchiveError(std::string_view what);

  HashingSource raw_;
  DecompressingSource decompress_;
  HashingSource plain_;
  struct archive* a_;
  std::unique_ptr<char[]> buf_;
  Error pending_{ErrorCode::kInternal,
                 ""};  // an error from the source, reported instead of libarchive's
  bool has_pending_ = false;
  bool opened_ = false;
  int entries_ = 0;
};

// Describes an entry for the policy.
TarEntryInfo DescribeEntry(archive_entry* e);

struct LayerScan {
  std::string digest;   // of the stream as given
  std::string diff_id;  // of the uncompressed tar
  Compression compression = Compression::kNone;
  uint64_t size = 0;        // bytes as given
  uint64_t plain_size = 0;  // uncompressed bytes
  uint64_t entries = 0;
};

// Reads a whole layer (or rootfs) tar stream, checking every entry against EntryPolicy.
// InvalidArgument for an unsafe entry, Corruption for a damaged or truncated stream. on_entry,
// when given, sees each normalized entry path.
Result<LayerScan> ScanLayer(ByteSource* in,
                            const std::function<void(const std::string&)>& on_entry = nullptr);

}  // namespace kiln
