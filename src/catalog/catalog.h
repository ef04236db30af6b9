// catalog: kiln's metadata in SQLite (WAL): images, their ordered layers and tags. The blobs
// themselves live in the store; the catalog says which blobs make up which image. Every change
// is one transaction. Schema changes are numbered migrations (PRAGMA user_version).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "catalog/sqlite_db.h"

namespace kiln {

struct LayerRecord {
  std::string digest;      // the blob as stored (maybe compressed)
  std::string diff_id;     // digest of the uncompressed tar
  std::string media_type;  // OCI layer media type
  uint64_t size = 0;       // blob size in bytes
};

// A stored layer in another compression, as pushed to registries (the bytes are not kept).
struct LayerVariant {
  std::string digest;
  uint64_t size = 0;
};

// States follow EC2 AMIs: pending -> available | failed.
inline constexpr const char* kImagePending = "pending";
inline constexpr const char* kImageAvailable = "available";
inline constexpr const char* kImageFailed = "failed";

struct ImageRecord {
  std::string id;
  std::string name;
  std::string description;
  int64_t created_at = 0;
  std::string state;
  std::string state_reason;
  std::string manifest_digest;
  std::string config_digest;
  uint64_t manifest_size = 0;
  std::string source;  // what it was made from: "import:oci-archive", ...
  std::optional<std::string> parent_id;
  std::optional<int64_t> frozen_ms;  // captures only: how long the instance was frozen
  std::vector<LayerRecord> layers;
  std::map<std::string, std::string> tags;
};

// States follow EC2 instances.
inline constexpr const char* kInstancePending = "pending";
inline constexpr const char* kInstanceRunning = "running";
inline constexpr const char* kInstanceStopping = "stopping";
inline constexpr const char* kInstanceStopped = "stopped";
inline constexpr const char* kInstanceShuttingDown = "shutting-down";
inline constexpr const char* kInstanceTerminated = "terminated";

struct InstanceRecord {
  std::string id;
  std::string name;
  std::string image_id;
  std::string state;
  std::string state_reason;
  std::string type;
  int64_t created_at = 0;
  std::optional<int64_t> terminated_at;
  std::vector<std::string> env;  // K=V
  std::string user_data;
  std::string network = "none";      // bridge, none or host
  std::string ip;                    // address on kilnd's bridge (bridge mode), else empty
  std::vector<std::string> publish;  // published ports, "tcp:127.0.0.1:8080:80"
};

// A point-in-time copy of an instance's changes: one layer blob (its upper dir as an OCI layer).
struct SnapshotRecord {
  std::string id;    // snap- + 17 hex
  std::string name;  // optional, unique when set
  std::string instance_id;
  std::string digest;  // uncompressed layer: digest == diff_id
  uint64_t size = 0;
  std::string consistency;
  int64_t created_at = 0;
};

class Catalog {
 public:
  static constexpr int kSchemaVersion = 6;

  static Result<std::unique_ptr<Catalog>> Open(const std::string& path);

  // Inserts a new image with its layers and tags. AlreadyExists if the name is taken.
  Status InsertImage(const ImageRecord& image);
  Status SetImageState(const std::string& id, const std::string& state,
                       const std::string& reason = "");
  // Fills in a pending image's content (manifest, config, layers) and marks it available.
  Status CompleteImage(const ImageRecord& image);
  // Looks up by id ("ami-...") or name. NotFound names the reference.
  Result<ImageRecord> GetImage(const std::string& ref);
  Result<std::vector<ImageRecord>> ListImages();
  Status UpdateTags(const std::string& id, const std::map<std::string, std::string>& set,
                    const std::vector<std::string>& remove);
  Status DeleteImage(const std::string& id);
  // Every blob digest an image (in any state) refers to: manifests, configs, layers.
  Result<std::set<std::string>> ReferencedDigests();
  // Inserts all or none (one transaction). AlreadyExists names the first taken name.
  Status InsertInstances(const std::vector<InstanceRecord>& instances);
  // By id ("i-...") or name; a name resolves to the live (not terminated) instance.
  Result<InstanceRecord> GetInstance(const std::string& ref);
  Result<std::vector<InstanceRecord>> ListInstances(bool include_terminated);
  Status SetInstanceState(const std::string& id, const std::string& state,
                          const std::string& reason = "");
  Status DeleteInstance(const std::string& id);
  // Instances (not terminated) launched from the image.
  Result<int> CountLiveInstancesOf(const std::string& image_id);

  Status InsertSnapshot(const SnapshotRecord& snap);
  // By id ("snap-...") or name.
  Result<SnapshotRecord> GetSnapshot(const std::string& ref);
  // All snapshots, or those of one instance (by id).
  Result<std::vector<SnapshotRecord>> ListSnapshots(const std::string& instance_id);
  Status DeleteSnapshot(const std::string& id);

  // Every layer diff_id an image (in any state) refers to: what the unpacked-layer cache keeps.
  Result<std::set<std::string>> ReferencedDiffIds();

  // The diff_id a stored layer blob was verified to have, if an image lists it.
  Result<std::optional<std::string>> DiffIdOfLayer(const std::string& digest);

  // What a stored layer became when compressed for a push (digest and size of that form).
  Result<std::optional<LayerVariant>> GetLayerVariant(const std::string& digest,
                                                      const std::string& compression);
  Status PutLayerVariant(const std::string& digest, const std::string& compression,
                         const LayerVariant& v);
  // Notes that a registry's repository holds a blob (after a push or pull).
  Status NoteRegistryBlob(const std::string& registry, const std::string& repository,
                          const std::string& digest);
  // Repositories of the registry known to hold the blob, most recent first.
  Result<std::vector<std::string>> RepositoriesWithBlob(const std::string& registry,
                                                        const std::string& digest);

 private:
  explicit Catalog(SqliteDb db) : db_(std::move(db)) {}
  Status Migrate();
  Status LoadDetails(ImageRecord& image);
  Status InsertLayers(const ImageRecord& image);  // with mu_ held, inside a transaction
  Result<std::vector<ImageRecord>> QueryImages(std::string_view where, const std::string& arg);

  std::mutex mu_;  // one connection, used by one thread at a time
  SqliteDb db_;
};

}  // namespace kiln
