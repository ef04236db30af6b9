#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/sha256.h"
#include "image/importer.h"
#include "oci/image_spec.h"
#include "oci/media_types.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace kiln::registry {
namespace {

constexpr uint64_t kMaxJsonDoc = 4 << 20;
constexpr int kBlobAttempts = 6;

// A downloaded blob, still locked so gc leaves it alone until the image is published.
struct Download {
  UniqueFd lock;
  StagedBlob blob;
  bool already_stored = false;
};

// Opens and locks <partial>/<hex>; makes sure the file locked is still the one at that path
// (another pull may have published it, renaming it into the store, while this one waited).
Result<UniqueFd> LockPartial(const std::string& path) {
  for (;;) {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (::flock(fd.get(), LOCK_EX) != 0) return Error::Sys(errno, "lock " + path);
    struct stat held {
    }, named{};
    if (::fstat(fd.get(), &held) != 0) return Error::Sys(errno, "stat " + path);
    if (::stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev)
      return fd;
  }
}

// Downloads one blob into the partial dir, continuing a previous attempt, and checks it.
Result<Download> FetchBlob(Context& ctx, Client& client, const std::string& repo,
                           const oci::Descriptor& d, EventGate& events) {
  std::string path = JoinPath(ctx.store->partial_dir(), DigestHex(d.digest));
  uint64_t total = static_cast<uint64_t>(d.size);
  ASSIGN_OR_RETURN(UniqueFd fd, LockPartial(path));
  if (ctx.store->Has(d.digest)) {  // a concurrent pull stored it while this one waited
    ::unlink(path.c_str());
    return Download{UniqueFd(), StagedBlob{ctx.store->PathOf(d.digest), d.digest, total}, true};
  }
  struct stat sb {};
  if (::fstat(fd.get(), &sb) != 0) return Error::Sys(errno, "stat " + path);
  uint64_t have = static_cast<uint64_t>(sb.st_size);
  auto restart = [&]() -> Status {
    if (::ftruncate(fd.get(), 0) != 0) return Error::Sys(errno, "truncate " + path);
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) return Error::Sys(errno, "seek " + path);
    have = 0;
    return Ok();
  };
  if (have > total) TRY(restart());
  auto hash = std::make_unique<Sha256>();
  if (have > 0) {  // what an earlier attempt kept counts only once it hashes with the rest
    std::vector<char> buf(1 << 20);
    uint64_t off = 0;
    while (off < have) {
      ASSIGN_OR_RETURN(size_t n,
                       ReadFull(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), have - off)));
      if (n == 0) break;
      hash->Update(buf.data(), n);
      off += n;
    }
    have = off;
    LogInfo("pull: resuming " + d.digest + " at " + std::to_string(have) + " of " +
            std::to_string(total) + " bytes");
    TRY(events.Changed(d.digest, "resuming", have, total));
  }
  bool resumed = have > 0;
  for (int attempt = 0;;) {
    uint64_t before = have;
    Sink sink = [&](const char* p, size_t n) -> Status {
      if (have + n > total)
        return Error::Corruption("registry sent more bytes for blob " + d.digest +
                                 " than its descriptor's size " + std::to_string(total));
      TRY(WriteFull(fd.get(), p, n));
      hash->Update(p, n);
      have += n;
      return events.Progress(d.digest, "downloading", have, total);
    };
    Result<bool> got =
        have == total ? Result<bool>(true) : client.GetBlob(repo, d.digest, have, sink);
    if (got && !*got) {  // the registry ignored our range: start over from byte 0
      if (before == 0) return Error(ErrorCode::kIO, "registry refused to send blob " + d.digest);
      TRY(restart());
      hash = std::make_unique<Sha256>();
      continue;
    }
    if (!got) {
      if (got.error().code() != ErrorCode::kIO || ++attempt >= kBlobAttempts)
        return std::move(got).error();
      LogWarn("pull: " + got.error().message() + "; continuing from byte " + std::to_string(have));
      std::this_thread::sleep_for(std::chrono::milliseconds(250 << std::min(attempt, 4)));
      continue;
    }
    if (have < total) {
      if (++attempt >= kBlobAttempts)
        return Error(ErrorCode::kIO, "registry ended blob " + d.digest + " after " +
                                         std::to_string(have) + " of " + std::to_string(total) +
                                         " bytes");
      continue;
    }
    std::string digest = "sha256:" + hash->HexDigest();
    if (digest != d.digest) {
      if (resumed) {  // the part kept from before may be what is wrong: fetch it all once more
        LogWarn("pull: " + d.digest + " did not verify after resuming; downloading it again");
        resumed = false;
        TRY(restart());
        hash = std::make_unique<Sha256>();
        continue;
      }
      ::unlink(path.c_str());
      return Error::Corruption("registry " + client.host() + " sent blob " + d.digest +
                               " whose content hashes to " + digest + "; nothing was stored");
    }
    break;
  }
  TRY(FsyncFd(fd.get(), path));
  TRY(events.Changed(d.digest, "downloaded", total, total));
  return Download{std::move(fd), StagedBlob{path, d.digest, total}, false};
}

