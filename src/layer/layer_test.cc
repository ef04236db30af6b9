#include <fcntl.h>

#include <cstring>

#include "base/fs.h"
#include "base/sha256.h"
#include "layer/byte_source.h"
#include "layer/entry_policy.h"
#include "layer/tar_reader.h"
#include "layer/tree_writer.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

using testing::MakeTar;
using testing::TarItem;

using testing::StringSource;

Result<LayerScan> Scan(const std::string& data) {
  StringSource src(data);
  return ScanLayer(&src);
}

std::vector<TarItem> Tree() {
  return {{"./", AE_IFDIR},
          {"./etc", AE_IFDIR},
          {"./etc/motd", AE_IFREG, "hello\n"},
          {"./bin", AE_IFDIR},
          {"./bin/sh", AE_IFLNK, "", "/bin/busybox"},
          {"./etc/motd2", AE_IFREG, "", "", "etc/motd"},
          {"./dev", AE_IFDIR},
          {"./dev/null", AE_IFCHR, "", "", "", 1, 3}};
}

TEST(LayerScanTest, DiffIdIsDigestOfUncompressedStream) {
  std::string plain = MakeTar(Tree());
  for (std::string filter : {"", "gzip", "zstd"}) {
    std::string data = filter.empty() ? plain : MakeTar(Tree(), filter);
    auto s = Scan(data);
    ASSERT_TRUE(s) << filter << ": " << s.error().message();
    EXPECT_EQ(s->diff_id, DigestOf(plain)) << filter;
    EXPECT_EQ(s->digest, DigestOf(data)) << filter;
    EXPECT_EQ(s->entries, 8u);
    EXPECT_EQ(s->compression, filter == "gzip"   ? Compression::kGzip
                              : filter == "zstd" ? Compression::kZstd
                                                 : Compression::kNone);
  }
}

TEST(LayerScanTest, TruncatedAndCorruptStreamsAreErrors) {
  std::string big(300000, 'x');
  for (auto& c : big) c = static_cast<char>(std::rand());
  std::vector<TarItem> items = {{"f", AE_IFREG, big}};
  for (std::string filter : {"", "gzip", "zstd"}) {
    std::string data = MakeTar(items, filter);
    auto s = Scan(data.substr(0, data.size() / 2));
    ASSERT_FALSE(s) << filter;
    EXPECT_EQ(s.error().code(), ErrorCode::kCorruption) << filter << ": " << s.error().message();
  }
  std::string gz = MakeTar(items, "gzip");
  gz[gz.size() / 2] ^= 0x55;
  EXPECT_FALSE(Scan(gz));
  EXPECT_FALSE(Scan(""));
  EXPECT_FALSE(Scan("this is not a tar archive at all, just some text that goes on"));
}

struct EscapeCase {
  const char* name;
  std::vector<TarItem> items;
};

TEST(LayerScanTest, EscapeCorpusIsRefused) {
  std::vector<EscapeCase> cases = {
      {"dotdot", {{"../evil", AE_IFREG, "x"}}},
      {"dotdot-inner", {{"a/../../evil", AE_IFREG, "x"}}},
      {"absolute", {{"/etc/evil", AE_IFREG, "x"}}},
      {"symlink-escape", {{"link", AE_IFLNK, "", "../../../etc"}}},
      {"symlink-escape-deep", {{"a", AE_IFDIR}, {"a/link", AE_IFLNK, "", "../.."}}},
      {"symlink-then-write", {{"link", AE_IFLNK, "", "/etc"}, {"link/passwd", AE_IFREG, "x"}}},
      {"hardlink-out", {{"h", AE_IFREG, "", "", "../../etc/shadow"}}},
      {"hardlink-abs", {{"h", AE_IFREG, "", "", "/etc/shadow"}}},
      {"hardlink-via-symlink", {{"l", AE_IFLNK, "", "/etc"}, {"h", AE_IFREG, "", "", "l/shadow"}}},
      {"block-device", {{"dev/sda", AE_IFBLK, "", "", "", 8, 0}}},
      {"mem-device", {{"dev/mem", AE_IFCHR, "", "", "", 1, 1}}},
      {"whiteout-dotdot", {{"a/.wh..", AE_IFREG, ""}}},
      {"hardlink-to-missing", {{"h", AE_IFREG, "", "", "etc/passwd"}}},
      {"hardlink-before-target", {{"h", AE_IFREG, "", "", "f"}, {"f", AE_IFREG, "x"}}},
      {"hardlink-to-dir", {{"d", AE_IFDIR}, {"h", AE_IFREG, "", "", "d"}}},
  };
  for (const auto& c : cases) {
    auto s = Scan(MakeTar(c.items));
    ASSERT_FALSE(s) << c.name;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument)
        << c.name << ": " << s.error().message();
    EXPECT_NE(s.error().message().find("unsafe archive entry"), std::string::npos) << c.name;
  }
}

