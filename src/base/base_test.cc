#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>

#include "base/error.h"
#include "base/frames.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/parallel.h"
#include "base/sha256.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

using testing::TempDirFixture;

Result<int> Half(int v) {
  if (v % 2) return Error::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  ASSIGN_OR_RETURN(int h, Half(v));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(ErrorTest, PropagatesWithContext) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  Error e = std::move(r).error().Context("layer 2").Context("import web");
  EXPECT_EQ(e.message(), "import web: layer 2: odd");
}

TEST(ErrorTest, SysMapsErrno) {
  Error e = Error::Sys(ENOENT, "open /x");
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_EQ(e.sys_errno(), ENOENT);
  EXPECT_EQ(e.message(), "open /x: No such file or directory");
  EXPECT_EQ(Error::Sys(ENOSPC, "w").code(), ErrorCode::kIO);
  EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(ErrorCode::kBusy)), ErrorCode::kBusy);
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(DigestOf(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.HexDigest(), Sha256::Hex("abc"));
}

TEST(Sha256Test, ValidatesDigests) {
  EXPECT_TRUE(ValidateDigest(DigestOf("x")));
  EXPECT_FALSE(ValidateDigest("sha256:abc"));
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(64, 'G')));
  EXPECT_EQ(ValidateDigest("sha512:" + std::string(128, 'a')).error().code(),
            ErrorCode::kUnsupported);
  EXPECT_FALSE(ValidateDigest("nocolon"));
}

TEST(IdsTest, IdsAndNames) {
  std::string id = NewId("ami-");
  EXPECT_TRUE(IsId(id, "ami-")) << id;
  EXPECT_NE(id, NewId("ami-"));
  EXPECT_FALSE(IsId("ami-123", "ami-"));
  EXPECT_TRUE(ValidateName("debian-12.1_x", "image"));
  EXPECT_FALSE(ValidateName("", "image"));
  EXPECT_FALSE(ValidateName("-lead", "image"));
  EXPECT_FALSE(ValidateName("a/b", "image"));
  EXPECT_FALSE(ValidateName("../x", "image"));
  EXPECT_FALSE(ValidateName(std::string(129, 'a'), "image"));
  EXPECT_FALSE(ValidateName(id, "image"));
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
}

TEST(FramesTest, ReassemblesFramesSplitAnywhere) {
  std::string stream =
      FrameHeader(1, 5) + "hello" + FrameHeader(3, 0) + FrameHeader(2, 300) + std::string(300, 'x');
  for (size_t cut = 0; cut <= stream.size(); cut += 7) {
    FrameReader r;
    std::vector<std::pair<char, std::string>> got;
    char type;
    std::string payload;
    r.Append(stream.data(), cut);
    while (r.Next(type, payload)) got.emplace_back(type, payload);
    r.Append(stream.data() + cut, stream.size() - cut);
    while (r.Next(type, payload)) got.emplace_back(type, payload);
    ASSERT_EQ(got.size(), 3u) << cut;
    EXPECT_EQ(got[0], std::make_pair('\1', std::string("hello")));
    EXPECT_EQ(got[1], std::make_pair('\3', std::string()));
    EXPECT_EQ(got[2].second.size(), 300u);
  }
}

class FsTest : public TempDirFixture {};

TEST_F(FsTest, AtomicWriteReplacesWhole) {
  std::string p = Path("f");
  ASSERT_TRUE(WriteFileAtomic(p, "one", 0600));
  ASSERT_TRUE(WriteFileAtomic(p, "two"));
  EXPECT_EQ(*ReadFile(p), "two");
  auto names = ListDir(Path());
  ASSERT_TRUE(names);
  EXPECT_EQ(names->size(), 1u);  // no temp file left behind
}

TEST_F(FsTest, RemoveAllDoesNotFollowSymlinks) {
  ASSERT_TRUE(MakeDirs(Path("keep")));
  ASSERT_TRUE(WriteFileAtomic(Path("keep/file"), "x"));
  ASSERT_TRUE(MakeDirs(Path("gone/a/b")));
  ASSERT_EQ(::symlink(Path("keep").c_str(), Path("gone/a/link").c_str()), 0);
  ASSERT_TRUE(RemoveAll(Path("gone")));
  EXPECT_FALSE(*Exists(Path("gone")));
  EXPECT_EQ(*ReadFile(Path("keep/file")), "x");
  EXPECT_TRUE(RemoveAll(Path("missing")));
}

TEST_F(FsTest, TempDirRemovedUnlessKept) {
  std::string p;
  {
    auto t = TempDir::Make(Path(), "t-");
    ASSERT_TRUE(t);
    p = t->path();
    ASSERT_TRUE(WriteFileAtomic(JoinPath(p, "x"), "y"));
  }
  EXPECT_FALSE(*Exists(p));
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(Dirname("/a/b/"), "/a");
  EXPECT_EQ(Basename("/a/b.tar"), "b.tar");
}

TEST(ForEachParallelTest, RunsEveryItemAndReturnsFirstError) {
  std::atomic<int> sum{0};
  ASSERT_TRUE(ForEachParallel(100, 4, [&](size_t i) -> Status {
    sum += static_cast<int>(i);
    return Ok();
  }));
  EXPECT_EQ(sum, 4950);
  Status st = ForEachParallel(50, 3, [&](size_t i) -> Status {
    if (i == 7) return Error::Corruption("item 7");
    return Ok();
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace kiln
