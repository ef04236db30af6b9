#include "image/capture.h"

#include <array>
#include <chrono>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "image/importer.h"
#include "oci/image_spec.h"
#include "oci/media_types.h"

namespace kiln {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Thaws a frozen instance however the capture ends.
class FreezeGuard {
 public:
  FreezeGuard(InstanceManager& m, std::string id) : m_(m), id_(std::move(id)) {}
  ~FreezeGuard() {
    if (frozen_) {
      if (auto st = m_.Thaw(id_); !st) LogError("thaw " + id_ + ": " + st.error().message());
    }
  }
  Status Freeze() {
    TRY(m_.Freeze(id_));
    frozen_ = true;
    return Ok();
  }

 private:
  InstanceManager& m_;
  std::string id_;
  bool frozen_ = false;
};

Result<StagedBlob> Stage(Context& ctx, const std::string& dir, std::string_view data) {
  ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter(dir));
  TRY(w.Write(data.data(), data.size()));
  return w.Finish();
}

}  // namespace

// Builds, stages and publishes the new image's config and manifest; completes the record.
Status FinishImage(Context& ctx, ImageRecord im, const ImageRecord& parent,
                   const CapturedLayer& layer, const InstanceRecord& instance, Consistency mode,
                   const std::string& dir, bool flatten) {
  ASSIGN_OR_RETURN(std::string parent_cfg, ctx.store->ReadAll(parent.config_digest));
  json cfg = json::parse(parent_cfg, nullptr, false);
  if (!cfg.is_object()) return Error::Corruption("parent image config is not JSON");
  std::string created = FormatTime(NowSeconds());
  cfg["created"] = created;
  if (flatten) cfg["rootfs"]["diff_ids"] = json::array();
  cfg["rootfs"]["diff_ids"].push_back(layer.blob.digest);
  if (flatten || !cfg.contains("history") || !cfg["history"].is_array())
    cfg["history"] = json::array();
  cfg["history"].push_back(
      {{"created", created},
       {"created_by", "kiln image create " + instance.name + " (" + instance.id + ", " +
                          ConsistencyName(mode) + (flatten ? ", flattened" : "") + ")"},
       {"comment", im.description}});
  ASSIGN_OR_RETURN(StagedBlob cblob, Stage(ctx, dir, cfg.dump()));
  im.layers = flatten ? std::vector<LayerRecord>{} : parent.layers;
  im.layers.push_back(
      {layer.blob.digest, layer.blob.digest, std::string(oci::kLayerTar), layer.blob.size});
  std::vector<oci::Descriptor> descs;
  for (const auto& l : im.layers)
    descs.push_back({l.media_type, l.digest, static_cast<int64_t>(l.size)});
  std::string mdoc = oci::SerializeManifest(
      {std::string(oci::kConfig), cblob.digest, static_cast<int64_t>(cblob.size)}, descs,
      {{std::string(oci::kAnnotationCreated), created}});
  ASSIGN_OR_RETURN(StagedBlob mblob, Stage(ctx, dir, mdoc));
  im.config_digest = cblob.digest;
  im.frozen_ms = static_cast<int64_t>(layer.frozen_seconds * 1000);
  im.manifest_digest = mblob.digest;
  im.manifest_size = mblob.size;
  std::shared_lock gc_guard(ctx.publish_mu);
  // A snapshot's layer is already stored (empty path); a fresh capture's is staged.
  if (!layer.blob.path.empty()) TRY(ctx.store->Publish(layer.blob));
  for (const StagedBlob* b : std::array<const StagedBlob*, 2>{&cblob, &mblob})
    TRY(ctx.store->Publish(*b));
  TRY(ctx.store->SyncBlobsDir());
  return ctx.catalog->CompleteImage(im);
}

Result<Consistency> ParseConsistency(const std::string& s) {
  if (s.empty() || s == "freeze") return Consistency::kFreeze;
  if (s == "stop") return Consistency::kStop;
  if (s == "no-reboot") return Consistency::kNoReboot;
  return Error::InvalidArgument("unknown consistency mode \"" + s + "\" (freeze, stop, no-reboot)");
}

const char* ConsistencyName(Consistency c) {
  switch (c) {
    case Consistency::kFreeze:
      return "freeze";
    case Consistency::kStop:
      return "stop";
    case Consistency::kNoReboot:
      return "no-reboot";
  }
  return "?";
}

const std::set<std::string>& InstanceSpecificPaths() {
  static const std::set<std::string> paths = {"etc/hostname", "etc/hosts", "etc/resolv.conf",
                                              ".kiln", "var/lib/kiln-init"};
  return paths;
}

