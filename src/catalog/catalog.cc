#include "catalog/catalog.h"

#include <nlohmann/json.hpp>

#include "base/ids.h"

namespace kiln {
namespace {

// Migrations, in order: migration i takes the schema from version i to i+1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_reason TEXT NOT NULL DEFAULT '',
  manifest_digest TEXT NOT NULL,
  manifest_size INTEGER NOT NULL,
  config_digest TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  parent_id TEXT
);
CREATE TABLE image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  digest TEXT NOT NULL,
  diff_id TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_by_digest ON image_layers(digest);
CREATE TABLE image_tags (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (image_id, key)
);
)sql",
    R"sql(
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  image_id TEXT NOT NULL,
  state TEXT NOT NULL,
  state_reason TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  terminated_at INTEGER,
  env TEXT NOT NULL DEFAULT '[]',
  user_data TEXT NOT NULL DEFAULT ''
);
-- Names are unique among instances that are not terminated (EC2 keeps terminated ones a while).
CREATE UNIQUE INDEX instances_live_name ON instances(name) WHERE state != 'terminated';
CREATE INDEX instances_by_image ON instances(image_id);
)sql",
    R"sql(
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  name TEXT,
  instance_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  consistency TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX snapshots_by_name ON snapshots(name) WHERE name IS NOT NULL;
CREATE INDEX snapshots_by_instance ON snapshots(instance_id);
)sql",
    // How long the source instance was frozen (or stopped) for a capture; NULL for imports.
    "ALTER TABLE images ADD COLUMN frozen_ms INTEGER;",
    // Registry pushes: the compressed form a stored layer was pushed as (so a second push skips
    // compressing when the registry already has it), and which repositories of which registry
    // hold a blob (for cross-repository mounts).
    R"sql(
CREATE TABLE layer_variants (
  digest TEXT NOT NULL,
  compression TEXT NOT NULL,
  variant_digest TEXT NOT NULL,
  variant_size INTEGER NOT NULL,
  PRIMARY KEY (digest, compression)
);
CREATE TABLE registry_blobs (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (registry, digest, repository)
);
)sql",
    // Networking: the mode an instance was launched with and its address on kilnd's bridge.
    // Instances from before had loopback only. Live instances never share an address.
    R"sql(
ALTER TABLE instances ADD COLUMN network TEXT NOT NULL DEFAULT 'none';
ALTER TABLE instances ADD COLUMN ip TEXT;
ALTER TABLE instances ADD COLUMN publish TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX instances_live_ip ON instances(ip) WHERE ip IS NOT NULL AND state != 'terminated';
)sql",
};

constexpr const char* kImageColumns =
    "id, name, description, created_at, state, state_reason, manifest_digest, manifest_size, "
    "config_digest, source, parent_id, frozen_ms";

ImageRecord ReadImageRow(const SqliteStmt& s) {
  ImageRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.description = s.Text(2);
  r.created_at = s.Int(3);
  r.state = s.Text(4);
  r.state_reason = s.Text(5);
  r.manifest_digest = s.Text(6);
  r.manifest_size = static_cast<uint64_t>(s.Int(7));
  r.config_digest = s.Text(8);
  r.source = s.Text(9);
  if (!s.IsNull(10)) r.parent_id = s.Text(10);
  if (!s.IsNull(11)) r.frozen_ms = s.Int(11);
  return r;
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(path));
  std::unique_ptr<Catalog> c(new Catalog(std::move(db)));
  TRY(c->Migrate());
  return c;
}

Status Catalog::Migrate() {
  ASSIGN_OR_RETURN(SqliteStmt q, db_.Prepare("PRAGMA user_version"));
  TRY(q.Step());
  int version = static_cast<int>(q.Int(0));
  if (version > kSchemaVersion)
    return Error::Unsupported("catalog schema version " + std::to_string(version) +
                              " is newer than this kiln understands (" +
                              std::to_string(kSchemaVersion) + "); upgrade kiln");
  for (int v = version; v < kSchemaVersion; ++v) {
    ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(db_));
    TRY_CTX(db_.Exec(kMigrations[v]), "migrate catalog to version " + std::to_string(v + 1));
    TRY(db_.Exec("PRAGMA user_version = " + std::to_string(v + 1)));
    TRY(txn.Commit());
  }
  return Ok();
}

