// Helpers shared by unit tests: a temp dir per test, and tar archives built in memory.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/fs.h"
#include "layer/byte_source.h"

namespace kiln::testing {

// Bytes from memory as a ByteSource.
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string s) : s_(std::move(s)) {}
  Result<size_t> Read(void* buf, size_t n) override {
    size_t k = std::min(n, s_.size() - pos_);
    s_.copy(static_cast<char*>(buf), k, pos_);
    pos_ += k;
    return k;
  }

 private:
  std::string s_;
  size_t pos_ = 0;
};

// A fresh directory under $TMPDIR, removed after the test.
class TempDirFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Make(::testing::TempDir(), "kiln-test-");
    ASSERT_TRUE(d.has_value()) << d.error().message();
    dir_ = std::make_unique<TempDir>(std::move(*d));
  }
  std::string Path(const std::string& rel = "") const {
    return rel.empty() ? dir_->path() : JoinPath(dir_->path(), rel);
  }
  std::unique_ptr<TempDir> dir_;
};

struct TarItem {
  std::string path;
  unsigned type = AE_IFREG;  // AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, ...
  std::string data;          // file content
  std::string link;          // symlink target
  std::string hardlink;      // hardlink target
  unsigned major = 0, minor = 0;
  int mode = 0644;
};

// Builds a tar (optionally gzip/zstd compressed with "gzip"/"zstd") holding items in order.
inline std::string MakeTar(const std::vector<TarItem>& items, const std::string& filter = "") {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  std::vector<char> buf(1 << 22);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& it : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.path.c_str());
    if (!it.hardlink.empty()) {
      archive_entry_set_hardlink(e, it.hardlink.c_str());
    } else {
      archive_entry_set_filetype(e, it.type);
      if (it.type == AE_IFLNK) archive_entry_set_symlink(e, it.link.c_str());
      if (it.type == AE_IFCHR || it.type == AE_IFBLK) {
        archive_entry_set_rdevmajor(e, it.major);
        archive_entry_set_rdevminor(e, it.minor);
      }
      archive_entry_set_size(e, it.type == AE_IFREG ? static_cast<la_int64_t>(it.data.size()) : 0);
    }
    archive_entry_set_perm(e, it.type == AE_IFDIR ? 0755 : it.mode);
    archive_write_header(a, e);
    if (it.type == AE_IFREG && it.hardlink.empty() && !it.data.empty())
      archive_write_data(a, it.data.data(), it.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

}  // namespace kiln::testing
