// Fuzzes the layer reader: decompression (gzip/zstd/plain), tar parsing, and the entry policy
// that decides whether an entry is safe to unpack. Input: the bytes of a layer blob.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "layer/tar_reader.h"
#include "testing/test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::testing::StringSource src(std::string(reinterpret_cast<const char*>(data), size));
  // Every path the scan lets through is relative and has no ".." component.
  auto scan = kiln::ScanLayer(&src, [](const std::string& path) {
    if (!path.empty() && path.front() == '/') __builtin_trap();
    std::string_view p = path;
    while (!p.empty()) {
      size_t slash = p.find('/');
      if (p.substr(0, slash) == "..") __builtin_trap();
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  });
  (void)scan;
  return 0;
}
