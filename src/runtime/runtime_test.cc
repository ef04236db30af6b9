#include <gtest/gtest.h>

#include "runtime/bundle_spec.h"
#include "runtime/seccomp_profile.h"

namespace kiln {
namespace {

const char* kProfile = R"({
  "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
              {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []}],
  "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "includes": {}, "excludes": {}},
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
     "excludes": {"caps": ["CAP_SYS_BOOT"]}},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
  ]})";

std::vector<std::string> Names(const nlohmann::json& out) {
  std::vector<std::string> names;
  for (const auto& s : out["syscalls"])
    for (const auto& n : s["names"]) names.push_back(n);
  return names;
}

TEST(SeccompProfileTest, FiltersByCapabilitiesAndArchitecture) {
  auto out = ConvertSeccompProfile(kProfile, DefaultCapabilities(), "amd64");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ((*out)["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ((*out)["architectures"], nlohmann::json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  // No CAP_SYS_ADMIN: mount stays filtered; no CAP_SYS_BOOT: the reboot rule applies.
  EXPECT_EQ(Names(*out),
            (std::vector<std::string>{"read", "write", "reboot", "arch_prctl", "personality"}));
  EXPECT_EQ((*out)["syscalls"][3]["args"][0]["value"], 8);

  auto arm = ConvertSeccompProfile(kProfile, {"CAP_SYS_ADMIN", "CAP_SYS_BOOT"}, "arm64");
  ASSERT_TRUE(arm);
  EXPECT_EQ((*arm)["architectures"], nlohmann::json({"SCMP_ARCH_AARCH64"}));
  EXPECT_EQ(Names(*arm), (std::vector<std::string>{"read", "write", "mount", "personality"}));
  EXPECT_FALSE(ConvertSeccompProfile("{}", {}, "amd64"));
  EXPECT_FALSE(ConvertSeccompProfile("not json", {}, "amd64"));
}

TEST(BundleSpecTest, IsolationDefaults) {
  BundleSpec s;
  s.rootfs = "/r";
  s.hostname = "web-1";
  s.args = {"/sbin/init"};
  s.memory_bytes = 1 << 20;
  s.cgroups_path = "/kiln/i-1";
  s.binds = {{"/x/hostname", "/etc/hostname", true}};
  auto j = BuildOciSpec(s);
  std::vector<std::string> ns;
  for (const auto& n : j["linux"]["namespaces"]) ns.push_back(n["type"]);
  EXPECT_EQ(ns, (std::vector<std::string>{"pid", "ipc", "uts", "mount", "cgroup", "network"}));
  EXPECT_FALSE(j["linux"]["namespaces"].back().contains("path"));
  // Bridge mode joins the namespace kiln prepared; host mode has none of its own.
  s.netns_path = "/run/netns/kiln-i-1";
  j = BuildOciSpec(s);
  EXPECT_EQ(j["linux"]["namespaces"].back()["path"], "/run/netns/kiln-i-1");
  s.netns_path.clear();
  s.network = "host";
  j = BuildOciSpec(s);
  for (const auto& n : j["linux"]["namespaces"]) EXPECT_NE(n["type"], "network");
  EXPECT_EQ(j["process"]["capabilities"]["bounding"].size(), 14u);
  EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 1 << 20);
  EXPECT_FALSE(j["linux"].contains("seccomp"));
  s.seccomp = {{"defaultAction", "SCMP_ACT_ERRNO"}};
  EXPECT_EQ(BuildOciSpec(s)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  // Every bind is one of kiln's own files, never a host directory chosen by the image.
  for (const auto& m : j["mounts"]) {
    if (m["type"] == "bind") {
      EXPECT_EQ(m["source"], "/x/hostname");
    }
  }
}

}  // namespace
}  // namespace kiln