Status Catalog::InsertLayers(const ImageRecord& im) {
  for (size_t i = 0; i < im.layers.size(); ++i) {
    const LayerRecord& l = im.layers[i];
    ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("INSERT INTO image_layers (image_id, position, "
                                               "digest, diff_id, media_type, size) VALUES "
                                               "(?,?,?,?,?,?)"));
    s.Bind(1, im.id).Bind(2, static_cast<int64_t>(i)).Bind(3, l.digest).Bind(4, l.diff_id);
    s.Bind(5, l.media_type).Bind(6, static_cast<int64_t>(l.size));
    TRY(s.Run());
  }
  return Ok();
}

Status Catalog::InsertImage(const ImageRecord& im) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(db_));
  {
    ASSIGN_OR_RETURN(SqliteStmt dup, db_.Prepare("SELECT 1 FROM images WHERE name = ?"));
    dup.Bind(1, im.name);
    ASSIGN_OR_RETURN(bool taken, dup.Step());
    if (taken) return Error::AlreadyExists("an image named \"" + im.name + "\" already exists");
  }
  ASSIGN_OR_RETURN(SqliteStmt ins, db_.Prepare("INSERT INTO images (" + std::string(kImageColumns) +
                                               ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
  ins.Bind(1, im.id).Bind(2, im.name).Bind(3, im.description).Bind(4, im.created_at);
  ins.Bind(5, im.state).Bind(6, im.state_reason).Bind(7, im.manifest_digest);
  ins.Bind(8, static_cast<int64_t>(im.manifest_size)).Bind(9, im.config_digest).Bind(10, im.source);
  if (im.parent_id)
    ins.Bind(11, *im.parent_id);
  else
    ins.BindNull(11);
  if (im.frozen_ms)
    ins.Bind(12, *im.frozen_ms);
  else
    ins.BindNull(12);
  TRY(ins.Run());
  TRY(InsertLayers(im));
  for (const auto& [k, v] : im.tags) {
    ASSIGN_OR_RETURN(SqliteStmt s,
                     db_.Prepare("INSERT INTO image_tags (image_id, key, value) VALUES (?,?,?)"));
    s.Bind(1, im.id).Bind(2, k).Bind(3, v);
    TRY(s.Run());
  }
  return txn.Commit();
}

Status Catalog::SetImageState(const std::string& id, const std::string& state,
                              const std::string& reason) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s,
                   db_.Prepare("UPDATE images SET state = ?, state_reason = ? WHERE id = ?"));
  s.Bind(1, state).Bind(2, reason).Bind(3, id);
  return s.Run();
}

Status Catalog::CompleteImage(const ImageRecord& im) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(db_));
  ASSIGN_OR_RETURN(SqliteStmt up,
                   db_.Prepare("UPDATE images SET manifest_digest = ?, manifest_size = ?, "
                               "config_digest = ?, state = ?, state_reason = '', "
                               "frozen_ms = ? WHERE id = ?"));
  up.Bind(1, im.manifest_digest).Bind(2, static_cast<int64_t>(im.manifest_size));
  up.Bind(3, im.config_digest).Bind(4, kImageAvailable);
  if (im.frozen_ms)
    up.Bind(5, *im.frozen_ms);
  else
    up.BindNull(5);
  up.Bind(6, im.id);
  TRY(up.Run());
  ASSIGN_OR_RETURN(SqliteStmt del, db_.Prepare("DELETE FROM image_layers WHERE image_id = ?"));
  del.Bind(1, im.id);
  TRY(del.Run());
  TRY(InsertLayers(im));
  return txn.Commit();
}

