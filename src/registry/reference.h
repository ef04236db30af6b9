// registry: image references as users write them, "host[:port]/repo/path[:tag][@sha256:...]".
//
// The rules are the distribution spec's: the first component names the registry when it has a
// '.' or ':' or is "localhost"; otherwise the registry is Docker Hub, whose single-component
// repositories live under "library/". Repository components are lowercase alphanumerics joined
// by '.', '_', '__' or runs of '-'.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace kiln::registry {

struct Reference {
  std::string registry;    // as written, e.g. "localhost:5000"; "docker.io" for Docker Hub
  std::string repository;  // e.g. "team/web"
  std::string tag;         // empty when only a digest was given
  std::string digest;      // "sha256:<hex>" or empty

  // What the API calls name the manifest by: the digest when given, else the tag.
  std::string ManifestRef() const { return digest.empty() ? tag : digest; }
  // The host the API lives on ("registry-1.docker.io" for Docker Hub).
  std::string ApiHost() const;
  // localhost, 127.0.0.0/8 or [::1], with or without a port.
  bool IsLoopback() const;
  std::string String() const;
};

// Parses a reference. A missing tag means "latest" unless a digest is given. With
// require_registry, a reference without an explicit registry host is refused (push never
// guesses where an image should go).
Result<Reference> ParseReference(std::string_view text, bool require_registry = false);

}  // namespace kiln::registry
