// image: bringing images in. One entry point takes the uploaded bytes of any supported source
// (rootfs tarball, OCI image layout as tar, docker/podman save archive) and makes one image.
//
// Nothing becomes visible until everything is verified: the upload is spooled to a private temp
// dir, every blob is hashed and checked against its digest, every layer tar is checked entry by
// entry, and only then is a pending catalog record written, the blobs renamed into the store and
// the record marked available. A crash at any point leaves at most a pending record and unnamed
// blobs, which kilnd's start-up recovery removes.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "base/fs.h"
#include "catalog/catalog.h"
#include "context/context.h"
#include "layer/byte_source.h"

namespace kiln {

struct ImportRequest {
  std::string name;
  std::string description;
  std::string ref;          // which image of a multi-image archive
  std::string source_name;  // for the history entry, e.g. the file name the user gave
  std::map<std::string, std::string> tags;
};

// One import: Begin checks the request (name free, tags valid) before any bytes arrive, Write
// takes the upload as it comes, Finish verifies everything and publishes the image.
class ImportJob {
 public:
  static Result<std::unique_ptr<ImportJob>> Begin(Context& ctx, ImportRequest req);
  Status Write(const void* data, size_t n);
  Result<ImageRecord> Finish();

 private:
  ImportJob(Context& ctx, ImportRequest req, TempDir dir, BlobWriter spool)
      : ctx_(ctx), req_(std::move(req)), dir_(std::move(dir)), spool_(std::move(spool)) {}
  Context& ctx_;
  ImportRequest req_;
  TempDir dir_;
  BlobWriter spool_;
};

// Convenience for callers with a pull stream (tests, local tools).
Result<ImageRecord> ImportImage(Context& ctx, ByteSource* upload, const ImportRequest& req);

// For sources that stage an image's blobs themselves (registry pulls):
// Scans a staged layer (every entry safe, diff_id as the config says; index is for messages).
Result<LayerRecord> CheckStagedLayer(const StagedBlob& b, const std::string& expected_diff_id,
                                     size_t index);
// Makes an image visible: a pending record, the staged blobs renamed into the store, the record
// marked available. Blobs im refers to that are not staged must already be stored.
Status PublishImage(Context& ctx, const std::vector<StagedBlob>& staged, ImageRecord& im);

// Checks tag keys and values (EC2 rules: key 1-128 chars, value up to 256, no "kiln:" prefix).
Status ValidateTag(const std::string& key, const std::string& value);

}  // namespace kiln