Status Catalog::LoadDetails(ImageRecord& im) {
  ASSIGN_OR_RETURN(SqliteStmt l, db_.Prepare("SELECT digest, diff_id, media_type, size FROM "
                                             "image_layers WHERE image_id = ? ORDER BY position"));
  l.Bind(1, im.id);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, l.Step());
    if (!row) break;
    im.layers.push_back({l.Text(0), l.Text(1), l.Text(2), static_cast<uint64_t>(l.Int(3))});
  }
  ASSIGN_OR_RETURN(
      SqliteStmt t,
      db_.Prepare("SELECT key, value FROM image_tags WHERE image_id = ? ORDER BY key"));
  t.Bind(1, im.id);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, t.Step());
    if (!row) break;
    im.tags[t.Text(0)] = t.Text(1);
  }
  return Ok();
}

Result<std::vector<ImageRecord>> Catalog::QueryImages(std::string_view where,
                                                      const std::string& arg) {
  std::string sql = "SELECT " + std::string(kImageColumns) + " FROM images";
  if (!where.empty()) sql += " WHERE " + std::string(where);
  sql += " ORDER BY rowid";  // creation order
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare(sql));
  if (!where.empty()) s.Bind(1, arg);
  std::vector<ImageRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadImageRow(s));
  }
  for (auto& im : out) TRY(LoadDetails(im));
  return out;
}

Result<ImageRecord> Catalog::GetImage(const std::string& ref) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto found, QueryImages(IsId(ref, "ami-") ? "id = ?" : "name = ?", ref));
  if (found.empty()) return Error::NotFound("no image \"" + ref + "\"");
  return std::move(found.front());
}

Result<std::vector<ImageRecord>> Catalog::ListImages() {
  std::lock_guard lock(mu_);
  return QueryImages("", "");
}

Status Catalog::UpdateTags(const std::string& id, const std::map<std::string, std::string>& set,
                           const std::vector<std::string>& remove) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(db_));
  for (const auto& k : remove) {
    ASSIGN_OR_RETURN(SqliteStmt s,
                     db_.Prepare("DELETE FROM image_tags WHERE image_id = ? AND key = ?"));
    s.Bind(1, id).Bind(2, k);
    TRY(s.Run());
  }
  for (const auto& [k, v] : set) {
    ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("INSERT INTO image_tags (image_id, key, value) "
                                               "VALUES (?,?,?) ON CONFLICT(image_id, key) DO "
                                               "UPDATE SET value = excluded.value"));
    s.Bind(1, id).Bind(2, k).Bind(3, v);
    TRY(s.Run());
  }
  return txn.Commit();
}

Status Catalog::DeleteImage(const std::string& id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("DELETE FROM images WHERE id = ?"));
  s.Bind(1, id);
  return s.Run();
}

Result<std::set<std::string>> Catalog::ReferencedDigests() {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  ASSIGN_OR_RETURN(
      SqliteStmt s,
      db_.Prepare("SELECT manifest_digest FROM images UNION SELECT config_digest FROM "
                  "images UNION SELECT digest FROM image_layers UNION SELECT digest FROM "
                  "snapshots"));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.insert(s.Text(0));
  }
  return out;
}

Result<std::set<std::string>> Catalog::ReferencedDiffIds() {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("SELECT DISTINCT diff_id FROM image_layers"));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.insert(s.Text(0));
  }
  return out;
}

namespace {

constexpr const char* kInstanceColumns =
    "id, name, image_id, state, state_reason, type, created_at, terminated_at, env, user_data, "
    "network, ip, publish";

InstanceRecord ReadInstanceRow(const SqliteStmt& s) {
  InstanceRecord r;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.image_id = s.Text(2);
  r.state = s.Text(3);
  r.state_reason = s.Text(4);
  r.type = s.Text(5);
  r.created_at = s.Int(6);
  if (!s.IsNull(7)) r.terminated_at = s.Int(7);
  auto env = nlohmann::json::parse(s.Text(8), nullptr, false);
  if (env.is_array())
    for (const auto& e : env)
      if (e.is_string()) r.env.push_back(e.get<std::string>());
  r.user_data = s.Text(9);
  r.network = s.Text(10);
  r.ip = s.Text(11);
  auto publish = nlohmann::json::parse(s.Text(12), nullptr, false);
  if (publish.is_array())
    for (const auto& p : publish)
      if (p.is_string()) r.publish.push_back(p.get<std::string>());
  return r;
}

}  // namespace

