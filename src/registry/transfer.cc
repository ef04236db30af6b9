#include "registry/transfer.h"

#include <atomic>
#include <thread>
#include <vector>

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

Status ForEachParallel(size_t n, int parallel, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::optional<Error> first;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (first) return;
      }
      size_t i = next++;
      if (i >= n) return;
      Status st = fn(i);
      if (!st) {
        std::lock_guard lock(mu);
        if (!first) first = st.error();
        return;
      }
    }
  };
  size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, parallel)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first) return *first;
  return Ok();
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
