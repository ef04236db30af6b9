#include "store/blob_store.h"

#include <fcntl.h>

#include "base/fs.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

class BlobStoreTest : public testing::TempDirFixture {
 protected:
  void SetUp() override {
    TempDirFixture::SetUp();
    auto s = BlobStore::Open(Path("root"));
    ASSERT_TRUE(s) << s.error().message();
    store_ = std::make_unique<BlobStore>(std::move(*s));
  }
  StagedBlob Stage(std::string_view data) {
    auto w = store_->NewWriter();
    EXPECT_TRUE(w);
    EXPECT_TRUE(w->Write(data.data(), data.size()));
    auto b = w->Finish();
    EXPECT_TRUE(b);
    return *b;
  }
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, NothingVisibleUntilPublished) {
  StagedBlob b = Stage("hello");
  EXPECT_EQ(b.digest, DigestOf("hello"));
  EXPECT_EQ(b.size, 5u);
  EXPECT_FALSE(store_->Has(b.digest));
  ASSERT_TRUE(store_->Publish(b));
  EXPECT_TRUE(store_->Has(b.digest));
  EXPECT_EQ(*store_->ReadAll(b.digest), "hello");
  EXPECT_TRUE(store_->Verify(b.digest));
  EXPECT_EQ(store_->List()->size(), 1u);
}

TEST_F(BlobStoreTest, ScratchFileKeepsItsBytesAndIsLeftToTheCaller) {
  auto w = store_->NewWriter();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->Write("scratch", 7));
  auto b = w->FinishScratch();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->digest, DigestOf("scratch"));
  *w = std::move(*store_->NewWriter());  // the finished writer goes; its file stays
  EXPECT_EQ(*ReadFile(b->path), "scratch");
  EXPECT_FALSE(store_->Has(b->digest));
  ::unlink(b->path.c_str());
}

TEST_F(BlobStoreTest, NeverOverwritesAndDropsDuplicate) {
  StagedBlob a = Stage("same");
  ASSERT_TRUE(store_->Publish(a));
  StagedBlob b = Stage("same");
  ASSERT_TRUE(store_->Publish(b));
  EXPECT_FALSE(*Exists(b.path));  // the duplicate temp file is gone
  EXPECT_TRUE(ListDir(store_->tmp_dir())->empty());
}

TEST_F(BlobStoreTest, ExpectedDigestMismatchIsCorruption) {
  auto w = store_->NewWriter();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->Write("abc", 3));
  auto b = w->Finish(DigestOf("abd"));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code(), ErrorCode::kCorruption);
}

TEST_F(BlobStoreTest, AbandonedWriterLeavesNothing) {
  {
    auto w = store_->NewWriter();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->Write("abc", 3));
  }
  EXPECT_TRUE(ListDir(store_->tmp_dir())->empty());
}

TEST_F(BlobStoreTest, VerifyDetectsBitRot) {
  StagedBlob b = Stage("precious");
  ASSERT_TRUE(store_->Publish(b));
  {
    auto fd = OpenFile(store_->PathOf(b.digest), O_WRONLY);
    ASSERT_TRUE(fd);
    ASSERT_EQ(::pwrite(fd->get(), "X", 1, 0), 1);
  }
  auto st = store_->Verify(b.digest);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(store_->ReadAll(b.digest));
  EXPECT_FALSE(store_->Verify("sha256:../../etc/passwd"));
}

}  // namespace
}  // namespace kiln
