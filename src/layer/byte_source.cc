#include "layer/byte_source.h"

#include <unistd.h>

#include <cstring>

namespace kiln {
namespace {
constexpr size_t kInBuf = 1 << 17;
}

Result<size_t> FdSource::Read(void* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd_, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return Error::Sys(errno, "read");
  }
}

Result<size_t> HashingSource::Read(void* buf, size_t n) {
  ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
  hash_.Update(buf, got);
  bytes_ += got;
  return got;
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "?";
}

DecompressingSource::DecompressingSource(ByteSource* in) : in_(in), inbuf_(new char[kInBuf]) {}

DecompressingSource::~DecompressingSource() {
  if (z_init_) inflateEnd(&z_);
  if (zstd_) ZSTD_freeDStream(zstd_);
}

Status DecompressingSource::Fill() {
  if (in_pos_ < in_len_ || in_eof_) return Ok();
  ASSIGN_OR_RETURN(size_t got, in_->Read(inbuf_.get(), kInBuf));
  in_pos_ = 0;
  in_len_ = got;
  if (got == 0) in_eof_ = true;
  return Ok();
}

Result<size_t> DecompressingSource::Read(void* buf, size_t n) {
  if (!detected_) {
    // Read until we have 4 bytes or the input ends, then look at the magic.
    while (in_len_ < 4 && !in_eof_) {
      ASSIGN_OR_RETURN(size_t got, in_->Read(inbuf_.get() + in_len_, kInBuf - in_len_));
      if (got == 0) in_eof_ = true;
      in_len_ += got;
    }
    const auto* m = reinterpret_cast<const unsigned char*>(inbuf_.get());
    if (in_len_ >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
      compression_ = Compression::kGzip;
      if (inflateInit2(&z_, 15 + 16) != Z_OK) return Error::Internal("zlib init failed");
      z_init_ = true;
    } else if (in_len_ >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
      compression_ = Compression::kZstd;
      zstd_ = ZSTD_createDStream();
      if (zstd_ == nullptr) return Error::Internal("zstd init failed");
      ZSTD_initDStream(zstd_);
    }
    detected_ = true;
  }
  switch (compression_) {
    case Compression::kGzip:
      return ReadGzip(buf, n);
    case Compression::kZstd:
      return ReadZstd(buf, n);
    case Compression::kNone:
      break;
  }
  if (in_pos_ < in_len_) {
    size_t k = std::min(n, in_len_ - in_pos_);
    std::memcpy(buf, inbuf_.get() + in_pos_, k);
    in_pos_ += k;
    return k;
  }
  if (in_eof_) return size_t{0};
  return in_->Read(buf, n);
}

Result<size_t> DecompressingSource::ReadGzip(void* buf, size_t n) {
  while (!stream_done_) {
    TRY(Fill());
    if (in_pos_ == in_len_ && in_eof_) return Error::Corruption("gzip stream ends early");
    z_.next_in = reinterpret_cast<Bytef*>(inbuf_.get() + in_pos_);
    z_.avail_in = static_cast<uInt>(in_len_ - in_pos_);
    z_.next_out = static_cast<Bytef*>(buf);
    z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    int rc = inflate(&z_, Z_NO_FLUSH);
    in_pos_ = in_len_ - z_.avail_in;
    size_t produced = std::min<size_t>(n, 1u << 30) - z_.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are legal; continue with the next one if more input follows.
      TRY(Fill());
      if (in_pos_ < in_len_) {
        inflateReset(&z_);
      } else {
        stream_done_ = true;
      }
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Error::Corruption(std::string("gzip: ") + (z_.msg ? z_.msg : "corrupt data"));
    }
    if (produced > 0) return produced;
  }
  return size_t{0};
}

Result<size_t> DecompressingSource::ReadZstd(void* buf, size_t n) {
  for (;;) {
    TRY(Fill());
    if (in_pos_ == in_len_ && in_eof_) {
      if (zstd_hint_ != 0) return Error::Corruption("zstd stream ends early");
      return size_t{0};
    }
    ZSTD_inBuffer in{inbuf_.get(), in_len_, in_pos_};
    ZSTD_outBuffer out{buf, n, 0};
    size_t hint = ZSTD_decompressStream(zstd_, &out, &in);
    if (ZSTD_isError(hint))
      return Error::Corruption(std::string("zstd: ") + ZSTD_getErrorName(hint));
    in_pos_ = in.pos;
    zstd_hint_ = hint;
    if (out.pos > 0) return out.pos;
    if (hint == 0 && in_pos_ == in_len_) {
      TRY(Fill());
      if (in_eof_ && in_pos_ == in_len_) return size_t{0};
    }
  }
}

}  // namespace kiln
