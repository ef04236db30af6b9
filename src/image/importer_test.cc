#include "image/importer.h"

#include "base/fs.h"
#include "base/sha256.h"
#include "image/image_ops.h"
#include "oci/media_types.h"
#include "testing/test_util.h"

namespace kiln {
namespace {

using testing::MakeTar;
using testing::TarItem;

using testing::StringSource;

class ImporterTest : public testing::TempDirFixture {
 protected:
  void SetUp() override {
    TempDirFixture::SetUp();
    auto c = Context::Open(Path("root"));
    ASSERT_TRUE(c) << c.error().message();
    ctx_ = std::move(*c);
  }
  Result<ImageRecord> Import(const std::string& data, const std::string& name,
                             const std::string& ref = "") {
    StringSource src(data);
    ImportRequest req;
    req.name = name;
    req.ref = ref;
    return ImportImage(*ctx_, &src, req);
  }
  // Everything an import could have changed: catalog rows, blobs and temp files.
  std::string Snapshot() {
    std::string s;
    auto images = ctx_->catalog->ListImages();
    auto blobs = ctx_->store->List();
    auto tmp = ListDir(ctx_->store->tmp_dir());
    for (const auto& im : *images) s += im.id + im.state + ";";
    for (const auto& d : *blobs) s += d + ";";
    for (const auto& t : *tmp) s += "tmp:" + t + ";";
    return s;
  }
  std::unique_ptr<Context> ctx_;
};

std::string Rootfs() {
  return MakeTar({{"etc", AE_IFDIR}, {"etc/motd", AE_IFREG, "hi"}}, "gzip");
}

TEST_F(ImporterTest, RootfsTarballBecomesOneLayerImage) {
  std::string data = Rootfs();
  auto im = Import(data, "base");
  ASSERT_TRUE(im) << im.error().message();
  EXPECT_EQ(im->state, kImageAvailable);
  ASSERT_EQ(im->layers.size(), 1u);
  EXPECT_EQ(im->layers[0].digest, DigestOf(data));  // stored exactly as given
  EXPECT_EQ(im->layers[0].media_type, oci::kLayerGzip);
  EXPECT_TRUE(ctx_->store->Has(im->manifest_digest));
  auto report = VerifyImages(*ctx_, "");
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->problems.empty());
  EXPECT_TRUE(ListDir(ctx_->store->tmp_dir())->empty());
}

TEST_F(ImporterTest, BadInputChangesNothing) {
  ASSERT_TRUE(Import(Rootfs(), "base"));
  std::string before = Snapshot();
  std::string gz = Rootfs();
  struct Bad {
    std::string name, data, image;
  };
  std::vector<Bad> cases = {
      {"traversal", MakeTar({{"../x", AE_IFREG, "x"}}), "t1"},
      {"truncated", gz.substr(0, gz.size() - 10), "t2"},
      {"empty", "", "t3"},
      {"duplicate name", Rootfs(), "base"},
      {"invalid name", Rootfs(), "bad/name"},
      {"oci missing blob",
       MakeTar(
           {{"oci-layout", AE_IFREG, R"({"imageLayoutVersion":"1.0.0"})"},
            {"index.json", AE_IFREG,
             R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                 DigestOf("m") + R"(","size":1}]})"}}),
       "t4"},
  };
  for (const auto& c : cases) {
    auto r = Import(c.data, c.image);
    EXPECT_FALSE(r) << c.name;
    EXPECT_EQ(Snapshot(), before) << c.name;
  }
}

TEST_F(ImporterTest, OciLayoutBlobMismatchIsCorruption) {
  std::string layer = MakeTar({{"f", AE_IFREG, "x"}});
  std::string cfg =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[")" +
      DigestOf(layer) + R"("]}})";
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
      DigestOf(cfg) + R"(","size":)" + std::to_string(cfg.size()) +
      R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
      DigestOf(layer) + R"(","size":)" + std::to_string(layer.size()) + "}]}";
  std::string index =
      R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      DigestOf(manifest) + R"(","size":)" + std::to_string(manifest.size()) + "}]}";
  auto layout = [&](const std::string& layer_content) {
    return MakeTar({{"oci-layout", AE_IFREG, R"({"imageLayoutVersion":"1.0.0"})"},
                    {"index.json", AE_IFREG, index},
                    {"blobs/sha256/" + DigestHex(DigestOf(manifest)), AE_IFREG, manifest},
                    {"blobs/sha256/" + DigestHex(DigestOf(cfg)), AE_IFREG, cfg},
                    {"blobs/sha256/" + DigestHex(DigestOf(layer)), AE_IFREG, layer_content}});
  };
  std::string tampered = layer;
  tampered[600] ^= 1;  // inside the file data
  auto bad = Import(layout(tampered), "tampered");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruption) << bad.error().message();
  auto good = Import(layout(layer), "good");
  ASSERT_TRUE(good) << good.error().message();
  EXPECT_EQ(good->manifest_digest, DigestOf(manifest));  // digests kept as they were
}

TEST_F(ImporterTest, RecoveryDropsPendingAndGcCollects) {
  auto im = Import(Rootfs(), "base");
  ASSERT_TRUE(im);
  ImageRecord pending = *im;
  pending.id = "ami-00000000000000001";
  pending.name = "half";
  pending.state = kImagePending;
  pending.layers[0].digest = DigestOf("never published");
  ASSERT_TRUE(ctx_->catalog->InsertImage(pending));
  ASSERT_TRUE(MakeDirs(JoinPath(ctx_->store->tmp_dir(), "import-leftover")));
  ASSERT_TRUE(RecoverAfterCrash(*ctx_));
  EXPECT_FALSE(ctx_->catalog->GetImage("half"));
  EXPECT_TRUE(ctx_->catalog->GetImage("base"));
  EXPECT_TRUE(ListDir(ctx_->store->tmp_dir())->empty());
  ASSERT_TRUE(RemoveImage(*ctx_, "base"));
  auto gc = CollectGarbage(*ctx_);
  ASSERT_TRUE(gc);
  EXPECT_EQ(gc->removed, 3);  // layer, config, manifest
  EXPECT_TRUE(ctx_->store->List()->empty());
}

}  // namespace
}  // namespace kiln
