#include "oci/image_spec.h"

#include <gtest/gtest.h>

#include "base/sha256.h"
#include "oci/media_types.h"

namespace kiln::oci {
namespace {

std::string D(const std::string& s) {
  return DigestOf(s);
}

std::string GoodManifest() {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         D("c") +
         R"(","size":10},
    "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
         D("l") + R"(","size":20}]})";
}

TEST(ImageSpecTest, ParsesManifest) {
  auto m = ParseManifest(GoodManifest());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->config.digest, D("c"));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 20);
}

TEST(ImageSpecTest, RejectsBadManifests) {
  EXPECT_FALSE(ParseManifest("not json"));
  EXPECT_FALSE(ParseManifest("[]"));
  EXPECT_FALSE(ParseManifest(R"({"schemaVersion":1})"));
  std::string m = GoodManifest();
  std::string bad_type = m;
  bad_type.replace(bad_type.find("tar+gzip"), 8, "tar+lz4");
  auto r = ParseManifest(bad_type);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message().find("tar+lz4"), std::string::npos);
  std::string bad_digest = m;
  bad_digest.replace(bad_digest.find(D("l")), 10, "sha256:zzz");
  EXPECT_FALSE(ParseManifest(bad_digest));
  std::string neg = m;
  neg.replace(neg.find("\"size\":20"), 9, "\"size\":-1");
  EXPECT_FALSE(ParseManifest(neg));
}

TEST(ImageSpecTest, ParsesIndexAndConfig) {
  std::string idx = R"({"schemaVersion":2,"manifests":[{"mediaType":")" + std::string(kManifest) +
                    R"(","digest":")" + D("m") +
                    R"(","size":3,"annotations":{"org.opencontainers.image.ref.name":"v1"},
                    "platform":{"architecture":"amd64","os":"linux"}}]})";
  auto i = ParseIndex(idx);
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_EQ(i->manifests[0].annotations.at(std::string(kAnnotationRefName)), "v1");
  EXPECT_EQ(i->manifests[0].platform->architecture, "amd64");
  auto c = ParseConfig(
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[")" + D("x") +
      R"("]}})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->diff_ids.size(), 1u);
  EXPECT_FALSE(
      ParseConfig(R"({"architecture":"amd64","os":"linux","rootfs":{"type":"x","diff_ids":[]}})"));
  EXPECT_FALSE(ParseConfig(R"({"os":"linux","rootfs":{"type":"layers","diff_ids":[]}})"));
}

TEST(ImageSpecTest, SerializedManifestRoundTrips) {
  Descriptor c{std::string(kConfig), D("c"), 5};
  std::string s = SerializeManifest(c, {{std::string(kLayerTar), D("l"), 7}}, {});
  auto m = ParseManifest(s);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->layers[0].media_type, kLayerTar);
  EXPECT_EQ(SerializeManifest(c, {}, {}), SerializeManifest(c, {}, {}));
}

}  // namespace
}  // namespace kiln::oci
