#include "net/network.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(SubnetTest, ParsesAndRefuses) {
  auto s = Subnet::Parse("10.87.0.0/16");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Gateway(), "10.87.0.1");
  EXPECT_EQ(s->Cidr(), "10.87.0.0/16");
  EXPECT_EQ(s->Capacity(), 65533u);
  EXPECT_TRUE(s->Contains(*ParseIPv4("10.87.255.1")));
  EXPECT_FALSE(s->Contains(*ParseIPv4("10.88.0.1")));
  for (const char* bad :
       {"10.87.0.0", "10.87.0.1/16", "10.87.0.0/33", "10.87.0.0/30", "x/16", "10.87.0.0/abc"})
    EXPECT_FALSE(Subnet::Parse(bad)) << bad;
}

TEST(NetworkManagerTest, AllocatesLowestFreeAndRunsOut) {
  auto net = NetworkManager::Create({"kiln-t0", "192.168.50.0/29"});
  ASSERT_TRUE(net);
  auto ips = (*net)->Allocate({"192.168.50.3"}, 2);
  ASSERT_TRUE(ips);
  EXPECT_EQ(*ips, (std::vector<std::string>{"192.168.50.2", "192.168.50.4"}));
  // A /29 has 5 usable addresses for instances (.2-.6); .1 is the gateway, .7 broadcast.
  auto all = (*net)->Allocate({}, 5);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->back(), "192.168.50.6");
  auto none = (*net)->Allocate({"192.168.50.2"}, 5);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kConflict);
  EXPECT_EQ((*net)->VethName("i-0123456789abcdef0"), "kv0123456789ab");
  EXPECT_EQ((*net)->NamespacePath("i-0123456789abcdef0"), "/run/netns/kiln-i-0123456789abcdef0");
}

TEST(Subnet6Test, ParsesAndDerivesAddressesFromIPv4Offsets) {
  auto s = Subnet6::Parse("fd87:1::/64");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->Cidr(), "fd87:1::/64");
  EXPECT_EQ(s->Gateway(), "fd87:1::1");
  EXPECT_EQ(s->AddressAt(0x0102), "fd87:1::102");
  EXPECT_EQ(s->AddressAt(0x00010002), "fd87:1::1:2");
  for (const char* bad : {"fd87::", "fd87::/40", "fd87::/100", "fd87::1/64", "fe80::/64",
                          "ff02::/64", "10.0.0.0/64", "fd87::/x"}) {
    auto r = Subnet6::Parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  NetworkConfig cfg;
  cfg.subnet = "10.9.0.0/16";
  cfg.subnet6 = "fd09::/64";
  auto net = NetworkManager::Create(cfg);
  ASSERT_TRUE(net);
  EXPECT_EQ((*net)->IPv6For("10.9.1.2"), "fd09::102");
  EXPECT_EQ((*net)->IPv6For("10.8.1.2"), "");  // not in the IPv4 subnet
  cfg.subnet6.clear();
  EXPECT_EQ((*NetworkManager::Create(cfg))->IPv6For("10.9.1.2"), "");
  cfg.subnet6 = "nonsense";
  EXPECT_FALSE(NetworkManager::Create(cfg));
}

TEST(NetworkFilesTest, HostsAndResolvConf) {
  std::string hosts = HostsFileFor("web-1", {"10.87.0.2"},
                                   {{"web-1", {"10.87.0.2"}}, {"db", {"10.87.0.3", "fd87::3"}}});
  EXPECT_NE(hosts.find("10.87.0.2\tweb-1\n"), std::string::npos);
  EXPECT_NE(hosts.find("10.87.0.3\tdb\n"), std::string::npos);
  EXPECT_NE(hosts.find("fd87::3\tdb\n"), std::string::npos);
  EXPECT_EQ(hosts.find("10.87.0.2\tweb-1\n"), hosts.rfind("web-1") - 10);  // listed once
  EXPECT_NE(HostsFileFor("iso", {}, {}).find("127.0.1.1\tiso\n"), std::string::npos);
  std::string r = ResolvConfFor("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\n");
  EXPECT_EQ(r, "nameserver 10.0.0.2\nsearch corp\n");
  EXPECT_NE(ResolvConfFor("nameserver 127.0.0.53\n").find("cannot reach"), std::string::npos);
  EXPECT_TRUE(ValidateNetworkMode("bridge") && ValidateNetworkMode("none") &&
              ValidateNetworkMode("host"));
  EXPECT_FALSE(ValidateNetworkMode("nat"));
}

}  // namespace
}  // namespace kiln
