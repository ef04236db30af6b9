#include "image/importer.h"

#include <fcntl.h>

#include <algorithm>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "layer/tar_reader.h"
#include "oci/image_spec.h"
#include "oci/media_types.h"

namespace kiln {
namespace {

using json = nlohmann::json;
constexpr size_t kBuf = 1 << 17;
constexpr uint64_t kMaxJsonDoc = 4 << 20;  // manifests, configs and indexes are small

std::string LayerMediaType(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return std::string(oci::kLayerGzip);
    case Compression::kZstd:
      return std::string(oci::kLayerZstd);
    case Compression::kNone:
      break;
  }
  return std::string(oci::kLayerTar);
}

// The blobs an import has written to its temp dir, and what it will publish.
struct Staging {
  std::map<std::string, StagedBlob> files;  // archive path -> staged copy
  std::vector<StagedBlob> publish;          // in order: layers, config, manifest
};

Result<StagedBlob> StageBytes(Context& ctx, const std::string& dir, std::string_view data) {
  ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter(dir));
  TRY(w.Write(data.data(), data.size()));
  return w.Finish();
}

Result<std::string> ReadSmall(const StagedBlob& b, std::string_view what) {
  if (b.size > kMaxJsonDoc)
    return Error::InvalidArgument(std::string(what) + " is too large (" + std::to_string(b.size) +
                                  " bytes)");
  return ReadFile(b.path);
}

// Second pass over an archive: every regular file becomes a staged blob, keyed by its path.
Result<std::map<std::string, StagedBlob>> StageArchiveFiles(Context& ctx, const std::string& dir,
                                                            const std::string& spool) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(spool, O_RDONLY));
  FdSource src(fd.get());
  TarReader reader(&src);
  std::map<std::string, StagedBlob> out;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  for (;;) {
    ASSIGN_OR_RETURN(archive_entry * e, reader.Next());
    if (e == nullptr) break;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr) continue;
    ASSIGN_OR_RETURN(std::string path, NormalizeEntryPath(DescribeEntry(e).path));
    ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter(dir));
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, reader.ReadData(buf.get(), kBuf));
      if (n == 0) break;
      TRY(w.Write(buf.get(), n));
    }
    ASSIGN_OR_RETURN(StagedBlob b, w.Finish());
    out[path] = std::move(b);
  }
  return out;
}

// Looks up an OCI layout blob by descriptor and checks its digest and size.
Result<StagedBlob> LayoutBlob(const Staging& st, const oci::Descriptor& d, std::string_view what) {
  auto it = st.files.find("blobs/sha256/" + DigestHex(d.digest));
  if (it == st.files.end())
    return Error::InvalidArgument(std::string(what) + " " + d.digest +
                                  " is missing from the archive");
  if (it->second.digest != d.digest)
    return Error::Corruption(std::string(what) + " " + d.digest +
                             " does not match its digest (content hashes to " + it->second.digest +
                             ")");
  if (static_cast<int64_t>(it->second.size) != d.size)
    return Error::Corruption(std::string(what) + " " + d.digest + " has size " +
                             std::to_string(it->second.size) + ", descriptor says " +
                             std::to_string(d.size));
  return it->second;
}

std::string RefName(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(oci::kAnnotationRefName));
  return it == d.annotations.end() ? "" : it->second;
}