Status Catalog::InsertInstances(const std::vector<InstanceRecord>& instances) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(db_));
  for (const auto& in : instances) {
    ASSIGN_OR_RETURN(SqliteStmt dup, db_.Prepare("SELECT id FROM instances WHERE name = ? AND "
                                                 "state != 'terminated'"));
    dup.Bind(1, in.name);
    ASSIGN_OR_RETURN(bool taken, dup.Step());
    if (taken)
      return Error::AlreadyExists("an instance named \"" + in.name + "\" already exists (" +
                                  dup.Text(0) + ")");
    ASSIGN_OR_RETURN(SqliteStmt ins,
                     db_.Prepare("INSERT INTO instances (" + std::string(kInstanceColumns) +
                                 ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, in.id).Bind(2, in.name).Bind(3, in.image_id).Bind(4, in.state);
    ins.Bind(5, in.state_reason).Bind(6, in.type).Bind(7, in.created_at);
    if (in.terminated_at)
      ins.Bind(8, *in.terminated_at);
    else
      ins.BindNull(8);
    ins.Bind(9, nlohmann::json(in.env).dump()).Bind(10, in.user_data).Bind(11, in.network);
    if (in.ip.empty())
      ins.BindNull(12);
    else
      ins.Bind(12, in.ip);
    ins.Bind(13, nlohmann::json(in.publish).dump());
    TRY(ins.Run());
  }
  return txn.Commit();
}

Result<InstanceRecord> Catalog::GetInstance(const std::string& ref) {
  std::lock_guard lock(mu_);
  bool by_id = IsId(ref, "i-");
  std::string sql = "SELECT " + std::string(kInstanceColumns) + " FROM instances WHERE " +
                    (by_id ? "id = ?" : "name = ? AND state != 'terminated'");
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare(sql));
  s.Bind(1, ref);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Error::NotFound("no instance \"" + ref + "\"");
  return ReadInstanceRow(s);
}

Result<std::vector<InstanceRecord>> Catalog::ListInstances(bool include_terminated) {
  std::lock_guard lock(mu_);
  std::string sql = "SELECT " + std::string(kInstanceColumns) + " FROM instances";
  if (!include_terminated) sql += " WHERE state != 'terminated'";
  sql += " ORDER BY rowid";  // creation order
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare(sql));
  std::vector<InstanceRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadInstanceRow(s));
  }
  return out;
}

Status Catalog::SetInstanceState(const std::string& id, const std::string& state,
                                 const std::string& reason) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s,
                   db_.Prepare("UPDATE instances SET state = ?, state_reason = ?, terminated_at = "
                               "CASE WHEN ? = 'terminated' THEN strftime('%s','now') ELSE NULL "
                               "END WHERE id = ?"));
  s.Bind(1, state).Bind(2, reason).Bind(3, state).Bind(4, id);
  return s.Run();
}

Status Catalog::DeleteInstance(const std::string& id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("DELETE FROM instances WHERE id = ?"));
  s.Bind(1, id);
  return s.Run();
}

Result<int> Catalog::CountLiveInstancesOf(const std::string& image_id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("SELECT COUNT(*) FROM instances WHERE image_id = ? "
                                             "AND state != 'terminated'"));
  s.Bind(1, image_id);
  TRY(s.Step());
  return static_cast<int>(s.Int(0));
}

namespace {

constexpr const char* kSnapshotColumns =
    "id, name, instance_id, digest, size, consistency, created_at";

SnapshotRecord ReadSnapshotRow(const SqliteStmt& s) {
  SnapshotRecord r;
  r.id = s.Text(0);
  if (!s.IsNull(1)) r.name = s.Text(1);
  r.instance_id = s.Text(2);
  r.digest = s.Text(3);
  r.size = static_cast<uint64_t>(s.Int(4));
  r.consistency = s.Text(5);
  r.created_at = s.Int(6);
  return r;
}

}  // namespace