// A small JSON blob (config) fetched into memory and checked.
Result<std::string> FetchSmallBlob(Context& ctx, Client& client, const std::string& repo,
                                   const oci::Descriptor& d, std::string_view what) {
  if (d.size < 0 || static_cast<uint64_t>(d.size) > kMaxJsonDoc)
    return Error::InvalidArgument(std::string(what) + " " + d.digest + " is too large");
  if (ctx.store->Has(d.digest)) return ctx.store->ReadAll(d.digest);
  std::string data;
  Sink sink = [&](const char* p, size_t n) -> Status {
    if (data.size() + n > static_cast<uint64_t>(d.size))
      return Error::Corruption(std::string(what) + " " + d.digest +
                               " is larger than its descriptor says");
    data.append(p, n);
    return Ok();
  };
  ASSIGN_OR_RETURN(bool whole, client.GetBlob(repo, d.digest, 0, sink));
  (void)whole;
  if (DigestOf(data) != d.digest)
    return Error::Corruption("registry " + client.host() + " sent " + std::string(what) + " " +
                             d.digest + " whose content hashes to " + DigestOf(data));
  return data;
}

std::string DefaultName(const Reference& ref) {
  std::string base = ref.repository.substr(ref.repository.rfind('/') + 1);
  if (!ref.tag.empty()) return base + "-" + ref.tag;
  return base + "-" + ShortDigest(ref.digest);
}

// Resolves an index (multi-platform image) to the manifest for this host.
Result<FetchedManifest> ResolvePlatform(Client& client, const Reference& ref, FetchedManifest m) {
  for (int depth = 0; oci::IsIndexMediaType(m.media_type); ++depth) {
    if (depth > 3) return Error::InvalidArgument("image index nests too deeply");
    ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(m.bytes));
    std::optional<oci::Descriptor> match;
    std::string offered;
    for (const auto& d : index.manifests) {
      if (!d.platform) continue;
      offered += (offered.empty() ? "" : ", ") + d.platform->os + "/" + d.platform->architecture;
      if (d.platform->os == "linux" && d.platform->architecture == oci::HostArchitecture() &&
          !match)
        match = d;
    }
    if (!match)
      return Error::NotFound(ref.String() + " has no image for linux/" + oci::HostArchitecture() +
                             (offered.empty() ? "" : " (it has: " + offered + ")"));
    ASSIGN_OR_RETURN(m, client.GetManifest(ref.repository, match->digest));
    if (static_cast<int64_t>(m.bytes.size()) != match->size)
      return Error::Corruption("manifest " + match->digest + " has size " +
                               std::to_string(m.bytes.size()) + ", the index says " +
                               std::to_string(match->size));
  }
  if (!oci::IsManifestMediaType(m.media_type))
    return Error::Unsupported(ref.String() + " is a \"" + m.media_type +
                              "\", not an image manifest kiln can pull");
  return m;
}

}  // namespace

