// image: turning what an instance changed into a new image. The instance's overlay upper dir is
// exactly its change set; it is written as one OCI layer (overlay whiteouts and opaque dirs
// become OCI ones), on top of the source image's layers. Cost follows the change, not the image.
#pragma once

#include <map>
#include <string>

#include "catalog/catalog.h"
#include "context/context.h"
#include "instance/instance_manager.h"
#include "layer/tree_writer.h"

namespace kiln {

// freeze: processes frozen for the capture (crash-consistent, the default); stop: stopped cleanly
// and started again (application-consistent); no-reboot: captured live (fastest, no guarantee).
enum class Consistency { kFreeze, kStop, kNoReboot };
Result<Consistency> ParseConsistency(const std::string& s);
const char* ConsistencyName(Consistency c);

struct CapturedLayer {
  StagedBlob blob;  // uncompressed tar: digest == diff_id
  TreeWriteStats stats;
  double frozen_seconds = 0;  // how long the instance was frozen or stopped
};

// Writes the instance's changes as a staged layer blob in dir.
// flatten: the whole merged filesystem instead of the change set.
Result<CapturedLayer> CaptureInstance(Context& ctx, InstanceManager& instances,
                                      const InstanceRecord& instance, Consistency mode,
                                      const std::string& dir, bool flatten = false);

// What a capture leaves out: instance-specific files that must never be baked into an image.
const std::set<std::string>& InstanceSpecificPaths();

struct CreateImageRequest {
  std::string instance;
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
  Consistency mode = Consistency::kFreeze;
  bool flatten = false;  // one merged layer instead of the source's layers + the change
};

// Builds the new image's config and manifest over parent's layers plus layer, publishes them (and
// the layer when it is staged) and completes the pending record im.
// flatten: layer replaces parent's layers instead of going on top of them.
Status FinishImage(Context& ctx, ImageRecord im, const ImageRecord& parent,
                   const CapturedLayer& layer, const InstanceRecord& instance, Consistency mode,
                   const std::string& dir, bool flatten = false);

// A new pending image record over parent (validated, not yet inserted).
Result<ImageRecord> NewDerivedImage(const CreateImageRequest& req, const ImageRecord& parent,
                                    std::string source);

// Validates, records the image as pending and returns it at once; the capture runs as a
// background job that makes the image available, or failed with the reason.
Result<ImageRecord> CreateImageFromInstance(Context& ctx, InstanceManager& instances,
                                            const CreateImageRequest& req);

}  // namespace kiln
