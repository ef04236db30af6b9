#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/sha256.h"
#include "layer/compressor.h"
#include "oci/image_spec.h"
#include "oci/media_types.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace kiln::registry {
namespace {

using json = nlohmann::json;

// Counts the bytes a compressor has read, for its progress.
class CountingSource : public ByteSource {
 public:
  CountingSource(ByteSource* in, std::function<Status(uint64_t)> on_read)
      : in_(in), on_read_(std::move(on_read)) {}
  Result<size_t> Read(void* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    count_ += got;
    TRY(on_read_(count_));
    return got;
  }

 private:
  ByteSource* in_;
  std::function<Status(uint64_t)> on_read_;
  uint64_t count_ = 0;
};

std::string CompressedMediaType(Compression c, bool docker) {
  if (c == Compression::kZstd) return std::string(oci::kLayerZstd);
  return std::string(docker ? oci::kDockerLayerGzip : oci::kLayerGzip);
}

struct Pusher {
  Context& ctx;
  Client& client;
  const Reference& dest;
  EventGate& events;
  std::mutex mu;
  int uploaded = 0;
  int skipped = 0;

  void Count(bool up) {
    std::lock_guard lock(mu);
    ++(up ? uploaded : skipped);
  }

  // Makes sure the registry's repository has the blob at path: already there, mounted from a
  // repository kiln pushed it to before, or uploaded.
  Status Ensure(const std::string& events_id, const std::string& digest, const std::string& path,
                uint64_t size) {
    const std::string& repo = dest.repository;
    ASSIGN_OR_RETURN(bool exists, client.BlobExists(repo, digest));
    if (exists) {
      Count(false);
      TRY(events.Changed(events_id, "exists", size, size));
      return ctx.catalog->NoteRegistryBlob(dest.registry, repo, digest);
    }
    ASSIGN_OR_RETURN(auto sources, ctx.catalog->RepositoriesWithBlob(dest.registry, digest));
    int tries = 0;
    for (const auto& from : sources) {
      if (from == repo || ++tries > 2) continue;
      auto mounted = client.MountBlob(repo, digest, from);
      if (mounted && *mounted) {
        Count(false);
        TRY(events.Changed(events_id, "mounted", size, size));
        return ctx.catalog->NoteRegistryBlob(dest.registry, repo, digest);
      }
      if (!mounted)
        LogWarn("push: mount of " + digest + " from " + from +
                " failed: " + mounted.error().message());
    }
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_CLOEXEC));
    TRY(events.Changed(events_id, "uploading", 0, size));
    TRY(client.UploadBlob(repo, digest, fd.get(), size, [&](uint64_t done) {
      (void)events.Progress(events_id, "uploading", std::min(done, size), size);
    }));
    Count(true);
    TRY(events.Changed(events_id, "done", size, size));
    return ctx.catalog->NoteRegistryBlob(dest.registry, repo, digest);
  }

  // Pushes one stored layer, compressed if it is stored as a plain tar. Returns the descriptor
  // the pushed manifest lists for it.
  Result<oci::Descriptor> Layer(const oci::Descriptor& d, Compression c, bool docker) {
    uint64_t size = static_cast<uint64_t>(d.size);
    if (c == Compression::kNone || d.media_type != oci::kLayerTar) {
      TRY(Ensure(d.digest, d.digest, ctx.store->PathOf(d.digest), size));
      return d;
    }
    std::string key = CompressionName(c);
    oci::Descriptor out = d;
    out.media_type = CompressedMediaType(c, docker);
    // Pushed in this form before: if the registry has it, nothing needs compressing.
    ASSIGN_OR_RETURN(auto variant, ctx.catalog->GetLayerVariant(d.digest, key));
    if (variant) {
      ASSIGN_OR_RETURN(bool exists, client.BlobExists(dest.repository, variant->digest));
      if (exists) {
        Count(false);
        TRY(events.Changed(d.digest, "exists", size, size));
        out.digest = variant->digest;
        out.size = static_cast<int64_t>(variant->size);
        TRY(ctx.catalog->NoteRegistryBlob(dest.registry, dest.repository, out.digest));
        return out;
      }
    }
    TRY(events.Changed(d.digest, "compressing", 0, size));
    ASSIGN_OR_RETURN(UniqueFd in, ctx.store->OpenBlob(d.digest));
    FdSource src(in.get());
    CountingSource counted(&src, [&](uint64_t n) {
      return events.Progress(d.digest, "compressing", std::min(n, size), size);
    });
    ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter());
    TRY(Compress(&counted, CompressOptions{c, -1, 0},
                 [&](const void* p, size_t n) { return w.Write(p, n); }));
    ASSIGN_OR_RETURN(StagedBlob staged, w.FinishScratch());
    struct Unlink {
      std::string path;
      ~Unlink() { ::unlink(path.c_str()); }
    } cleanup{staged.path};
    TRY(ctx.catalog->PutLayerVariant(d.digest, key, LayerVariant{staged.digest, staged.size}));
    out.digest = staged.digest;
    out.size = static_cast<int64_t>(staged.size);
    TRY(Ensure(d.digest, staged.digest, staged.path, staged.size));
    return out;
  }
};

}  // namespace

