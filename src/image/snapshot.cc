#include "image/snapshot.h"

#include <fcntl.h>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "image/importer.h"
#include "layer/byte_source.h"
#include "rootfs/layer_unpacker.h"

namespace kiln {

Result<SnapshotRecord> CreateSnapshot(Context& ctx, InstanceManager& instances,
                                      const std::string& instance, const std::string& name,
                                      Consistency mode) {
  if (!name.empty()) TRY(ValidateName(name, "snapshot"));
  ASSIGN_OR_RETURN(InstanceRecord in, ctx.catalog->GetInstance(instance));
  if (in.state != kInstanceRunning && in.state != kInstanceStopped)
    return Error::Conflict("instance " + in.name + " is " + in.state);
  if (!name.empty()) {
    if (auto dup = ctx.catalog->GetSnapshot(name))
      return Error::AlreadyExists("a snapshot named \"" + name + "\" already exists (" + dup->id +
                                  ")");
  }
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Make(ctx.store->tmp_dir(), "snapshot-"));
  ASSIGN_OR_RETURN(CapturedLayer layer, CaptureInstance(ctx, instances, in, mode, dir.path()));
  SnapshotRecord snap;
  snap.id = NewId("snap-");
  snap.name = name;
  snap.instance_id = in.id;
  snap.digest = layer.blob.digest;
  snap.size = layer.blob.size;
  snap.consistency = ConsistencyName(mode);
  snap.created_at = NowSeconds();
  {
    // Published and recorded under one hold of the lock gc takes: gc never sees the blob alone.
    std::shared_lock gc_guard(ctx.publish_mu);
    TRY(ctx.store->Publish(layer.blob));
    TRY(ctx.store->SyncBlobsDir());
    TRY(ctx.catalog->InsertSnapshot(snap));
  }
  LogInfo("snapshot " + snap.id + " of " + in.name + ": " + std::to_string(snap.size) +
          " bytes, frozen " + std::to_string(layer.frozen_seconds) + " s");
  return snap;
}

Result<InstanceRecord> RestoreSnapshot(Context& ctx, InstanceManager& instances,
                                       const std::string& instance, const std::string& snapshot) {
  ASSIGN_OR_RETURN(InstanceRecord in, ctx.catalog->GetInstance(instance));
  ASSIGN_OR_RETURN(SnapshotRecord snap, ctx.catalog->GetSnapshot(snapshot));
  if (snap.instance_id != in.id)
    return Error::Conflict("snapshot " + snap.id + " belongs to instance " + snap.instance_id +
                           ", not " + in.name);
  auto restored = instances.ReplaceUpper(in.id, [&](const std::string& upper) -> Status {
    ASSIGN_OR_RETURN(UniqueFd blob, ctx.store->OpenBlob(snap.digest));
    FdSource src(blob.get());
    auto stats = UnpackLayer(&src, upper);
    if (!stats) return std::move(stats).error().Context("unpack snapshot " + snap.id);
    return Ok();
  });
  if (restored) LogInfo("restored " + in.name + " to snapshot " + snap.id);
  return restored;
}

Status RemoveSnapshot(Context& ctx, const std::string& snapshot) {
  ASSIGN_OR_RETURN(SnapshotRecord snap, ctx.catalog->GetSnapshot(snapshot));
  return ctx.catalog->DeleteSnapshot(snap.id);
}

Result<ImageRecord> CreateImageFromSnapshot(Context& ctx, const std::string& snapshot,
                                            const CreateImageRequest& req) {
  TRY(ValidateName(req.name, "image"));
  ASSIGN_OR_RETURN(SnapshotRecord snap, ctx.catalog->GetSnapshot(snapshot));
  ASSIGN_OR_RETURN(InstanceRecord in, ctx.catalog->GetInstance(snap.instance_id));
  ASSIGN_OR_RETURN(ImageRecord parent, ctx.catalog->GetImage(in.image_id));
  ASSIGN_OR_RETURN(ImageRecord im, NewDerivedImage(req, parent, "snapshot:" + snap.id));
  TRY(ctx.catalog->InsertImage(im));
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Make(ctx.store->tmp_dir(), "from-snapshot-"));
  CapturedLayer layer;
  layer.blob = {"", snap.digest, snap.size};  // already in the store
  Consistency mode = Consistency::kFreeze;
  if (auto m = ParseConsistency(snap.consistency)) mode = *m;
  Status st = FinishImage(ctx, im, parent, layer, in, mode, dir.path());
  if (!st) {
    (void)ctx.catalog->DeleteImage(im.id);
    return std::move(st).error().Context("create image from snapshot " + snap.id);
  }
  return ctx.catalog->GetImage(im.id);
}

}  // namespace kiln
