// image: snapshots, the backups of an instance: its change set (upper dir) captured as one layer
// blob, restorable any number of times, in any order, and convertible into an image.
#pragma once

#include <string>

#include "catalog/catalog.h"
#include "context/context.h"
#include "image/capture.h"
#include "instance/instance_manager.h"

namespace kiln {

Result<SnapshotRecord> CreateSnapshot(Context& ctx, InstanceManager& instances,
                                      const std::string& instance, const std::string& name,
                                      Consistency mode);
// Returns the instance to exactly the snapshot's state; its id, name and type stay.
Result<InstanceRecord> RestoreSnapshot(Context& ctx, InstanceManager& instances,
                                       const std::string& instance, const std::string& snapshot);
Status RemoveSnapshot(Context& ctx, const std::string& snapshot);
// The instance's image's layers plus the snapshot's layer, as a new available image.
Result<ImageRecord> CreateImageFromSnapshot(Context& ctx, const std::string& snapshot,
                                            const CreateImageRequest& req);

}  // namespace kiln
