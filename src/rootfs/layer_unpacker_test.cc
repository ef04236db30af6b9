#include "rootfs/layer_unpacker.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fs.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

using testing::MakeTar;
using testing::TarItem;

using testing::StringSource;

class LayerUnpackerTest : public testing::TempDirFixture {
 protected:
  Result<UnpackStats> Unpack(const std::string& tar, const std::string& dest) {
    EXPECT_TRUE(MakeDirs(dest));
    StringSource src(tar);
    return UnpackLayer(&src, dest);
  }
};

TEST_F(LayerUnpackerTest, UnpacksEveryKindOfEntry) {
  std::string tar = MakeTar({{"etc", AE_IFDIR},
                             {"etc/conf", AE_IFREG, "x=1\n", "", "", 0, 0, 04755},
                             {"etc/link", AE_IFLNK, "", "conf"},
                             {"etc/hard", AE_IFREG, "", "", "etc/conf"},
                             {"deep/auto/file", AE_IFREG, "parent dirs were not in the tar"},
                             {"fifo", AE_IFIFO},
                             {"null", AE_IFCHR, "", "", "", 1, 3, 0666}},
                            "gzip");
  auto st = Unpack(tar, Path("out"));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->entries, 7u);
  EXPECT_EQ(*ReadFile(Path("out/etc/conf")), "x=1\n");
  struct stat s;
  ASSERT_EQ(::lstat(Path("out/etc/conf").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 04755u);
  EXPECT_EQ(s.st_nlink, 2u);
  char target[64] = {};
  ASSERT_GT(::readlink(Path("out/etc/link").c_str(), target, sizeof target), 0);
  EXPECT_STREQ(target, "conf");
  EXPECT_EQ(*ReadFile(Path("out/deep/auto/file")), "parent dirs were not in the tar");
  ASSERT_EQ(::lstat(Path("out/fifo").c_str(), &s), 0);
  EXPECT_TRUE(S_ISFIFO(s.st_mode));
  ASSERT_EQ(::lstat(Path("out/null").c_str(), &s), 0);
  EXPECT_TRUE(S_ISCHR(s.st_mode));
  EXPECT_EQ(major(s.st_rdev), 1u);
  EXPECT_EQ(minor(s.st_rdev), 3u);
}

TEST_F(LayerUnpackerTest, WhiteoutsBecomeOverlayWhiteouts) {
  std::string tar = MakeTar({{"gone/.wh.file", AE_IFREG},
                             {"opaque", AE_IFDIR},
                             {"opaque/.wh..wh..opq", AE_IFREG},
                             {"opaque/new", AE_IFREG, "n"}});
  auto st = Unpack(tar, Path("out"));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->whiteouts, 2u);
  struct stat s;
  ASSERT_EQ(::lstat(Path("out/gone/file").c_str(), &s), 0);
  EXPECT_TRUE(S_ISCHR(s.st_mode));
  EXPECT_EQ(s.st_rdev, makedev(0, 0));
  char v[4] = {};
  ASSERT_EQ(::getxattr(Path("out/opaque").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_FALSE(*Exists(Path("out/opaque/.wh..wh..opq")));
}

TEST_F(LayerUnpackerTest, LaterEntriesReplaceEarlierOnes) {
  std::string tar = MakeTar({{"a", AE_IFDIR},
                             {"a/f", AE_IFREG, "1"},
                             {"a", AE_IFREG, "now a file"},
                             {"b", AE_IFLNK, "", "/etc"},
                             {"b", AE_IFDIR},
                             {"b/inside", AE_IFREG, "2"}});
  auto st = Unpack(tar, Path("out"));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*ReadFile(Path("out/a")), "now a file");
  EXPECT_EQ(*ReadFile(Path("out/b/inside")), "2");
}

TEST_F(LayerUnpackerTest, NothingEscapesTheDestination) {
  // Links planted in the destination before the unpack (as a lower layer could) are not followed.
  ASSERT_TRUE(MakeDirs(Path("out")));
  ASSERT_TRUE(MakeDirs(Path("victim")));
  ASSERT_EQ(::symlink(Path("victim").c_str(), Path("out/planted").c_str()), 0);
  auto st = Unpack(MakeTar({{"planted/evil", AE_IFREG, "x"}}), Path("out"));
  EXPECT_FALSE(st);
  EXPECT_TRUE(ListDir(Path("victim"))->empty());
  for (auto items :
       std::vector<std::vector<TarItem>>{{{"../evil", AE_IFREG, "x"}},
                                         {{"l", AE_IFLNK, "", "../../victim"}},
                                         {{"l", AE_IFLNK, "", "/"}, {"l/evil", AE_IFREG, "x"}},
                                         {{"h", AE_IFREG, "", "", "../victim/x"}}}) {
    EXPECT_FALSE(Unpack(MakeTar(items), Path("out2")));
    EXPECT_TRUE(ListDir(Path("victim"))->empty());
  }
}

}  // namespace
}  // namespace kiln