// Picks the manifest descriptor from an OCI index: by ref if given, else the only one; a nested
// index (multi-platform) resolves to the host's platform.
Result<oci::Descriptor> SelectManifest(const Staging& st, const oci::Index& index,
                                       const std::string& ref) {
  std::vector<oci::Descriptor> candidates;
  std::vector<std::string> refs;
  for (const auto& d : index.manifests) {
    refs.push_back(RefName(d).empty() ? d.digest : RefName(d));
    if (ref.empty() || RefName(d) == ref) candidates.push_back(d);
  }
  std::string listed;
  for (const auto& r : refs) listed += (listed.empty() ? "" : ", ") + r;
  if (candidates.empty()) {
    if (!ref.empty())
      return Error::NotFound("archive has no image with ref \"" + ref + "\" (it has: " + listed +
                             ")");
    return Error::InvalidArgument("archive index lists no images");
  }
  if (candidates.size() > 1)
    return Error::InvalidArgument("archive holds " + std::to_string(candidates.size()) +
                                  " images (" + listed + "); choose one with --ref");
  oci::Descriptor chosen = candidates.front();
  for (int depth = 0; oci::IsIndexMediaType(chosen.media_type); ++depth) {
    if (depth > 4) return Error::InvalidArgument("archive index nests too deeply");
    ASSIGN_OR_RETURN(StagedBlob b, LayoutBlob(st, chosen, "index"));
    ASSIGN_OR_RETURN(std::string data, ReadSmall(b, "index"));
    ASSIGN_OR_RETURN(oci::Index nested, oci::ParseIndex(data));
    std::optional<oci::Descriptor> match;
    for (const auto& d : nested.manifests)
      if (d.platform && d.platform->os == "linux" &&
          d.platform->architecture == oci::HostArchitecture()) {
        match = d;
        break;
      }
    if (!match)
      return Error::NotFound("archive has no image for platform linux/" + oci::HostArchitecture());
    chosen = *match;
  }
  if (!oci::IsManifestMediaType(chosen.media_type))
    return Error::Unsupported("unsupported manifest media type \"" + chosen.media_type + "\"");
  return chosen;
}

}  // namespace

Result<LayerRecord> CheckStagedLayer(const StagedBlob& b, const std::string& expected_diff_id,
                                     size_t index) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(b.path, O_RDONLY));
  FdSource src(fd.get());
  std::string what = "layer " + std::to_string(index + 1);
  auto scan = ScanLayer(&src);
  if (!scan) return std::move(scan).error().Context(what);
  if (!expected_diff_id.empty() && scan->diff_id != expected_diff_id)
    return Error::Corruption(what + ": uncompressed content hashes to " + scan->diff_id +
                             " but the image config says " + expected_diff_id);
  return LayerRecord{b.digest, scan->diff_id, LayerMediaType(scan->compression), b.size};
}

namespace {

// OCI image layout (as skopeo's oci-archive: or a tarred oci: dir writes it).
Status ImportLayout(Staging& st, const ImportRequest& req, ImageRecord& im) {
  auto layout_it = st.files.find("oci-layout");
  ASSIGN_OR_RETURN(std::string layout_doc, ReadSmall(layout_it->second, "oci-layout"));
  json layout = json::parse(layout_doc, nullptr, false);
  if (!layout.is_object() || !layout.contains("imageLayoutVersion") ||
      !layout["imageLayoutVersion"].is_string())
    return Error::InvalidArgument("oci-layout: not a valid image layout marker");
  if (layout["imageLayoutVersion"] != "1.0.0")
    return Error::Unsupported("oci-layout: unsupported version " +
                              layout["imageLayoutVersion"].get<std::string>());
  ASSIGN_OR_RETURN(std::string index_doc, ReadSmall(st.files["index.json"], "index.json"));
  ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(index_doc));
  ASSIGN_OR_RETURN(oci::Descriptor md, SelectManifest(st, index, req.ref));
  ASSIGN_OR_RETURN(StagedBlob mblob, LayoutBlob(st, md, "manifest"));
  ASSIGN_OR_RETURN(std::string mdoc, ReadSmall(mblob, "manifest"));
  ASSIGN_OR_RETURN(oci::Manifest m, oci::ParseManifest(mdoc));
  ASSIGN_OR_RETURN(StagedBlob cblob, LayoutBlob(st, m.config, "config"));
  ASSIGN_OR_RETURN(std::string cdoc, ReadSmall(cblob, "config"));
  ASSIGN_OR_RETURN(oci::ImageConfig cfg, oci::ParseConfig(cdoc));
  if (cfg.diff_ids.size() != m.layers.size())
    return Error::InvalidArgument("manifest lists " + std::to_string(m.layers.size()) +
                                  " layers but the config lists " +
                                  std::to_string(cfg.diff_ids.size()) + " diff_ids");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    ASSIGN_OR_RETURN(StagedBlob lb, LayoutBlob(st, m.layers[i], "layer"));
    ASSIGN_OR_RETURN(LayerRecord rec, CheckStagedLayer(lb, cfg.diff_ids[i], i));
    rec.media_type = m.layers[i].media_type;  // keep the manifest's word for it
    im.layers.push_back(rec);
    st.publish.push_back(lb);
  }
  st.publish.push_back(cblob);
  st.publish.push_back(mblob);
  im.config_digest = cblob.digest;
  im.manifest_digest = mblob.digest;
  im.manifest_size = mblob.size;
  im.source = "oci-archive";
  return Ok();
}

