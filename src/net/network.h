// net: instance networking.
//
// Bridge mode (the default): one Linux bridge (kiln0) holds the gateway address of kilnd's
// subnet; each instance gets a network namespace, bind-mounted by `ip netns` at
// /run/netns/kiln-<id>, whose eth0 is one end of a veth pair; the host end (kv<12 hex of the id>)
// is a port of the bridge. Instances on the bridge reach each other and the host; nothing is
// forwarded beyond the host. Namespaces outlive kilnd, so a restart leaves running instances'
// networking alone; at start kilnd removes what belongs to no live instance.
// Mode none: a private namespace with loopback only. Mode host: the host's own stack (unsafe:
// the instance sees and can bind every host interface).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"

namespace kiln {

inline constexpr const char* kNetworkBridge = "bridge";
inline constexpr const char* kNetworkNone = "none";
inline constexpr const char* kNetworkHost = "host";

Status ValidateNetworkMode(const std::string& mode);

// An IPv4 subnet, e.g. 10.87.0.0/16. The gateway is its first host address.
struct Subnet {
  uint32_t network = 0;  // host byte order
  int prefix = 0;

  static Result<Subnet> Parse(const std::string& cidr);
  std::string Cidr() const;
  std::string Gateway() const;
  // Addresses instances may get: all hosts but the gateway and broadcast.
  uint64_t Capacity() const;
  bool Contains(uint32_t addr) const;
};

std::string FormatIPv4(uint32_t addr);
Result<uint32_t> ParseIPv4(const std::string& text);

// An optional IPv6 subnet beside the IPv4 one, e.g. fd87::/64. An instance's IPv6 address is
// derived from its IPv4 one (the same host offset into this prefix), so the IPv4 allocation in the
// catalog is the only one kept and the two can never disagree. The gateway is offset 1.
struct Subnet6 {
  std::array<uint8_t, 16> network{};
  int prefix = 0;

  // Prefix 48-96: the low 32 bits must be host bits to hold every IPv4 offset.
  static Result<Subnet6> Parse(const std::string& cidr);
  std::string Cidr() const;
  std::string AddressAt(uint32_t offset) const;
  std::string Gateway() const { return AddressAt(1); }
};

struct NetworkConfig {
  std::string bridge = "kiln0";
  std::string subnet = "10.87.0.0/16";
  std::string subnet6;         // optional IPv6 subnet (e.g. fd87::/64); empty: IPv4 only
  std::string portfwd_binary;  // kiln-portfwd, for published ports
  bool nat = false;            // masquerade instances' traffic to beyond the host
};

// A published port: host address and port forwarded to a port of the instance.
struct PortMapping {
  std::string protocol = "tcp";  // tcp or udp
  std::string host_ip = "127.0.0.1";
  int host_port = 0;
  int instance_port = 0;

  // [HOSTADDR:]HOSTPORT:INSTPORT[/tcp|udp]; the host address defaults to loopback.
  static Result<PortMapping> Parse(const std::string& text);
  // The stored form, "tcp:127.0.0.1:8080:80".
  std::string Canonical() const;
  static Result<PortMapping> FromCanonical(const std::string& text);
  std::string Display() const;  // "127.0.0.1:8080->80/tcp"
};

class NetworkManager {
 public:
  static Result<std::unique_ptr<NetworkManager>> Create(const NetworkConfig& cfg);

  // Creates the bridge with the gateway address when missing; fixes its address and state.
  Status EnsureBridge();
  // Installs kiln's nftables table for the bridge (inet kiln_<bridge>): traffic from instances
  // to beyond the host is dropped, or with NAT masqueraded (and IPv4 forwarding turned on).
  Status ApplyForwarding();
  bool nat() const { return cfg_.nat; }
  // The n lowest free addresses of the subnet, given those in use.
  Result<std::vector<std::string>> Allocate(const std::set<std::string>& used, size_t n) const;
  // Creates the instance's namespace and veth and configures eth0 (idempotent).
  Status Attach(const std::string& instance_id, const std::string& ip);
  // The instance's IPv6 address for its IPv4 one, or "" without an IPv6 subnet.
  std::string IPv6For(const std::string& ip) const;
  // Removes the namespace (its veth goes with it); nothing to remove is fine.
  Status Detach(const std::string& instance_id);
  // Removes the namespaces and veths of instances this kilnd knows (known_ids) that are no longer
  // live. Devices of ids it does not know may belong to another kilnd and are left alone.
  // Returns how many were removed.
  Result<int> Reconcile(const std::set<std::string>& known_ids,
                        const std::set<std::string>& live_ids);
  // Every kiln-named namespace and veth on the host (for checks and tests).
  Result<std::vector<std::string>> ListKilnDevices() const;

  std::string NamespaceName(const std::string& instance_id) const { return "kiln-" + instance_id; }
  std::string NamespacePath(const std::string& instance_id) const {
    return "/run/netns/" + NamespaceName(instance_id);
  }
  std::string VethName(const std::string& instance_id) const;

  // Starts kiln-portfwd for an instance's published ports (in its own session, so it outlives
  // kilnd) and waits until every host port is bound; a port in use is a Conflict naming it.
  // Returns the forwarder's pid.
  Result<int> StartForwarder(const std::string& instance_ip, const std::vector<PortMapping>& ports);
  // Whether pid is a kiln-portfwd that is still running.
  static bool ForwarderAlive(int pid);
  static void StopForwarder(int pid);
  const Subnet& subnet() const { return subnet_; }
  const std::optional<Subnet6>& subnet6() const { return subnet6_; }
  const std::string& bridge() const { return cfg_.bridge; }

 private:
  NetworkManager(NetworkConfig cfg, Subnet subnet, std::optional<Subnet6> subnet6)
      : cfg_(std::move(cfg)), subnet_(subnet), subnet6_(subnet6) {}
  NetworkConfig cfg_;
  Subnet subnet_;
  std::optional<Subnet6> subnet6_;
  std::mutex mu_;
};

// /etc/hosts of an instance: localhost, its own name and addresses, then its peers on the network.
// Each name maps to its addresses (IPv4, then IPv6 when the network has it).
using HostAddresses = std::vector<std::string>;
std::string HostsFileFor(const std::string& name, const HostAddresses& own,
                         const std::map<std::string, HostAddresses>& peers);
// /etc/resolv.conf of an instance from the host's: nameservers on loopback are dropped (they are
// not reachable from the instance's namespace); search and options lines are kept.
std::string ResolvConfFor(const std::string& host_resolv_conf);

}  // namespace kiln