Status Catalog::InsertSnapshot(const SnapshotRecord& snap) {
  std::lock_guard lock(mu_);
  if (!snap.name.empty()) {
    ASSIGN_OR_RETURN(SqliteStmt dup, db_.Prepare("SELECT id FROM snapshots WHERE name = ?"));
    dup.Bind(1, snap.name);
    ASSIGN_OR_RETURN(bool taken, dup.Step());
    if (taken)
      return Error::AlreadyExists("a snapshot named \"" + snap.name + "\" already exists (" +
                                  dup.Text(0) + ")");
  }
  ASSIGN_OR_RETURN(SqliteStmt ins,
                   db_.Prepare("INSERT INTO snapshots (" + std::string(kSnapshotColumns) +
                               ") VALUES (?,?,?,?,?,?,?)"));
  ins.Bind(1, snap.id);
  if (snap.name.empty())
    ins.BindNull(2);
  else
    ins.Bind(2, snap.name);
  ins.Bind(3, snap.instance_id).Bind(4, snap.digest).Bind(5, static_cast<int64_t>(snap.size));
  ins.Bind(6, snap.consistency).Bind(7, snap.created_at);
  return ins.Run();
}

Result<SnapshotRecord> Catalog::GetSnapshot(const std::string& ref) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("SELECT " + std::string(kSnapshotColumns) +
                                             " FROM snapshots WHERE " +
                                             (IsId(ref, "snap-") ? "id = ?" : "name = ?")));
  s.Bind(1, ref);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Error::NotFound("no snapshot \"" + ref + "\"");
  return ReadSnapshotRow(s);
}

Result<std::vector<SnapshotRecord>> Catalog::ListSnapshots(const std::string& instance_id) {
  std::lock_guard lock(mu_);
  std::string sql = "SELECT " + std::string(kSnapshotColumns) + " FROM snapshots";
  if (!instance_id.empty()) sql += " WHERE instance_id = ?";
  sql += " ORDER BY rowid";  // creation order
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare(sql));
  if (!instance_id.empty()) s.Bind(1, instance_id);
  std::vector<SnapshotRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadSnapshotRow(s));
  }
  return out;
}

Status Catalog::DeleteSnapshot(const std::string& id) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("DELETE FROM snapshots WHERE id = ?"));
  s.Bind(1, id);
  return s.Run();
}

Result<std::optional<std::string>> Catalog::DiffIdOfLayer(const std::string& digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s,
                   db_.Prepare("SELECT diff_id FROM image_layers WHERE digest = ? LIMIT 1"));
  s.Bind(1, digest);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Result<std::optional<LayerVariant>> Catalog::GetLayerVariant(const std::string& digest,
                                                             const std::string& compression) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s,
                   db_.Prepare("SELECT variant_digest, variant_size FROM "
                               "layer_variants WHERE digest = ? AND compression = ?"));
  s.Bind(1, digest).Bind(2, compression);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<LayerVariant>();
  return std::optional<LayerVariant>(LayerVariant{s.Text(0), static_cast<uint64_t>(s.Int(1))});
}

Status Catalog::PutLayerVariant(const std::string& digest, const std::string& compression,
                                const LayerVariant& v) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("INSERT OR REPLACE INTO layer_variants (digest, "
                                             "compression, variant_digest, variant_size) VALUES "
                                             "(?, ?, ?, ?)"));
  s.Bind(1, digest).Bind(2, compression).Bind(3, v.digest).Bind(4, static_cast<int64_t>(v.size));
  return s.Run();
}

Status Catalog::NoteRegistryBlob(const std::string& registry, const std::string& repository,
                                 const std::string& digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("INSERT OR REPLACE INTO registry_blobs (registry, "
                                             "repository, digest, seen_at) VALUES (?, ?, ?, ?)"));
  s.Bind(1, registry).Bind(2, repository).Bind(3, digest).Bind(4, NowSeconds());
  return s.Run();
}

Result<std::vector<std::string>> Catalog::RepositoriesWithBlob(const std::string& registry,
                                                               const std::string& digest) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(SqliteStmt s, db_.Prepare("SELECT repository FROM registry_blobs WHERE "
                                             "registry = ? AND digest = ? ORDER BY seen_at DESC"));
  s.Bind(1, registry).Bind(2, digest);
  std::vector<std::string> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

}  // namespace kiln
