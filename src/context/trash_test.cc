#include "context/trash.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

class TrashTest : public testing::TempDirFixture {
 protected:
  // A tree of n files in two levels, as an instance's upper dir would have.
  std::string MakeTree(const std::string& name, int n) {
    std::string top = Path(name);
    EXPECT_TRUE(MakeDirs(JoinPath(top, "a/b")));
    for (int i = 0; i < n; ++i)
      EXPECT_TRUE(WriteFileAtomic(JoinPath(top, (i % 2 ? "a/" : "a/b/") + std::to_string(i)), "x"));
    return top;
  }
};

TEST_F(TrashTest, DiscardMovesAtOnceAndTheWorkerDeletes) {
  auto trash = Trash::Open(Path("trash"));
  ASSERT_TRUE(trash) << trash.error().message();
  std::string tree = MakeTree("upper", 200);
  ASSERT_TRUE((*trash)->Discard(tree));
  EXPECT_FALSE(*Exists(tree));  // gone from where it was before Discard returns
  (*trash)->WaitEmpty();
  EXPECT_TRUE(ListDir(Path("trash"))->empty());
  EXPECT_TRUE((*trash)->Discard(Path("never-there")));  // nothing to do is fine
}

TEST_F(TrashTest, LeftoversOfAnEarlierRunAreDeletedAfterOpen) {
  ASSERT_TRUE(MakeDirs(Path("trash")));
  std::string tree = MakeTree("trash/t-left", 50);
  ASSERT_TRUE(WriteFileAtomic(Path("trash/loose-file"), "y"));
  auto trash = Trash::Open(Path("trash"));
  ASSERT_TRUE(trash);
  (*trash)->WaitEmpty();
  EXPECT_TRUE(ListDir(Path("trash"))->empty());
}

TEST_F(TrashTest, StoppingLeavesTheRestForTheNextStart) {
  {
    auto trash = Trash::Open(Path("trash"));
    ASSERT_TRUE(trash);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE((*trash)->Discard(MakeTree("t" + std::to_string(i), 400)));
  }  // destroyed at once, wherever the worker was
  auto again = Trash::Open(Path("trash"));
  ASSERT_TRUE(again);
  (*again)->WaitEmpty();
  EXPECT_TRUE(ListDir(Path("trash"))->empty());
}

}  // namespace
}  // namespace kiln
