// runtime: the default seccomp profile. kiln uses the containers ecosystem's default
// (/usr/share/containers/seccomp.json, Debian's golang-github-containers-common, the profile
// podman and buildah apply) and turns it into the OCI runtime-spec form for this host's
// architecture and the capability set instances get, as podman does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace kiln {

inline constexpr const char* kDefaultSeccompProfile = "/usr/share/containers/seccomp.json";

// Converts a containers/moby-format profile document to linux.seccomp of config.json.
Result<nlohmann::json> ConvertSeccompProfile(const std::string& document,
                                             const std::vector<std::string>& capabilities,
                                             const std::string& oci_arch);
Result<nlohmann::json> LoadSeccompProfile(const std::string& path,
                                          const std::vector<std::string>& capabilities);

}  // namespace kiln
