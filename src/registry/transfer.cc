#include "registry/transfer.h"

#include "base/sha256.h"
#include "registry/reference.h"

namespace kiln::registry {

std::string ShortDigest(const std::string& digest) {
  auto colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

Status EventGate::Deliver(const TransferEvent& e) {
  // mu_ held
  if (cancelled_) return *cancelled_;
  Status st = fn_ ? fn_(e) : Ok();
  if (!st) cancelled_ = st.error();
  return st;
}

Status EventGate::Changed(const std::string& digest, const std::string& status, uint64_t done,
                          uint64_t total) {
  std::lock_guard lock(mu_);
  last_[digest] = std::chrono::steady_clock::now();
  return Deliver({ShortDigest(digest), status, done, total});
}

Status EventGate::Progress(const std::string& digest, const std::string& status, uint64_t done,
                           uint64_t total) {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  auto& last = last_[digest];
  if (done < total && now - last < std::chrono::milliseconds(200))
    return cancelled_ ? Status(*cancelled_) : Ok();
  last = now;
  return Deliver({ShortDigest(digest), status, done, total});
}

Status Login(const std::string& registry, const RegistryAccess& access) {
  // Accept "host", "host/…" or "https://host" as people paste them.
  std::string host = registry;
  for (std::string_view scheme : {"https://", "http://"})
    if (host.starts_with(scheme)) host = host.substr(scheme.size());
  host = host.substr(0, host.find('/'));
  if (host.empty()) return Error::InvalidArgument("name the registry to log in to");
  Reference ref;
  ref.registry = host;
  Client client(ref.ApiHost(), access.credentials, access.transport);
  return client.Login();
}

}  // namespace kiln::registry