Result<ImageRecord> PullImage(Context& ctx, const PullRequest& req, const EventFn& on_event) {
  ASSIGN_OR_RETURN(Reference ref, ParseReference(req.reference));
  std::string name = req.name.empty() ? DefaultName(ref) : req.name;
  auto named = ValidateName(name, "image");
  if (!named && req.name.empty())
    return std::move(named).error().Context("cannot derive an image name; give one with --name");
  TRY(named);
  for (const auto& [k, v] : req.tags) TRY(ValidateTag(k, v));
  if (auto existing = ctx.catalog->GetImage(name))
    return Error::AlreadyExists("an image named \"" + name + "\" already exists (" + existing->id +
                                ")");
  EventGate events(on_event);
  Client client(ref.ApiHost(), req.access.credentials, req.access.transport);
  ASSIGN_OR_RETURN(FetchedManifest top, client.GetManifest(ref.repository, ref.ManifestRef()));
  ASSIGN_OR_RETURN(FetchedManifest m, ResolvePlatform(client, ref, std::move(top)));
  ASSIGN_OR_RETURN(oci::Manifest man, oci::ParseManifest(m.bytes));
  ASSIGN_OR_RETURN(std::string cdoc,
                   FetchSmallBlob(ctx, client, ref.repository, man.config, "config"));
  ASSIGN_OR_RETURN(oci::ImageConfig cfg, oci::ParseConfig(cdoc));
  if (cfg.os != "linux" || cfg.architecture != oci::HostArchitecture())
    return Error::Unsupported(ref.String() + " is built for " + cfg.os + "/" + cfg.architecture +
                              "; this host runs linux/" + oci::HostArchitecture());
  if (cfg.diff_ids.size() != man.layers.size())
    return Error::InvalidArgument("manifest lists " + std::to_string(man.layers.size()) +
                                  " layers but the config lists " +
                                  std::to_string(cfg.diff_ids.size()) + " diff_ids");
  for (const auto& l : man.layers)
    if (!oci::IsLayerMediaType(l.media_type))
      return Error::Unsupported("layer " + l.digest + " has media type \"" + l.media_type +
                                "\", which kiln cannot unpack");

  // Each distinct blob is fetched once, even when the manifest lists it twice.
  std::vector<size_t> unique;
  std::set<std::string> seen;
  for (size_t i = 0; i < man.layers.size(); ++i)
    if (seen.insert(man.layers[i].digest).second) unique.push_back(i);
  for (size_t i : unique)
    TRY(events.Changed(man.layers[i].digest, "waiting", 0,
                       static_cast<uint64_t>(man.layers[i].size)));
  std::map<std::string, Download> downloads;
  std::mutex downloads_mu;
  TRY(ForEachParallel(unique.size(), req.parallel, [&](size_t u) -> Status {
    size_t i = unique[u];
    const oci::Descriptor& d = man.layers[i];
    uint64_t size = static_cast<uint64_t>(d.size);
    Download dl;
    if (ctx.store->Has(d.digest)) {
      ASSIGN_OR_RETURN(auto known, ctx.catalog->DiffIdOfLayer(d.digest));
      dl.blob = StagedBlob{ctx.store->PathOf(d.digest), d.digest, size};
      dl.already_stored = true;
      if (known && *known == cfg.diff_ids[i]) {
        TRY(events.Changed(d.digest, "exists", size, size));
        std::lock_guard lock(downloads_mu);
        downloads[d.digest] = std::move(dl);
        return Ok();
      }
    } else {
      ASSIGN_OR_RETURN(dl, FetchBlob(ctx, client, ref.repository, d, events));
    }
    TRY(events.Changed(d.digest, "verifying", size, size));
    auto checked = CheckStagedLayer(dl.blob, cfg.diff_ids[i], i);
    if (!checked) {
      if (!dl.already_stored) ::unlink(dl.blob.path.c_str());  // verified bytes, bad content
      return std::move(checked).error();
    }
    TRY(events.Changed(d.digest, dl.already_stored ? "exists" : "done", size, size));
    std::lock_guard lock(downloads_mu);
    downloads[d.digest] = std::move(dl);
    return Ok();
  }));

  ImageRecord im;
  im.id = NewId("ami-");
  im.name = name;
  im.created_at = NowSeconds();
  im.tags = req.tags;
  im.tags["kiln:source"] = ref.String();
  im.source = "registry";
  for (size_t i = 0; i < man.layers.size(); ++i) {
    const auto& d = man.layers[i];
    im.layers.push_back({d.digest, cfg.diff_ids[i], d.media_type, static_cast<uint64_t>(d.size)});
  }
  std::vector<StagedBlob> staged;
  for (auto& [digest, dl] : downloads)
    if (!dl.already_stored) staged.push_back(dl.blob);
  ASSIGN_OR_RETURN(TempDir op, TempDir::Make(ctx.store->tmp_dir(), "pull-"));
  for (const std::string* doc : {&cdoc, &m.bytes}) {
    ASSIGN_OR_RETURN(BlobWriter w, ctx.store->NewWriter(op.path()));
    TRY(w.Write(doc->data(), doc->size()));
    ASSIGN_OR_RETURN(StagedBlob b, w.Finish());
    staged.push_back(b);
  }
  im.config_digest = man.config.digest;
  im.manifest_digest = m.digest;
  im.manifest_size = m.bytes.size();
  TRY(PublishImage(ctx, staged, im));
  for (const auto& l : im.layers)
    (void)ctx.catalog->NoteRegistryBlob(ref.registry, ref.repository, l.digest);
  (void)ctx.catalog->NoteRegistryBlob(ref.registry, ref.repository, im.config_digest);
  LogInfo("pulled image " + im.id + " \"" + im.name + "\" from " + ref.String() + " (" + m.digest +
          ", " + std::to_string(im.layers.size()) + " layers)");
  return im;
}

}  // namespace kiln::registry
