// registry: the pieces of registry authentication that are pure parsing: WWW-Authenticate
// challenges (RFC 7235, as registries send them) and base64 for Basic credentials.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace kiln::registry {

// What the user gave kilnd to log in with. Empty means anonymous.
struct Credentials {
  std::string username;
  std::string password;  // or a registry token, when username is "<token>"
  bool empty() const { return username.empty() && password.empty(); }
};

struct Challenge {
  std::string scheme;                         // lowercased: "basic", "bearer"
  std::map<std::string, std::string> params;  // keys lowercased: realm, service, scope, error
};

// Parses one WWW-Authenticate header value, which may hold several challenges:
//   Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"
Result<std::vector<Challenge>> ParseChallenges(std::string_view header);

std::string Base64Encode(std::string_view in);
Result<std::string> Base64Decode(std::string_view in);

}  // namespace kiln::registry