Result<CapturedLayer> CaptureInstance(Context& ctx, InstanceManager& instances,
                                      const InstanceRecord& instance, Consistency mode,
                                      const std::string& dir, bool flatten) {
  ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter(dir));
  TreeWriteOptions opts;
  opts.overlay_upper = !flatten;
  opts.exclude = InstanceSpecificPaths();
  std::string upper = JoinPath(instances.DirOf(instance.id), "upper");
  CapturedLayer out;
  bool running = instance.state == kInstanceRunning;
  bool restart = false;
  {
    FreezeGuard freeze(instances, instance.id);
    auto start = Clock::now();
    if (running && mode == Consistency::kFreeze) TRY_CTX(freeze.Freeze(), "freeze");
    if (running && mode == Consistency::kStop) {
      TRY_CTX(instances.Stop(instance.id), "stop for capture");
      restart = true;
    }
    auto sink = [&](const void* d, size_t n) { return w.Write(d, n); };
    Result<TreeWriteStats> stats = Error::Internal("not run");
    if (flatten) {
      Status walked = instances.WithMergedRoot(instance.id, [&](const std::string& root) -> Status {
        stats = WriteTreeAsTar(root, sink, opts);
        return Ok();
      });
      if (!walked) stats = std::move(walked).error();
    } else {
      stats = WriteTreeAsTar(upper, sink, opts);
    }
    if (mode != Consistency::kNoReboot && running)
      out.frozen_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!stats) {
      if (restart) (void)instances.Start(instance.id);
      return std::move(stats).error().Context("capture " + instance.name);
    }
    out.stats = *stats;
  }
  if (restart) TRY_CTX(instances.Start(instance.id), "start after capture");
  ASSIGN_OR_RETURN(out.blob, w.Finish());
  return out;
}

Result<ImageRecord> NewDerivedImage(const CreateImageRequest& req, const ImageRecord& parent,
                                    std::string source) {
  TRY(ValidateName(req.name, "image"));
  if (req.description.size() > 1024)
    return Error::InvalidArgument("description is longer than 1024 characters");
  for (const auto& [k, v] : req.tags) TRY(ValidateTag(k, v));
  ImageRecord im;
  im.id = NewId("ami-");
  im.name = req.name;
  im.description = req.description;
  im.created_at = NowSeconds();
  im.state = kImagePending;
  im.source = std::move(source);
  im.parent_id = parent.id;
  im.tags = req.tags;
  return im;
}

Result<ImageRecord> CreateImageFromInstance(Context& ctx, InstanceManager& instances,
                                            const CreateImageRequest& req) {
  TRY(ValidateName(req.name, "image"));  // before looking anything up: the clearest error first
  ASSIGN_OR_RETURN(InstanceRecord instance, ctx.catalog->GetInstance(req.instance));
  if (instance.state != kInstanceRunning && instance.state != kInstanceStopped)
    return Error::Conflict("instance " + instance.name + " is " + instance.state);
  ASSIGN_OR_RETURN(ImageRecord parent, ctx.catalog->GetImage(instance.image_id));
  ASSIGN_OR_RETURN(
      ImageRecord im,
      NewDerivedImage(req, parent, "instance:" + instance.id + ":" + ConsistencyName(req.mode)));
  TRY(ctx.catalog->InsertImage(im));  // reserves the name; recovery drops it if kilnd dies
  Consistency mode = req.mode;
  bool flatten = req.flatten;
  ctx.jobs.Spawn([&ctx, &instances, im, parent, instance, mode, flatten] {
    Status st = [&]() -> Status {
      ASSIGN_OR_RETURN(TempDir dir, TempDir::Make(ctx.store->tmp_dir(), "create-"));
      ASSIGN_OR_RETURN(CapturedLayer layer,
                       CaptureInstance(ctx, instances, instance, mode, dir.path(), flatten));
      LogInfo("captured " + instance.name + ": " + std::to_string(layer.stats.entries) +
              " entries, " + std::to_string(layer.blob.size) + " bytes, frozen " +
              std::to_string(layer.frozen_seconds) + " s");
      return FinishImage(ctx, im, parent, layer, instance, mode, dir.path(), flatten);
    }();
    if (!st) {
      LogError("create image " + im.name + ": " + st.error().message());
      (void)ctx.catalog->SetImageState(im.id, kImageFailed, st.error().message());
    } else {
      LogInfo("created image " + im.id + " \"" + im.name + "\" from instance " + instance.id);
    }
  });
  return im;
}

}  // namespace kiln