TEST(EntryPolicyTest, AllowsWhatRootfsTarballsHold) {
  EntryPolicy p;
  EXPECT_EQ(*p.Check({"./usr/bin/", EntryType::kDir}), "usr/bin");
  EXPECT_EQ(*p.Check({"usr//lib/./x", EntryType::kFile}), "usr/lib/x");
  EXPECT_TRUE(p.Check({"usr/lib/rel", EntryType::kSymlink, "../bin/x"}));
  EXPECT_TRUE(p.Check({"etc/localtime", EntryType::kSymlink, "/usr/share/zoneinfo/UTC"}));
  // A symlink later replaced by a directory no longer blocks writes under it.
  EXPECT_TRUE(p.Check({"swap", EntryType::kSymlink, "x"}));
  EXPECT_TRUE(p.Check({"swap", EntryType::kDir}));
  EXPECT_TRUE(p.Check({"swap/file", EntryType::kFile}));
  EXPECT_TRUE(p.Check({"a/.wh.b", EntryType::kFile}));
  EXPECT_TRUE(p.Check({"a/.wh..wh..opq", EntryType::kFile}));
  // Hardlinks to earlier files (and to earlier hardlinks) of the same archive.
  EXPECT_TRUE(p.Check({"usr/lib/x2", EntryType::kHardlink, "usr/lib/x"}));
  EXPECT_TRUE(p.Check({"usr/lib/x3", EntryType::kHardlink, "./usr/lib/x2"}));
  EXPECT_FALSE(p.Check({"usr/lib/x4", EntryType::kHardlink, "usr/lib/rel"}));  // a symlink
  EXPECT_TRUE(IsAllowedDevice(EntryType::kChar, 5, 2));
  EXPECT_FALSE(IsAllowedDevice(EntryType::kBlock, 1, 3));
}

class TreeWriterTest : public testing::TempDirFixture {};

TEST_F(TreeWriterTest, DirectoryRoundTripsThroughScanAndExtract) {
  ASSERT_TRUE(MakeDirs(Path("src/a/b")));
  ASSERT_TRUE(WriteFileAtomic(Path("src/a/b/f"), "data", 0640));
  ASSERT_EQ(::link(Path("src/a/b/f").c_str(), Path("src/a/hard").c_str()), 0);
  ASSERT_EQ(::symlink("b/f", Path("src/a/sym").c_str()), 0);
  std::string tar = Path("out.tar");
  {
    auto fd = OpenFile(tar, O_WRONLY | O_CREAT | O_TRUNC);
    ASSERT_TRUE(fd);
    auto stats = WriteTreeAsTar(Path("src"), fd->get());
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->entries, 5u);
  }
  std::vector<std::string> paths;
  {
    auto fd = OpenFile(tar, O_RDONLY);
    FdSource src(fd->get());
    auto scan = ScanLayer(&src, [&](const std::string& p) { paths.push_back(p); });
    ASSERT_TRUE(scan) << scan.error().message();
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a/b", "a/b/f", "a/hard", "a/sym"}));
  // The same writer output is deterministic apart from mtimes, which did not change.
  auto fd2 = OpenFile(Path("out2.tar"), O_WRONLY | O_CREAT | O_TRUNC);
  ASSERT_TRUE(WriteTreeAsTar(Path("src"), fd2->get()));
  EXPECT_EQ(*DigestFile(tar), *DigestFile(Path("out2.tar")));
}

TEST_F(TreeWriterTest, ExtractPlainTreeRefusesLinks) {
  std::string data =
      MakeTar({{"blobs", AE_IFDIR}, {"blobs/x", AE_IFREG, "x"}, {"l", AE_IFLNK, "", "/"}});
  ASSERT_TRUE(WriteFileAtomic(Path("in.tar"), data));
  ASSERT_TRUE(MakeDirs(Path("out")));
  auto fd = OpenFile(Path("in.tar"), O_RDONLY);
  auto st = ExtractPlainTree(fd->get(), Path("out"));
  EXPECT_FALSE(st);
  EXPECT_EQ(*ReadFile(Path("out/blobs/x")), "x");
}

}  // namespace
}  // namespace kiln