// Builds and stages an OCI manifest for a config and layers kiln assembled itself.
Status StageManifest(Context& ctx, const std::string& dir, Staging& st, const StagedBlob& config,
                     ImageRecord& im) {
  oci::Descriptor cd{std::string(oci::kConfig), config.digest, static_cast<int64_t>(config.size)};
  std::vector<oci::Descriptor> layers;
  for (const auto& l : im.layers)
    layers.push_back({l.media_type, l.digest, static_cast<int64_t>(l.size)});
  std::string mdoc = oci::SerializeManifest(
      cd, layers, {{std::string(oci::kAnnotationCreated), FormatTime(im.created_at)}});
  ASSIGN_OR_RETURN(StagedBlob mblob, StageBytes(ctx, dir, mdoc));
  st.publish.push_back(config);
  st.publish.push_back(mblob);
  im.config_digest = config.digest;
  im.manifest_digest = mblob.digest;
  im.manifest_size = mblob.size;
  return Ok();
}

// docker save / podman save: manifest.json lists config and layer files by path.
Status ImportDockerArchive(Context& ctx, const std::string& dir, Staging& st,
                           const ImportRequest& req, ImageRecord& im) {
  ASSIGN_OR_RETURN(std::string doc, ReadSmall(st.files["manifest.json"], "manifest.json"));
  json j = json::parse(doc, nullptr, false);
  if (!j.is_array() || j.empty())
    return Error::InvalidArgument("manifest.json: must be a non-empty array");
  const json* chosen = nullptr;
  std::string listed;
  for (const auto& e : j) {
    if (!e.is_object()) return Error::InvalidArgument("manifest.json: entries must be objects");
    std::vector<std::string> tags;
    if (e.contains("RepoTags") && e["RepoTags"].is_array())
      for (const auto& t : e["RepoTags"])
        if (t.is_string()) tags.push_back(t.get<std::string>());
    for (const auto& t : tags) listed += (listed.empty() ? "" : ", ") + t;
    bool match = req.ref.empty();
    for (const auto& t : tags) {
      auto colon = t.rfind(':');
      if (t == req.ref || (colon != std::string::npos && t.substr(colon + 1) == req.ref))
        match = true;
    }
    if (!match) continue;
    if (chosen)
      return Error::InvalidArgument("archive holds several images (" + listed +
                                    "); choose one with --ref");
    chosen = &e;
  }
  if (!chosen)
    return Error::NotFound("archive has no image tagged \"" + req.ref + "\" (it has: " + listed +
                           ")");
  const json& e = *chosen;
  if (!e.contains("Config") || !e["Config"].is_string() || !e.contains("Layers") ||
      !e["Layers"].is_array())
    return Error::InvalidArgument("manifest.json: entry needs \"Config\" and \"Layers\"");
  auto file = [&](const json& p, std::string_view what) -> Result<StagedBlob> {
    if (!p.is_string()) return Error::InvalidArgument("manifest.json: paths must be strings");
    ASSIGN_OR_RETURN(std::string path, NormalizeEntryPath(p.get<std::string>()));
    auto it = st.files.find(path);
    if (it == st.files.end())
      return Error::InvalidArgument(std::string(what) + " \"" + path +
                                    "\" is missing from the archive");
    // docker 25+ stores files as blobs/sha256/<hex>: the name is a digest and must match.
    if (path.starts_with("blobs/sha256/") && it->second.digest != "sha256:" + path.substr(13))
      return Error::Corruption(std::string(what) + " \"" + path + "\" does not match its digest");
    return it->second;
  };
  ASSIGN_OR_RETURN(StagedBlob cblob, file(e["Config"], "config"));
  ASSIGN_OR_RETURN(std::string cdoc, ReadSmall(cblob, "config"));
  ASSIGN_OR_RETURN(oci::ImageConfig cfg, oci::ParseConfig(cdoc));
  if (cfg.diff_ids.size() != e["Layers"].size())
    return Error::InvalidArgument("manifest.json lists " + std::to_string(e["Layers"].size()) +
                                  " layers but the config lists " +
                                  std::to_string(cfg.diff_ids.size()) + " diff_ids");
  for (size_t i = 0; i < e["Layers"].size(); ++i) {
    ASSIGN_OR_RETURN(StagedBlob lb, file(e["Layers"][i], "layer"));
    ASSIGN_OR_RETURN(LayerRecord rec, CheckStagedLayer(lb, cfg.diff_ids[i], i));
    im.layers.push_back(rec);
    st.publish.push_back(lb);
  }
  im.source = "docker-archive";
  return StageManifest(ctx, dir, st, cblob, im);
}

