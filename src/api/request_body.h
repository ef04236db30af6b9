// api: request bodies. Every field is read with its type checked, so a wrong type is a 400 that
// names the field, never an exception out of a handler; the decoders turn each route's body into
// the request its module takes. They are pure functions of their input (fuzz/fuzz_api_bodies
// drives them); checks that need the catalog stay in the routes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "image/capture.h"
#include "instance/instance_manager.h"
#include "registry/transfer.h"
#include "runtime/oci_runtime.h"

namespace kiln {

class Body {
 public:
  // "" is an empty object; anything else must be one JSON object.
  static Result<Body> Parse(std::string_view text);
  explicit Body(nlohmann::json j) : j_(std::move(j)) {}

  bool Has(const char* key) const { return j_.contains(key); }
  // A missing field is "" (or an error when required).
  Result<std::string> String(const char* key, bool required = false) const;
  Result<bool> Bool(const char* key, bool fallback = false) const;
  // An integer in [min, max]; fallback when missing.
  Result<int64_t> Int(const char* key, int64_t fallback, int64_t min, int64_t max) const;
  Result<std::vector<std::string>> StringList(const char* key) const;
  Result<std::map<std::string, std::string>> StringMap(const char* key) const;
  // A nested object; empty when missing.
  Result<Body> Object(const char* key) const;

 private:
  nlohmann::json j_;
};

// POST /v1/instances
Result<LaunchRequest> DecodeLaunch(std::string_view body);

// POST /v1/images: from an instance, or from a snapshot when `snapshot` is set.
struct CreateImageBody {
  CreateImageRequest request;
  std::string snapshot;
};
Result<CreateImageBody> DecodeCreateImage(std::string_view body);

// POST /v1/images/{id}/tags
struct TagsBody {
  std::map<std::string, std::string> set;
  std::vector<std::string> remove;
};
Result<TagsBody> DecodeTags(std::string_view body);

// POST /v1/images/verify: the image to verify, "" for all.
Result<std::string> DecodeVerify(std::string_view body);

// POST /v1/instances/{id}/snapshots
struct SnapshotBody {
  std::string name;
  Consistency mode = Consistency::kFreeze;
};
Result<SnapshotBody> DecodeSnapshot(std::string_view body);

// POST /v1/instances/{id}/restore: the snapshot to restore.
Result<std::string> DecodeRestore(std::string_view body);

// The `spec` parameter of POST /v1/instances/{id}/exec.
Result<ExecOptions> DecodeExecSpec(std::string_view spec);

// The `cmd` parameter of kiln shell's upgrade: a non-empty JSON array of strings.
Result<std::vector<std::string>> DecodeCommand(std::string_view cmd);

// POST /v1/images/pull, /v1/images/{id}/push (image left empty), /v1/registry/login.
Result<registry::PullRequest> DecodePull(std::string_view body);
Result<registry::PushRequest> DecodePush(std::string_view body);
struct LoginBody {
  std::string registry;
  registry::RegistryAccess access;
};
Result<LoginBody> DecodeLogin(std::string_view body);

}  // namespace kiln
