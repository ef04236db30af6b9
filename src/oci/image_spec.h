// oci: image-spec documents (descriptor, manifest, index, config) parsed with strict validation.
// Everything here comes from outside (archives, registries), so every field is checked and every
// failure names the document and the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace kiln::oci {

struct Platform {
  std::string architecture;
  std::string os;
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;

  nlohmann::json ToJson() const;
};

struct Manifest {
  std::string media_type;  // may be empty in OCI manifests; then it is OCI
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::vector<Descriptor> manifests;
};

struct ImageConfig {
  std::string architecture;
  std::string os;
  std::vector<std::string> diff_ids;
  nlohmann::json raw;  // the whole document, for inspect
};

Result<Descriptor> ParseDescriptor(const nlohmann::json& j, std::string_view where);
Result<Manifest> ParseManifest(std::string_view data);
Result<Index> ParseIndex(std::string_view data);
Result<ImageConfig> ParseConfig(std::string_view data);

// The platform kiln runs on, in OCI terms ("amd64", "arm64", ...).
std::string HostArchitecture();

// Serialized manifest, deterministic (sorted keys, no whitespace) so its digest is stable.
std::string SerializeManifest(const Descriptor& config, const std::vector<Descriptor>& layers,
                              const std::map<std::string, std::string>& annotations);

}  // namespace kiln::oci