// A plain rootfs tarball (or a directory the CLI tarred): the upload is the one layer.
Status ImportRootfs(Context& ctx, const std::string& dir, Staging& st, const StagedBlob& spool,
                    const LayerScan& scan, const ImportRequest& req, ImageRecord& im) {
  im.layers.push_back({spool.digest, scan.diff_id, LayerMediaType(scan.compression), spool.size});
  st.publish.push_back(spool);
  std::string created = FormatTime(im.created_at);
  json cfg = {
      {"created", created},
      {"architecture", oci::HostArchitecture()},
      {"os", "linux"},
      {"config", json::object()},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {scan.diff_id}}}},
      {"history",
       {{{"created", created},
         {"created_by",
          "kiln image import" + (req.source_name.empty() ? "" : " " + req.source_name)}}}},
  };
  ASSIGN_OR_RETURN(StagedBlob cblob, StageBytes(ctx, dir, cfg.dump()));
  im.source = "rootfs";
  return StageManifest(ctx, dir, st, cblob, im);
}

}  // namespace

Status PublishImage(Context& ctx, const std::vector<StagedBlob>& staged, ImageRecord& im) {
  std::shared_lock gc_guard(ctx.publish_mu);
  im.state = kImagePending;
  TRY(ctx.catalog->InsertImage(im));
  Status st_ok;
  for (const auto& b : staged) {
    st_ok = ctx.store->Publish(b);
    if (!st_ok) break;
  }
  if (st_ok) st_ok = ctx.store->SyncBlobsDir();
  // Blobs the source found already stored were not staged; gc cannot run now, so they are
  // either here or were removed before this lock was taken.
  std::vector<std::string> needed{im.manifest_digest, im.config_digest};
  for (const auto& l : im.layers) needed.push_back(l.digest);
  for (const auto& d : needed)
    if (st_ok && !ctx.store->Has(d))
      st_ok =
          Error::NotFound("blob " + d + " was removed (by gc) while the image was made; try again");
  if (st_ok) st_ok = ctx.catalog->SetImageState(im.id, kImageAvailable);
  if (!st_ok) {
    // Undo the record; published blobs become unreferenced and go with the next gc.
    (void)ctx.catalog->DeleteImage(im.id);
    return std::move(st_ok).error().Context("publish");
  }
  im.state = kImageAvailable;
  return Ok();
}

