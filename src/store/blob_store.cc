#include "store/blob_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "base/fs.h"

namespace kiln {

BlobWriter::BlobWriter(UniqueFd fd, std::string path)
    : fd_(std::move(fd)), path_(std::move(path)), hash_(std::make_unique<Sha256>()) {}

BlobWriter::~BlobWriter() {
  if (!finished_ && !path_.empty()) ::unlink(path_.c_str());
}

Status BlobWriter::Write(const void* data, size_t n) {
  hash_->Update(data, n);
  size_ += n;
  return WriteFull(fd_.get(), data, n);
}

Result<StagedBlob> BlobWriter::Finish(const std::optional<std::string>& expected_digest) {
  StagedBlob blob{path_, "sha256:" + hash_->HexDigest(), size_};
  if (expected_digest && *expected_digest != blob.digest)
    return Error::Corruption("content does not match its digest: expected " + *expected_digest +
                             ", got " + blob.digest);
  TRY(FsyncFd(fd_.get(), path_));
  fd_.reset();
  finished_ = true;
  return blob;
}

Result<StagedBlob> BlobWriter::FinishScratch() {
  StagedBlob blob{path_, "sha256:" + hash_->HexDigest(), size_};
  fd_.reset();
  finished_ = true;
  return blob;
}

Result<BlobStore> BlobStore::Open(const std::string& root) {
  std::string blobs = JoinPath(root, "blobs/sha256");
  std::string tmp = JoinPath(root, "tmp");
  TRY(MakeDirs(blobs, 0700));
  std::string partial = JoinPath(root, "partial");
  TRY(MakeDirs(tmp, 0700));
  TRY(MakeDirs(partial, 0700));
  return BlobStore(blobs, tmp, partial);
}

Result<BlobWriter> BlobStore::NewWriter(const std::string& dir) {
  std::string tmpl = JoinPath(dir.empty() ? tmp_dir_ : dir, "blob-XXXXXX");
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Error::Sys(errno, "create temp blob in " + Dirname(tmpl));
  ::fchmod(fd, 0644);
  return BlobWriter(UniqueFd(fd), tmpl);
}

std::string BlobStore::PathOf(const std::string& digest) const {
  return JoinPath(blobs_dir_, DigestHex(digest));
}

Status BlobStore::Publish(const StagedBlob& blob) {
  TRY(ValidateDigest(blob.digest));
  std::string dst = PathOf(blob.digest);
  if (::renameat2(AT_FDCWD, blob.path.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) == 0)
    return Ok();
  if (errno == EEXIST) {
    ::unlink(blob.path.c_str());
    return Ok();
  }
  return Error::Sys(errno, "publish blob " + blob.digest);
}

Status BlobStore::SyncBlobsDir() {
  return FsyncDir(blobs_dir_);
}

bool BlobStore::Has(const std::string& digest) const {
  if (!ValidateDigest(digest)) return false;
  return ::access(PathOf(digest).c_str(), F_OK) == 0;
}

Result<uint64_t> BlobStore::Size(const std::string& digest) const {
  TRY(ValidateDigest(digest));
  struct stat st;
  if (::stat(PathOf(digest).c_str(), &st) != 0) return Error::Sys(errno, "blob " + digest);
  return static_cast<uint64_t>(st.st_size);
}

Result<UniqueFd> BlobStore::OpenBlob(const std::string& digest) const {
  TRY(ValidateDigest(digest));
  auto fd = OpenFile(PathOf(digest), O_RDONLY);
  if (!fd) return std::move(fd).error().Context("blob " + digest);
  return fd;
}

Result<std::string> BlobStore::ReadAll(const std::string& digest) const {
  TRY(ValidateDigest(digest));
  auto data = ReadFile(PathOf(digest));
  if (!data) return std::move(data).error().Context("blob " + digest);
  if (DigestOf(*data) != digest)
    return Error::Corruption("blob " + digest + " does not match its digest");
  return data;
}

Status BlobStore::Verify(const std::string& digest) const {
  TRY(ValidateDigest(digest));
  auto actual = DigestFile(PathOf(digest));
  if (!actual) return std::move(actual).error().Context("blob " + digest);
  if (*actual != digest)
    return Error::Corruption("blob " + digest + " does not match its digest (content hashes to " +
                             *actual + ")");
  return Ok();
}

Status BlobStore::Remove(const std::string& digest) {
  TRY(ValidateDigest(digest));
  if (::unlink(PathOf(digest).c_str()) != 0 && errno != ENOENT)
    return Error::Sys(errno, "remove blob " + digest);
  return Ok();
}

Result<std::vector<std::string>> BlobStore::List() const {
  ASSIGN_OR_RETURN(auto names, ListDir(blobs_dir_));
  std::vector<std::string> out;
  for (auto& n : names) {
    std::string d = "sha256:" + n;
    if (ValidateDigest(d)) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace kiln
