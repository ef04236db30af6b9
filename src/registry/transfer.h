// registry: pulling an image from a registry into the store, and pushing a stored image to one.
//
// Pull checks everything before anything is visible, as import does: the manifest against the
// digest the registry and the reference name, every blob against its descriptor while it is
// downloaded, every layer entry by entry and against the config's diff_ids. Downloads go to
// <root>/partial/<hex>, which survives a crash or a cut connection, so the next pull of the same
// blob continues where the last one stopped (an HTTP range request). Push uploads only what the
// registry lacks (HEAD first, then a cross-repository mount when kiln knows another repository
// of that registry holds the blob), compressing uncompressed layers on the way.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "context/context.h"
#include "layer/byte_source.h"
#include "registry/auth.h"
#include "registry/client.h"

namespace kiln::registry {

struct RegistryAccess {
  Credentials credentials;
  TransportOptions transport;
};

// Progress of one blob of a pull or push. Events are delivered one at a time (never
// concurrently); returning an error cancels the whole transfer (the client went away).
struct TransferEvent {
  std::string id;      // the blob's digest, shortened to 12 hex digits
  std::string status;  // waiting, downloading, verifying, exists, compressing, uploading,
                       // mounted, done
  uint64_t done = 0;
  uint64_t total = 0;
};
using EventFn = std::function<Status(const TransferEvent&)>;

// Delivers events from worker threads one at a time, at most ~5 progress updates a second per
// blob, and remembers a cancellation so every worker sees it.
class EventGate {
 public:
  explicit EventGate(const EventFn& fn) : fn_(fn) {}
  // A change of status: always delivered.
  Status Changed(const std::string& digest, const std::string& status, uint64_t done = 0,
                 uint64_t total = 0);
  // Bytes moved: delivered when enough time has passed, or at the end.
  Status Progress(const std::string& digest, const std::string& status, uint64_t done,
                  uint64_t total);

 private:
  Status Deliver(const TransferEvent& e);
  const EventFn& fn_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_;
  std::optional<Error> cancelled_;
};

struct PullRequest {
  std::string reference;  // registry/repo[:tag][@digest]
  std::string name;       // the image's name here; empty: derived from the reference
  std::map<std::string, std::string> tags;
  RegistryAccess access;
  int parallel = 3;  // blobs transferred at once
};

Result<ImageRecord> PullImage(Context& ctx, const PullRequest& req, const EventFn& on_event);

struct PushRequest {
  std::string image;        // id or name
  std::string destination;  // registry/repo[:tag]
  Compression compression = Compression::kGzip;
  RegistryAccess access;
  int parallel = 3;
};

struct PushResult {
  std::string reference;  // what was pushed, with the manifest digest
  std::string manifest_digest;
  uint64_t manifest_size = 0;
  int blobs_uploaded = 0;
  int blobs_skipped = 0;  // already there, or mounted from another repository
};

Result<PushResult> PushImage(Context& ctx, const PushRequest& req, const EventFn& on_event);

// Checks that the registry accepts the credentials.
Status Login(const std::string& registry, const RegistryAccess& access);

std::string ShortDigest(const std::string& digest);

}  // namespace kiln::registry
