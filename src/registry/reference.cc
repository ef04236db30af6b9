#include "registry/reference.h"

namespace kiln::registry {
namespace {

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool ValidDigest(std::string_view d) {
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) return false;
  for (char c : d.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool ValidHost(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  for (char c : h)
    if (!(IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']'))
      return false;
  return true;
}

}  // namespace

std::string Reference::ApiHost() const {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

bool Reference::IsLoopback() const {
  std::string host = registry;
  if (host.starts_with("[")) {
    auto end = host.find(']');
    host = end == std::string::npos ? host : host.substr(1, end - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string Reference::String() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<Reference> ParseReference(std::string_view text, bool require_registry) {
  auto bad = [&](std::string_view why) {
    return Error::InvalidArgument("invalid image reference \"" + std::string(text) +
                                  "\": " + std::string(why));
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 512) return bad("too long");
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!ValidDigest(ref.digest)) return bad("digest must be sha256: and 64 lowercase hex digits");
  }
  // The tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag))
      return bad(
          "tag must be 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-'");
  }
  auto first_slash = rest.find('/');
  std::string_view first = rest.substr(0, first_slash);
  bool has_host =
      first_slash != std::string_view::npos &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost" || first.starts_with("["));
  if (has_host) {
    if (!ValidHost(first)) return bad("registry host \"" + std::string(first) + "\" is not valid");
    ref.registry = std::string(first);
    rest = rest.substr(first_slash + 1);
  } else {
    if (require_registry)
      return bad("name the registry, e.g. localhost:5000/" + std::string(rest) +
                 " or registry.example.com/" + std::string(rest));
    ref.registry = "docker.io";
  }
  if (ref.registry == "docker.io" && rest.find('/') == std::string_view::npos)
    ref.repository = "library/" + std::string(rest);
  else
    ref.repository = std::string(rest);
  if (ref.repository.empty() || ref.repository.size() > 255)
    return bad("repository is empty or too long");
  for (size_t i = 0; i <= ref.repository.size();) {
    size_t j = ref.repository.find('/', i);
    if (j == std::string::npos) j = ref.repository.size();
    if (!ValidComponent(std::string_view(ref.repository).substr(i, j - i)))
      return bad(
          "repository components are lowercase letters and digits joined by '.', '_' or '-'");
    i = j + 1;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace kiln::registry