Result<PushResult> PushImage(Context& ctx, const PushRequest& req, const EventFn& on_event) {
  ASSIGN_OR_RETURN(ImageRecord im, ctx.catalog->GetImage(req.image));
  if (im.state != kImageAvailable)
    return Error::Conflict("image " + im.name + " is " + im.state + "; only available images push");
  auto lease = ctx.users.Acquire(im.id);
  ASSIGN_OR_RETURN(Reference dest, ParseReference(req.destination, /*require_registry=*/true));
  ASSIGN_OR_RETURN(std::string mbytes, ctx.store->ReadAll(im.manifest_digest));
  ASSIGN_OR_RETURN(oci::Manifest man, oci::ParseManifest(mbytes));
  bool docker = man.media_type == oci::kDockerManifest;
  if (docker && req.compression == Compression::kZstd)
    for (const auto& l : man.layers)
      if (l.media_type == oci::kLayerTar)
        return Error::InvalidArgument(
            "this image has a Docker v2 manifest, which cannot list zstd layers; push with "
            "--compression gzip");
  Client client(dest.ApiHost(), req.access.credentials, req.access.transport);
  TRY(client.Ping());
  EventGate events(on_event);
  Pusher pusher{ctx, client, dest, events};
  for (const auto& l : man.layers)
    TRY(events.Changed(l.digest, "waiting", 0, static_cast<uint64_t>(l.size)));
  std::vector<oci::Descriptor> pushed(man.layers.size());
  TRY(ForEachParallel(man.layers.size(), req.parallel, [&](size_t i) -> Status {
    ASSIGN_OR_RETURN(pushed[i], pusher.Layer(man.layers[i], req.compression, docker));
    return Ok();
  }));
  TRY(pusher.Ensure(man.config.digest, man.config.digest, ctx.store->PathOf(man.config.digest),
                    static_cast<uint64_t>(man.config.size)));

  // The manifest as stored when no layer changed form, byte for byte; otherwise the same
  // document with the pushed layer descriptors.
  std::string out = mbytes;
  bool changed = false;
  for (size_t i = 0; i < pushed.size(); ++i)
    changed = changed || pushed[i].digest != man.layers[i].digest;
  if (changed) {
    json j = json::parse(mbytes);
    for (size_t i = 0; i < pushed.size(); ++i) {
      j["layers"][i]["mediaType"] = pushed[i].media_type;
      j["layers"][i]["digest"] = pushed[i].digest;
      j["layers"][i]["size"] = pushed[i].size;
    }
    out = j.dump();
  }
  std::string digest = DigestOf(out);
  if (!dest.digest.empty() && dest.digest != digest)
    return Error::InvalidArgument("the pushed manifest would be " + digest + ", not " +
                                  dest.digest + " as the destination names");
  std::string media_type = man.media_type.empty() ? std::string(oci::kManifest) : man.media_type;
  TRY(client.PutManifest(dest.repository, dest.tag.empty() ? digest : dest.tag, media_type, out));
  PushResult r;
  Reference pushed_ref = dest;
  pushed_ref.digest = digest;
  r.reference = pushed_ref.String();
  r.manifest_digest = digest;
  r.manifest_size = out.size();
  r.blobs_uploaded = pusher.uploaded;
  r.blobs_skipped = pusher.skipped;
  LogInfo("pushed image " + im.id + " \"" + im.name + "\" to " + r.reference + " (" +
          std::to_string(r.blobs_uploaded) + " blobs uploaded, " + std::to_string(r.blobs_skipped) +
          " already there)");
  return r;
}

}  // namespace kiln::registry
