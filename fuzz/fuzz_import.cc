// Fuzzes a whole import: the upload is any bytes (rootfs tarball, OCI layout tar, docker-archive
// tar). Everything the importer reads from it - archive listing, index.json, manifest.json,
// manifests, configs, layers - is outside input. A success must give an image that verifies.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/fs.h"
#include "image/image_ops.h"
#include "image/importer.h"
#include "testing/test_util.h"

namespace {

char root_dir[] = "/tmp/kiln-fuzz-import-XXXXXX";

kiln::Context* Ctx() {
  static kiln::Context* ctx = [] {
    if (!::mkdtemp(root_dir)) std::abort();
    // libFuzzer ends a timed run with exit(): take the scratch root with it.
    std::atexit([] { (void)kiln::RemoveAll(root_dir); });
    auto c = kiln::Context::Open(root_dir);
    if (!c) std::abort();
    return c->release();
  }();
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int n = 0;
  kiln::Context& ctx = *Ctx();
  kiln::testing::StringSource src(std::string(reinterpret_cast<const char*>(data), size));
  kiln::ImportRequest req;
  req.name = "fuzz-" + std::to_string(++n);
  auto im = kiln::ImportImage(ctx, &src, req);
  if (im) {
    auto report = kiln::VerifyImages(ctx, im->id);
    if (report && !report->problems.empty()) __builtin_trap();
    (void)kiln::RemoveImage(ctx, im->id);
  }
  if (n % 64 == 0) (void)kiln::CollectGarbage(ctx);
  return 0;
}
