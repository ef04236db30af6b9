#include "catalog/catalog.h"

#include "base/ids.h"
#include "base/sha256.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

class CatalogTest : public testing::TempDirFixture {
 protected:
  void SetUp() override {
    TempDirFixture::SetUp();
    auto c = Catalog::Open(Path("catalog.db"));
    ASSERT_TRUE(c) << c.error().message();
    cat_ = std::move(*c);
  }
  ImageRecord Image(const std::string& name) {
    ImageRecord im;
    im.id = NewId("ami-");
    im.name = name;
    im.created_at = 1000;
    im.state = kImageAvailable;
    im.manifest_digest = DigestOf(name + "m");
    im.config_digest = DigestOf(name + "c");
    im.layers = {{DigestOf("l1"), DigestOf("d1"), "t", 10},
                 {DigestOf(name), DigestOf("d2"), "t", 20}};
    im.tags = {{"env", "prod"}};
    return im;
  }
  std::unique_ptr<Catalog> cat_;
};

TEST_F(CatalogTest, InsertGetByIdAndName) {
  ImageRecord im = Image("web");
  ASSERT_TRUE(cat_->InsertImage(im));
  auto by_name = cat_->GetImage("web");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, im.id);
  EXPECT_EQ(by_name->layers.size(), 2u);
  EXPECT_EQ(by_name->layers[1].size, 20u);
  EXPECT_EQ(by_name->tags.at("env"), "prod");
  EXPECT_EQ(cat_->GetImage(im.id)->name, "web");
  EXPECT_EQ(cat_->GetImage("nope").error().code(), ErrorCode::kNotFound);
}

TEST_F(CatalogTest, DuplicateNameRefusedAndNothingWritten) {
  ASSERT_TRUE(cat_->InsertImage(Image("web")));
  auto st = cat_->InsertImage(Image("web"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(cat_->ListImages()->size(), 1u);
}

TEST_F(CatalogTest, TagsDeleteAndReferences) {
  ImageRecord a = Image("a"), b = Image("b");
  ASSERT_TRUE(cat_->InsertImage(a));
  ASSERT_TRUE(cat_->InsertImage(b));
  ASSERT_TRUE(cat_->UpdateTags(a.id, {{"owner", "ops"}, {"env", "dev"}}, {}));
  ASSERT_TRUE(cat_->UpdateTags(a.id, {}, {"owner"}));
  EXPECT_EQ(cat_->GetImage("a")->tags, (std::map<std::string, std::string>{{"env", "dev"}}));
  auto refs = cat_->ReferencedDigests();
  ASSERT_TRUE(refs);
  EXPECT_EQ(refs->size(), 7u);  // 2 manifests, 2 configs, shared l1, layer a, layer b
  ASSERT_TRUE(cat_->DeleteImage(a.id));
  EXPECT_EQ(cat_->ReferencedDigests()->size(), 4u);
  EXPECT_TRUE(cat_->GetImage("b"));
}

TEST_F(CatalogTest, ReopenKeepsDataAndSchema) {
  ASSERT_TRUE(cat_->InsertImage(Image("persist")));
  ASSERT_TRUE(cat_->SetImageState(cat_->GetImage("persist")->id, kImageFailed, "why"));
  cat_.reset();
  auto c = Catalog::Open(Path("catalog.db"));
  ASSERT_TRUE(c);
  auto im = (*c)->GetImage("persist");
  ASSERT_TRUE(im);
  EXPECT_EQ(im->state, kImageFailed);
  EXPECT_EQ(im->state_reason, "why");
}

}  // namespace
}  // namespace kiln
