// image: operations on stored images other than import and export: describe, tag, remove,
// verify at rest, garbage-collect unreferenced blobs, and recover after a crash.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "context/context.h"

namespace kiln {

// The API's view of an image. With details, the config document and layer list are included.
nlohmann::json ImageToJson(Context& ctx, const ImageRecord& im, bool details);

Result<ImageRecord> TagImage(Context& ctx, const std::string& ref,
                             const std::map<std::string, std::string>& set,
                             const std::vector<std::string>& remove);

// Refused (Busy) while an operation reads the image or it is still pending.
Result<ImageRecord> RemoveImage(Context& ctx, const std::string& ref);

struct VerifyProblem {
  std::string image;  // id
  std::string name;
  std::string digest;
  std::string problem;
};
struct VerifyReport {
  int images = 0;
  int blobs = 0;
  std::vector<VerifyProblem> problems;
};
// Re-hashes every blob of the image (or of every available image when ref is empty).
Result<VerifyReport> VerifyImages(Context& ctx, const std::string& ref);

struct GcReport {
  int removed = 0;
  uint64_t bytes = 0;
  int unpacked_removed = 0;  // unpacked layer dirs no image uses
  int partials_removed = 0;  // unfinished downloads
};
// With drop_partials, unfinished downloads no pull is working on go too (they would let a
// pull resume; start-up keeps them for that).
Result<GcReport> CollectGarbage(Context& ctx, bool drop_partials = true);

// Start-up: drops records an interrupted operation left pending, empties tmp/ and collects the
// blobs nothing refers to. Must run before the API serves.
Status RecoverAfterCrash(Context& ctx);

}  // namespace kiln
