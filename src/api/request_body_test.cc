#include "api/request_body.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(RequestBodyTest, WrongTypesAreInvalidArgumentNamingTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{{R"({"image":5})", "\"image\""},
                                         {R"({"image":"x","name":7})", "\"name\""},
                                         {R"({"image":"x","type":[1]})", "\"type\""},
                                         {R"({"image":"x","count":"3"})", "\"count\""},
                                         {R"({"image":"x","count":1e99})", "\"count\""},
                                         {R"({"image":"x","count":99999999999})", "\"count\""},
                                         {R"({"image":"x","env":"A=1"})", "\"env\""},
                                         {R"({"image":"x","publish":[80]})", "\"publish\""}}) {
    auto r = DecodeLaunch(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.error().message().find(c.field), std::string::npos) << r.error().message();
  }
  for (const char* body : {R"({"instance":5})", R"({"instance":"i","flatten":"yes"})",
                           R"({"instance":"i","tags":{"a":1}})", R"({"instance":"i","tags":[]})",
                           R"({"instance":"i","consistency":"sometimes"})", R"({})",
                           R"({"instance":"i","snapshot":"s"})", "[]", "{", "null"}) {
    auto r = DecodeCreateImage(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << body;
  }
  EXPECT_FALSE(DecodeSnapshot(R"({"name":{}})"));
  EXPECT_FALSE(DecodeRestore(R"({"snapshot":""})"));
  EXPECT_FALSE(DecodeTags(R"({"remove":"a"})"));
  EXPECT_FALSE(DecodeVerify(R"({"image":true})"));
  EXPECT_FALSE(DecodeExecSpec(R"({"args":[]})"));
  EXPECT_FALSE(DecodeExecSpec(R"({"args":["ls"],"cwd":1})"));
  EXPECT_FALSE(DecodeExecSpec(""));
  EXPECT_FALSE(DecodeCommand(R"([])"));
  EXPECT_FALSE(DecodeCommand(R"(["sh",1])"));
  EXPECT_FALSE(DecodePull(R"({"reference":"localhost:5000/a:b","parallel":0})"));
  EXPECT_FALSE(DecodePull(R"({"reference":"localhost:5000/a:b","auth":"u:p"})"));
  EXPECT_FALSE(DecodePull(R"({"reference":"UPPER/a"})"));
  EXPECT_FALSE(DecodePush(R"({"destination":"localhost:5000/a:b","compression":"lz4"})"));
  EXPECT_FALSE(DecodePush(R"({"destination":"localhost:5000/a:b","tls_verify":"no"})"));
  EXPECT_FALSE(DecodeLogin(R"({"registry":"r","ca_pem":"not a cert"})"));
}

TEST(RequestBodyTest, DecodesWhatTheCliSends) {
  auto lr =
      DecodeLaunch(R"({"image":"base","name":"web-{n}","count":3,"type":"small","env":["A=1"],)"
                   R"("network":"none","publish":["8080:80"],"user_data":"#!/bin/sh"})");
  ASSERT_TRUE(lr) << lr.error().message();
  EXPECT_EQ(lr->image, "base");
  EXPECT_EQ(lr->count, 3);
  EXPECT_EQ(lr->env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(lr->publish, std::vector<std::string>{"8080:80"});
  EXPECT_EQ(lr->network, "none");
  EXPECT_EQ(DecodeLaunch(R"({"image":"base"})")->count, 1);

  auto ci = DecodeCreateImage(
      R"({"instance":"i","name":"n","consistency":"stop","flatten":true,"tags":{"k":"v"}})");
  ASSERT_TRUE(ci) << ci.error().message();
  EXPECT_EQ(ci->request.mode, Consistency::kStop);
  EXPECT_TRUE(ci->request.flatten);
  EXPECT_EQ(ci->request.tags.at("k"), "v");
  EXPECT_EQ(DecodeCreateImage(R"({"snapshot":"s","name":"n"})")->snapshot, "s");

  auto ex = DecodeExecSpec(R"({"args":["sh","-c","true"],"env":["A=1"],"cwd":"/","user":"1"})");
  ASSERT_TRUE(ex);
  EXPECT_EQ(ex->args.size(), 3u);
  EXPECT_EQ(DecodeCommand("")->front(), "/bin/sh");

  auto pull = DecodePull(R"({"reference":"localhost:5000/a:b","parallel":4,)"
                         R"("auth":{"username":"u","password":"p"},"tls_verify":false})");
  ASSERT_TRUE(pull) << pull.error().message();
  EXPECT_EQ(pull->parallel, 4);
  EXPECT_EQ(pull->access.credentials.username, "u");
  EXPECT_FALSE(pull->access.transport.tls_verify);
  auto push = DecodePush(R"({"destination":"localhost:5000/a:b","compression":"zstd"})");
  ASSERT_TRUE(push);
  EXPECT_EQ(push->compression, Compression::kZstd);
  EXPECT_EQ(push->parallel, 3);
  EXPECT_TRUE(DecodeSnapshot(""));
  EXPECT_EQ(*DecodeVerify(""), "");
}

}  // namespace
}  // namespace kiln