Status ValidateTag(const std::string& key, const std::string& value) {
  if (key.empty() || key.size() > 128)
    return Error::InvalidArgument("tag key \"" + key + "\" must be 1-128 characters");
  if (value.size() > 256)
    return Error::InvalidArgument("tag value for \"" + key + "\" is longer than 256 characters");
  if (key.starts_with("kiln:"))
    return Error::InvalidArgument("tag keys starting with \"kiln:\" are reserved");
  for (unsigned char c : key + value)
    if (c < 0x20 || c == 0x7f)
      return Error::InvalidArgument("tag \"" + key + "\" contains control characters");
  return Ok();
}

Result<std::unique_ptr<ImportJob>> ImportJob::Begin(Context& ctx, ImportRequest req) {
  TRY(ValidateName(req.name, "image"));
  if (req.description.size() > 1024)
    return Error::InvalidArgument("description is longer than 1024 characters");
  for (const auto& [k, v] : req.tags) TRY(ValidateTag(k, v));
  if (auto existing = ctx.catalog->GetImage(req.name))
    return Error::AlreadyExists("an image named \"" + req.name + "\" already exists (" +
                                existing->id + ")");
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Make(ctx.store->tmp_dir(), "import-"));
  ASSIGN_OR_RETURN(BlobWriter spool, ctx.store->NewWriter(dir.path()));
  return std::unique_ptr<ImportJob>(
      new ImportJob(ctx, std::move(req), std::move(dir), std::move(spool)));
}

Status ImportJob::Write(const void* data, size_t n) {
  auto st = spool_.Write(data, n);
  if (!st) return std::move(st).error().Context("spool upload");
  return Ok();
}

Result<ImageRecord> ImportImage(Context& ctx, ByteSource* upload, const ImportRequest& req) {
  ASSIGN_OR_RETURN(auto job, ImportJob::Begin(ctx, req));
  std::unique_ptr<char[]> buf(new char[kBuf]);
  for (;;) {
    auto n = upload->Read(buf.get(), kBuf);
    if (!n) return std::move(n).error().Context("receive upload");
    if (*n == 0) break;
    TRY(job->Write(buf.get(), *n));
  }
  return job->Finish();
}

Result<ImageRecord> ImportJob::Finish() {
  Context& ctx = ctx_;
  const ImportRequest& req = req_;
  const TempDir& op = dir_;
  if (spool_.size() == 0) return Error::InvalidArgument("the upload is empty");
  ASSIGN_OR_RETURN(StagedBlob spool, spool_.Finish());

  // One pass checks the upload as a layer tar and notes its top-level names, which tell the
  // kind of source. Archives (OCI, docker) are themselves safe tars of plain files.
  std::set<std::string> top;
  Result<LayerScan> scan = [&]() -> Result<LayerScan> {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(spool.path, O_RDONLY));
    FdSource src(fd.get());
    return ScanLayer(&src, [&](const std::string& p) {
      if (p.find('/') == std::string::npos) top.insert(p);
    });
  }();
  if (!scan) return std::move(scan).error();

  ImageRecord im;
  im.id = NewId("ami-");
  im.name = req.name;
  im.description = req.description;
  im.created_at = NowSeconds();
  im.tags = req.tags;
  Staging st;
  bool layout = top.count("oci-layout") && top.count("index.json");
  bool docker = !layout && top.count("manifest.json");
  if (layout || docker) {
    ASSIGN_OR_RETURN(st.files, StageArchiveFiles(ctx, op.path(), spool.path));
    if (layout)
      TRY(ImportLayout(st, req, im));
    else
      TRY(ImportDockerArchive(ctx, op.path(), st, req, im));
  } else {
    if (!req.ref.empty())
      return Error::InvalidArgument(
          "--ref applies to OCI and docker archives, not a rootfs tarball");
    TRY(ImportRootfs(ctx, op.path(), st, spool, *scan, req, im));
  }
  TRY(PublishImage(ctx, st.publish, im));
  LogInfo("imported image " + im.id + " \"" + im.name + "\" from " + im.source + " (" +
          std::to_string(im.layers.size()) + " layers)");
  return im;
}

}  // namespace kiln
