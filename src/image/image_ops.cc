#include "image/image_ops.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "image/importer.h"
#include "oci/image_spec.h"

namespace kiln {

using json = nlohmann::json;

json ImageToJson(Context& ctx, const ImageRecord& im, bool details) {
  uint64_t size = 0;
  for (const auto& l : im.layers) size += l.size;
  json j = {{"id", im.id},
            {"name", im.name},
            {"description", im.description},
            {"created", FormatTime(im.created_at)},
            {"state", im.state},
            {"size", size},
            {"layer_count", im.layers.size()},
            {"manifest_digest", im.manifest_digest},
            {"tags", im.tags}};
  if (!im.state_reason.empty()) j["state_reason"] = im.state_reason;
  if (im.frozen_ms) j["frozen_seconds"] = static_cast<double>(*im.frozen_ms) / 1000.0;
  if (!details) return j;
  j["config_digest"] = im.config_digest;
  j["source"] = im.source;
  j["parent"] = im.parent_id ? json(*im.parent_id) : json(nullptr);
  json layers = json::array();
  for (const auto& l : im.layers)
    layers.push_back({{"digest", l.digest},
                      {"diff_id", l.diff_id},
                      {"media_type", l.media_type},
                      {"size", l.size}});
  j["layers"] = layers;
  if (auto cfg = ctx.store->ReadAll(im.config_digest)) {
    json c = json::parse(*cfg, nullptr, false);
    if (!c.is_discarded()) {
      j["architecture"] = c.value("architecture", "");
      j["os"] = c.value("os", "");
      j["config"] = c.contains("config") ? c["config"] : json::object();
      j["history"] = c.contains("history") ? c["history"] : json::array();
    }
  }
  // Lineage: the chain of parents, nearest first.
  json lineage = json::array();
  std::optional<std::string> parent = im.parent_id;
  for (int depth = 0; parent && depth < 1000; ++depth) {
    auto p = ctx.catalog->GetImage(*parent);
    if (!p) {
      lineage.push_back({{"id", *parent}, {"name", nullptr}});
      break;
    }
    lineage.push_back({{"id", p->id}, {"name", p->name}});
    parent = p->parent_id;
  }
  j["lineage"] = lineage;
  return j;
}

Result<ImageRecord> TagImage(Context& ctx, const std::string& ref,
                             const std::map<std::string, std::string>& set,
                             const std::vector<std::string>& remove) {
  ASSIGN_OR_RETURN(ImageRecord im, ctx.catalog->GetImage(ref));
  for (const auto& [k, v] : set) TRY(ValidateTag(k, v));
  TRY(ctx.catalog->UpdateTags(im.id, set, remove));
  return ctx.catalog->GetImage(im.id);
}

Result<ImageRecord> RemoveImage(Context& ctx, const std::string& ref) {
  ASSIGN_OR_RETURN(ImageRecord im, ctx.catalog->GetImage(ref));
  if (im.state == kImagePending)
    return Error::Busy("image " + im.name + " (" + im.id + ") is still being created");
  ASSIGN_OR_RETURN(int instances, ctx.catalog->CountLiveInstancesOf(im.id));
  if (instances > 0)
    return Error::Busy("image " + im.name + " (" + im.id + ") is used by " +
                       std::to_string(instances) + " instance(s); terminate them first");
  if (ctx.users.InUse(im.id))
    return Error::Busy("image " + im.name + " (" + im.id + ") is in use by a running export");
  TRY(ctx.catalog->DeleteImage(im.id));
  LogInfo("removed image " + im.id + " \"" + im.name + "\"");
  return im;
}

Result<VerifyReport> VerifyImages(Context& ctx, const std::string& ref) {
  std::vector<ImageRecord> images;
  if (ref.empty()) {
    ASSIGN_OR_RETURN(images, ctx.catalog->ListImages());
  } else {
    ASSIGN_OR_RETURN(ImageRecord im, ctx.catalog->GetImage(ref));
    images.push_back(std::move(im));
  }
  VerifyReport report;
  std::map<std::string, Status> checked;  // a blob shared by images is hashed once
  for (const auto& im : images) {
    if (im.state != kImageAvailable) continue;
    ++report.images;
    auto check = [&](const std::string& digest) {
      auto it = checked.find(digest);
      if (it == checked.end()) {
        it = checked.emplace(digest, ctx.store->Verify(digest)).first;
        ++report.blobs;
      }
      if (!it->second)
        report.problems.push_back({im.id, im.name, digest, it->second.error().message()});
      return bool(it->second);
    };
    bool manifest_ok = check(im.manifest_digest);
    check(im.config_digest);
    for (const auto& l : im.layers) check(l.digest);
    if (!manifest_ok) continue;
    // The manifest must still describe what the catalog says the image is.
    auto doc = ctx.store->ReadAll(im.manifest_digest);
    auto m = doc ? oci::ParseManifest(*doc) : Result<oci::Manifest>(doc.error());
    if (!m) {
      report.problems.push_back({im.id, im.name, im.manifest_digest, m.error().message()});
      continue;
    }
    bool same = m->config.digest == im.config_digest && m->layers.size() == im.layers.size();
    for (size_t i = 0; same && i < im.layers.size(); ++i)
      same = m->layers[i].digest == im.layers[i].digest;
    if (!same)
      report.problems.push_back(
          {im.id, im.name, im.manifest_digest, "manifest does not match the catalog's layer list"});
  }
  return report;
}

Result<GcReport> CollectGarbage(Context& ctx, bool drop_partials) {
  std::unique_lock guard(ctx.publish_mu);
  ASSIGN_OR_RETURN(auto referenced, ctx.catalog->ReferencedDigests());
  ASSIGN_OR_RETURN(auto stored, ctx.store->List());
  GcReport report;
  for (const auto& d : stored) {
    if (referenced.count(d)) continue;
    auto size = ctx.store->Size(d);
    TRY(ctx.store->Remove(d));
    ++report.removed;
    if (size) report.bytes += *size;
  }
  ASSIGN_OR_RETURN(auto diff_ids, ctx.catalog->ReferencedDiffIds());
  ASSIGN_OR_RETURN(report.unpacked_removed, ctx.layers->Prune(diff_ids));
  if (drop_partials) {
    ASSIGN_OR_RETURN(auto partials, ListDir(ctx.store->partial_dir()));
    for (const auto& name : partials) {
      std::string path = JoinPath(ctx.store->partial_dir(), name);
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a pull is using it
      struct stat sb {};
      if (::fstat(fd.get(), &sb) == 0) report.bytes += static_cast<uint64_t>(sb.st_size);
      if (::unlink(path.c_str()) == 0) ++report.partials_removed;
    }
  }
  if (report.removed > 0) {
    TRY(ctx.store->SyncBlobsDir());
    LogInfo("gc removed " + std::to_string(report.removed) + " blobs (" +
            std::to_string(report.bytes) + " bytes)");
  }
  return report;
}

Status RecoverAfterCrash(Context& ctx) {
  ASSIGN_OR_RETURN(auto images, ctx.catalog->ListImages());
  for (const auto& im : images) {
    if (im.state != kImagePending) continue;
    LogWarn("recovery: removing image " + im.id + " \"" + im.name +
            "\" left pending by an interrupted operation");
    TRY(ctx.catalog->DeleteImage(im.id));
  }
  ASSIGN_OR_RETURN(auto leftovers, ListDir(ctx.store->tmp_dir()));
  for (const auto& name : leftovers) {
    LogWarn("recovery: removing leftover " + name + " from tmp/");
    TRY(RemoveAll(JoinPath(ctx.store->tmp_dir(), name)));
  }
  auto gc = CollectGarbage(ctx, /*drop_partials=*/false);
  if (!gc) return std::move(gc).error().Context("recovery gc");
  return Ok();
}

}  // namespace kiln
