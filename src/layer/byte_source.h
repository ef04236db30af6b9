// layer: pull-based byte streams. A ByteSource yields bytes until it returns 0 (end).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <zlib.h>
#include <zstd.h>

#include "base/error.h"
#include "base/sha256.h"
#include "base/unique_fd.h"

namespace kiln {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes into buf; 0 means end of stream.
  virtual Result<size_t> Read(void* buf, size_t n) = 0;
};

class FdSource : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  Result<size_t> Read(void* buf, size_t n) override;

 private:
  int fd_;
};

// Passes bytes through while hashing them and counting them.
class HashingSource : public ByteSource {
 public:
  explicit HashingSource(ByteSource* in) : in_(in) {}
  Result<size_t> Read(void* buf, size_t n) override;
  std::string Digest() { return "sha256:" + hash_.HexDigest(); }
  uint64_t bytes() const { return bytes_; }

 private:
  ByteSource* in_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
};

enum class Compression { kNone, kGzip, kZstd };
const char* CompressionName(Compression c);

// Detects gzip or zstd from the first bytes and yields the decompressed stream. A compressed
// stream that ends early or is corrupt is a Corruption error, never a silent short read.
class DecompressingSource : public ByteSource {
 public:
  explicit DecompressingSource(ByteSource* in);
  ~DecompressingSource() override;
  Result<size_t> Read(void* buf, size_t n) override;
  // Known after the first Read.
  Compression compression() const { return compression_; }

 private:
  Status Fill();
  Result<size_t> ReadGzip(void* buf, size_t n);
  Result<size_t> ReadZstd(void* buf, size_t n);

  ByteSource* in_;
  bool detected_ = false;
  bool in_eof_ = false;
  bool stream_done_ = false;
  Compression compression_ = Compression::kNone;
  std::unique_ptr<char[]> inbuf_;
  size_t in_pos_ = 0, in_len_ = 0;
  z_stream z_{};
  bool z_init_ = false;
  ZSTD_DStream* zstd_ = nullptr;
  size_t zstd_hint_ = 1;  // 0 once a frame is complete
};

}  // namespace kiln
