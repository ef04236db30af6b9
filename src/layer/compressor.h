// layer: compressing a layer for a registry push, gzip or zstd, on several threads.
//
// The output depends only on the input and the level, never on the number of threads, so the
// same layer pushed twice gets the same digest (registries then skip it). gzip is written the
// way pigz does it: the input is cut into 1 MiB blocks that are deflated in parallel, each primed
// with the 32 KiB before it, and joined into one gzip member. zstd uses libzstd's own workers.
#pragma once

#include <cstdint>
#include <functional>

#include "base/error.h"
#include "layer/byte_source.h"

namespace kiln {

using CompressSink = std::function<Status(const void* data, size_t n)>;

struct CompressOptions {
  Compression format = Compression::kGzip;
  int level = -1;   // -1: the format's default (gzip 6, zstd 3)
  int threads = 0;  // 0: one per CPU
};

// Compresses everything read from `in` (to its end) into sink.
Status Compress(ByteSource* in, const CompressOptions& opts, const CompressSink& sink);

}  // namespace kiln
