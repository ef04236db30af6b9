#include "layer/compressor.h"

#include <algorithm>
#include <thread>
#include <vector>

#include <zlib.h>
#include <zstd.h>

namespace kiln {
namespace {

constexpr size_t kBlock = 1 << 20;
constexpr int kZstdJob = 2 << 20;
constexpr size_t kWindow = 32 << 10;

int Threads(int asked) {
  if (asked > 0) return asked;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Fills buf from in until full or the end of the stream.
Result<size_t> ReadFull(ByteSource* in, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ASSIGN_OR_RETURN(size_t k, in->Read(buf + got, n - got));
    if (k == 0) break;
    got += k;
  }
  return got;
}

// One block of the parallel gzip: raw deflate primed with the window before it, ending on a
// byte boundary (sync flush) so blocks can be joined, or with the final block bit.
struct GzipBlock {
  std::vector<char> in;
  std::vector<char> dict;
  std::vector<char> out;
  bool last = false;
  int error = Z_OK;
};

// Whether a block is not worth deflating (already compressed or random data, like most large
// files in a layer): four 16 KiB samples, deflated fast, shrink by less than 2%. Such blocks are
// stored instead, at memcpy speed rather than zlib's ~30 MB/s; the choice depends only on the
// bytes, so the output stays reproducible.
bool Incompressible(const std::vector<char>& in) {
  constexpr size_t kSample = 16 << 10;
  if (in.size() < 4 * kSample) return false;
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  std::vector<Bytef> out(deflateBound(&z, kSample) + 64);
  uint64_t produced = 0;
  for (size_t i = 0; i < 4; ++i) {
    deflateReset(&z);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data())) + i * (in.size() / 4);
    z.avail_in = static_cast<uInt>(kSample);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
      deflateEnd(&z);
      return false;
    }
    produced += out.size() - z.avail_out;
  }
  deflateEnd(&z);
  return produced * 100 >= uint64_t{4} * kSample * 98;
}

void DeflateBlock(GzipBlock& b, int level) {
  z_stream z{};
  if (level > 0 && Incompressible(b.in)) level = 0;
  b.error = deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  if (b.error != Z_OK) return;
  if (!b.dict.empty())
    deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(b.dict.data()),
                         static_cast<uInt>(b.dict.size()));
  b.out.resize(deflateBound(&z, b.in.size()) + 64);
  z.next_in = reinterpret_cast<Bytef*>(b.in.data());
  z.avail_in = static_cast<uInt>(b.in.size());
  z.next_out = reinterpret_cast<Bytef*>(b.out.data());
  z.avail_out = static_cast<uInt>(b.out.size());
  int rc = deflate(&z, b.last ? Z_FINISH : Z_SYNC_FLUSH);
  if (rc != (b.last ? Z_STREAM_END : Z_OK) || z.avail_in != 0)
    b.error = rc == Z_OK ? Z_BUF_ERROR : rc;
  b.out.resize(b.out.size() - z.avail_out);
  deflateEnd(&z);
}

Status CompressGzip(ByteSource* in, int level, int threads, const CompressSink& sink) {
  // Header: no name, mtime 0 (reproducible), OS unknown.
  const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  TRY(sink(header, sizeof header));
  uLong crc = crc32(0, nullptr, 0);
  uint64_t total = 0;
  std::vector<char> window;  // the last 32 KiB of input before the next block
  std::vector<char> pending(kBlock);
  ASSIGN_OR_RETURN(size_t pending_n, ReadFull(in, pending.data(), kBlock));
  pending.resize(pending_n);
  bool done = false;
  while (!done) {
    std::vector<GzipBlock> batch(static_cast<size_t>(threads));
    size_t used = 0;
    for (; used < batch.size() && !done; ++used) {
      GzipBlock& b = batch[used];
      b.in = std::move(pending);
      b.dict = window;
      crc = crc32(crc, reinterpret_cast<const Bytef*>(b.in.data()), static_cast<uInt>(b.in.size()));
      total += b.in.size();
      size_t keep = std::min(kWindow, b.in.size());
      if (b.in.size() >= kWindow) {
        window.assign(b.in.end() - static_cast<long>(keep), b.in.end());
      } else {
        window.insert(window.end(), b.in.begin(), b.in.end());
        if (window.size() > kWindow) window.erase(window.begin(), window.end() - kWindow);
      }
      // Read ahead one block to know whether this one is the last.
      pending.assign(kBlock, 0);
      ASSIGN_OR_RETURN(size_t n, ReadFull(in, pending.data(), kBlock));
      pending.resize(n);
      if (n == 0) {
        b.last = true;
        done = true;
      }
    }
    batch.resize(used);
    if (used == 1) {
      DeflateBlock(batch[0], level);
    } else {
      std::vector<std::thread> workers;
      for (auto& b : batch) workers.emplace_back([&b, level] { DeflateBlock(b, level); });
      for (auto& w : workers) w.join();
    }
    for (auto& b : batch) {
      if (b.error != Z_OK)
        return Error::Internal("deflate failed (zlib " + std::to_string(b.error) + ")");
      TRY(sink(b.out.data(), b.out.size()));
    }
  }
  unsigned char trailer[8];
  for (int i = 0; i < 4; ++i) trailer[i] = static_cast<unsigned char>((crc >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i)
    trailer[4 + i] = static_cast<unsigned char>((total >> (8 * i)) & 0xff);
  return sink(trailer, sizeof trailer);
}

Status CompressZstd(ByteSource* in, int level, int threads, const CompressSink& sink) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return Error::Internal("ZSTD_createCCtx failed");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  // With one or more workers the output is the same whatever their number; a libzstd built
  // without threads refuses the setting and compresses on this thread (different bytes, but
  // still the same for every push from this host).
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, threads);
  // Each worker's job is 2 MiB rather than the level's default (4 windows, 8 MiB at level 3):
  // kilnd's peak memory for a zstd push falls from ~200 to ~40 MiB for 1% more output.
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_jobSize, kZstdJob);
  std::vector<char> ibuf(ZSTD_CStreamInSize() * 4), obuf(ZSTD_CStreamOutSize());
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(in, ibuf.data(), ibuf.size()));
    bool last = n < ibuf.size();
    ZSTD_inBuffer input{ibuf.data(), n, 0};
    ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer output{obuf.data(), obuf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(rem))
        return Error::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(rem));
      if (output.pos) TRY(sink(obuf.data(), output.pos));
      if (last ? rem == 0 : input.pos == input.size) break;
    }
    if (last) break;
  }
  return Ok();
}

}  // namespace

Status Compress(ByteSource* in, const CompressOptions& opts, const CompressSink& sink) {
  int threads = Threads(opts.threads);
  switch (opts.format) {
    case Compression::kGzip:
      return CompressGzip(in, opts.level < 0 ? 6 : opts.level, threads, sink);
    case Compression::kZstd:
      return CompressZstd(in, opts.level < 0 ? 3 : opts.level, threads, sink);
    case Compression::kNone:
      break;
  }
  std::vector<char> buf(kBlock);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, in->Read(buf.data(), buf.size()));
    if (n == 0) return Ok();
    TRY(sink(buf.data(), n));
  }
}

}  // namespace kiln
