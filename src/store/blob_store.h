// store: content-addressed blobs under <root>/blobs/sha256/<hex>.
//
// Blobs are written to a temp file under <root>/tmp (or <root>/partial for resumable downloads)
// while being hashed, fsynced, and only then renamed into place with RENAME_NOREPLACE: a name under
// blobs/ always holds complete content that matches it, and an existing blob is never overwritten
// (EEXIST means "already stored"). Layout and crash rules: docs/storage.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/sha256.h"
#include "base/unique_fd.h"

namespace kiln {

// A blob written and synced to a temp file, not yet visible in the store.
struct StagedBlob {
  std::string path;
  std::string digest;  // "sha256:<hex>"
  uint64_t size = 0;
};

class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) = default;
  BlobWriter& operator=(BlobWriter&&) = default;
  ~BlobWriter();

  Status Write(const void* data, size_t n);
  uint64_t size() const { return size_; }
  // Syncs the temp file and returns it with its digest; the writer is done afterwards. If
  // expected_digest is given and differs, the temp file is removed and Corruption returned.
  Result<StagedBlob> Finish(const std::optional<std::string>& expected_digest = std::nullopt);
  // The same without the sync, for scratch files that are read back and removed but never
  // published (a layer compressed for a push): a crash loses nothing that was stored.
  Result<StagedBlob> FinishScratch();

 private:
  friend class BlobStore;
  BlobWriter(UniqueFd fd, std::string path);

  UniqueFd fd_;
  std::string path_;
  std::unique_ptr<Sha256> hash_;
  uint64_t size_ = 0;
  bool finished_ = false;
};

class BlobStore {
 public:
  // Creates <root>/blobs/sha256 and <root>/tmp when missing.
  static Result<BlobStore> Open(const std::string& root);

  // A writer whose temp file lives in dir (which must be on the store's file system); by
  // default the store's own tmp dir.
  Result<BlobWriter> NewWriter(const std::string& dir = "");
  // Moves a staged blob into place. Already stored is success (the staged copy is dropped).
  // Call SyncBlobsDir once after a batch to make the renames durable.
  Status Publish(const StagedBlob& blob);
  Status SyncBlobsDir();

  bool Has(const std::string& digest) const;
  Result<uint64_t> Size(const std::string& digest) const;
  Result<UniqueFd> OpenBlob(const std::string& digest) const;
  Result<std::string> ReadAll(const std::string& digest) const;
  // Re-hashes the stored content; Corruption when it no longer matches its name.
  Status Verify(const std::string& digest) const;
  Status Remove(const std::string& digest);
  // Every stored digest, sorted.
  Result<std::vector<std::string>> List() const;

  std::string PathOf(const std::string& digest) const;
  const std::string& tmp_dir() const { return tmp_dir_; }
  // Downloads in progress (registry pulls), kept across restarts so a pull can resume; each
  // file is named by the digest it will have and is flock()ed while a pull writes it.
  const std::string& partial_dir() const { return partial_dir_; }

 private:
  BlobStore(std::string blobs_dir, std::string tmp_dir, std::string partial_dir)
      : blobs_dir_(std::move(blobs_dir)),
        tmp_dir_(std::move(tmp_dir)),
        partial_dir_(std::move(partial_dir)) {}
  std::string blobs_dir_;
  std::string tmp_dir_;
  std::string partial_dir_;
};

}  // namespace kiln
