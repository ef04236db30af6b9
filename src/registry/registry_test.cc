#include <gtest/gtest.h>

#include "registry/auth.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace kiln::registry {
namespace {

TEST(ReferenceTest, ParsesRegistryRepoTagDigest) {
  auto r = ParseReference("localhost:5000/team/web:v1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->registry, "localhost:5000");
  EXPECT_EQ(r->repository, "team/web");
  EXPECT_EQ(r->tag, "v1");
  EXPECT_TRUE(r->IsLoopback());
  EXPECT_EQ(r->ManifestRef(), "v1");

  std::string d = "sha256:" + std::string(64, 'a');
  r = ParseReference("registry.example.com/web@" + d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->registry, "registry.example.com");
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, d);
  EXPECT_EQ(r->ManifestRef(), d);
  EXPECT_FALSE(r->IsLoopback());

  r = ParseReference("127.0.0.1:5000/a/b/c");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->String(), "127.0.0.1:5000/a/b/c:latest");
}

TEST(ReferenceTest, DockerHubDefaults) {
  auto r = ParseReference("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "library/busybox");
  EXPECT_EQ(r->ApiHost(), "registry-1.docker.io");
  r = ParseReference("someone/tool:1.2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repository, "someone/tool");
  // Push never guesses a registry.
  EXPECT_FALSE(ParseReference("busybox", /*require_registry=*/true));
}

TEST(ReferenceTest, RefusesMalformed) {
  for (const char* bad : {"", "localhost:5000/", "localhost:5000/Web:v1",
                          "localhost:5000/web:", "localhost:5000/web:-x", "localhost:5000/we..b",
                          "localhost:5000/web@sha256:abc", "localhost:5000//web",
                          "localhost:5000/web/", "local host/web", "localhost:5000/-web"}) {
    auto r = ParseReference(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ChallengeTest, ParsesBearerAndBasic) {
  auto c = ParseChallenges(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].params.at("realm"), "https://auth.example/token");
  EXPECT_EQ((*c)[0].params.at("service"), "registry.example");
  EXPECT_EQ((*c)[0].params.at("scope"), "repository:a/b:pull,push");

  c = ParseChallenges(
      R"(Basic realm="Registry Realm", Bearer realm="https://x/t", error=insufficient_scope)");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), "Registry Realm");
  EXPECT_EQ((*c)[1].scheme, "bearer");
  EXPECT_EQ((*c)[1].params.at("error"), "insufficient_scope");

  c = ParseChallenges(R"(Basic realm="a \"quoted\" realm")");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)[0].params.at("realm"), "a \"quoted\" realm");

  EXPECT_FALSE(ParseChallenges(""));
  EXPECT_FALSE(ParseChallenges(R"(Bearer realm="unterminated)"));
}

TEST(Base64Test, RoundTrips) {
  EXPECT_EQ(Base64Encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  for (std::string s : {"", "a", "ab", "abc", "user:p@ss:w0rd\xff"}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64Decode("not base64!"));
}

}  // namespace
}  // namespace kiln::registry
