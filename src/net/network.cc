#include "net/network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "base/unique_fd.h"

namespace kiln {
namespace {

Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, "", /*die_with_parent=*/true));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return Error(ErrorCode::kIO, cmd + ": " + err);
  }
  return Ok();
}

Result<std::string> IpOut(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, "", true));
  if (r.exit_code != 0) return Error(ErrorCode::kIO, "ip " + args.front() + ": " + r.err);
  return r.out;
}

bool LinkExists(const std::string& name) {
  struct stat st;
  return ::stat(("/sys/class/net/" + name).c_str(), &st) == 0;
}

}  // namespace

Status ValidateNetworkMode(const std::string& mode) {
  if (mode == kNetworkBridge || mode == kNetworkNone || mode == kNetworkHost) return Ok();
  return Error::InvalidArgument("network must be bridge, none or host, not \"" + mode + "\"");
}

std::string FormatIPv4(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Result<uint32_t> ParseIPv4(const std::string& text) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1)
    return Error::InvalidArgument("\"" + text + "\" is not an IPv4 address");
  return ntohl(a.s_addr);
}

Result<Subnet> Subnet::Parse(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos)
    return Error::InvalidArgument("subnet \"" + cidr + "\" must be ADDRESS/PREFIX");
  ASSIGN_OR_RETURN(uint32_t addr, ParseIPv4(cidr.substr(0, slash)));
  int prefix = -1;
  try {
    prefix = std::stoi(cidr.substr(slash + 1));
  } catch (...) {
  }
  if (prefix < 8 || prefix > 29)
    return Error::InvalidArgument("subnet \"" + cidr + "\": prefix must be 8-29");
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  if ((addr & ~mask) != 0)
    return Error::InvalidArgument("subnet \"" + cidr + "\" has host bits set; did you mean " +
                                  FormatIPv4(addr & mask) + "/" + std::to_string(prefix) + "?");
  return Subnet{addr, prefix};
}

std::string Subnet::Cidr() const {
  return FormatIPv4(network) + "/" + std::to_string(prefix);
}
std::string Subnet::Gateway() const {
  return FormatIPv4(network + 1);
}
uint64_t Subnet::Capacity() const {
  return (uint64_t{1} << (32 - prefix)) - 3;
}
bool Subnet::Contains(uint32_t addr) const {
  uint32_t mask = ~uint32_t{0} << (32 - prefix);
  return (addr & mask) == network;
}

Result<Subnet6> Subnet6::Parse(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos)
    return Error::InvalidArgument("IPv6 subnet \"" + cidr + "\" must be ADDRESS/PREFIX");
  Subnet6 s;
  in6_addr a{};
  if (::inet_pton(AF_INET6, cidr.substr(0, slash).c_str(), &a) != 1)
    return Error::InvalidArgument("\"" + cidr.substr(0, slash) + "\" is not an IPv6 address");
  std::copy(std::begin(a.s6_addr), std::end(a.s6_addr), s.network.begin());
  s.prefix = -1;
  try {
    s.prefix = std::stoi(cidr.substr(slash + 1));
  } catch (...) {
  }
  if (s.prefix < 48 || s.prefix > 96)
    return Error::InvalidArgument("IPv6 subnet \"" + cidr + "\": prefix must be 48-96");
  for (int bit = s.prefix; bit < 128; ++bit)
    if (s.network[bit / 8] & (0x80 >> (bit % 8)))
      return Error::InvalidArgument("IPv6 subnet \"" + cidr + "\" has host bits set");
  if (s.network[0] == 0xff || (s.network[0] == 0xfe && (s.network[1] & 0xc0) == 0x80))
    return Error::InvalidArgument("IPv6 subnet \"" + cidr +
                                  "\" is multicast or link-local; use a unique local (fd00::/8) "
                                  "or a global prefix");
  return s;
}

std::string Subnet6::AddressAt(uint32_t offset) const {
  in6_addr a{};
  std::copy(network.begin(), network.end(), std::begin(a.s6_addr));
  for (int i = 0; i < 4; ++i) a.s6_addr[15 - i] = static_cast<uint8_t>(offset >> (8 * i));
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

std::string Subnet6::Cidr() const {
  in6_addr a{};
  std::copy(network.begin(), network.end(), std::begin(a.s6_addr));
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

Result<std::unique_ptr<NetworkManager>> NetworkManager::Create(const NetworkConfig& cfg) {
  ASSIGN_OR_RETURN(Subnet s, Subnet::Parse(cfg.subnet));
  std::optional<Subnet6> s6;
  if (!cfg.subnet6.empty()) {
    ASSIGN_OR_RETURN(Subnet6 parsed, Subnet6::Parse(cfg.subnet6));
    s6 = parsed;
  }
  if (cfg.bridge.empty() || cfg.bridge.size() > 15)
    return Error::InvalidArgument("bridge name must be 1-15 characters");
  return std::unique_ptr<NetworkManager>(new NetworkManager(cfg, s, s6));
}

std::string NetworkManager::IPv6For(const std::string& ip) const {
  if (!subnet6_ || ip.empty()) return "";
  auto a = ParseIPv4(ip);
  if (!a || !subnet_.Contains(*a)) return "";
  return subnet6_->AddressAt(*a - subnet_.network);
}

std::string NetworkManager::VethName(const std::string& instance_id) const {
  std::string hex = instance_id.substr(instance_id.find('-') + 1);
  return "kv" + hex.substr(0, 12);
}

Status NetworkManager::EnsureBridge() {
  std::lock_guard lock(mu_);
  const std::string& br = cfg_.bridge;
  if (!LinkExists(br)) TRY_CTX(Ip({"link", "add", br, "type", "bridge"}), "create bridge " + br);
  std::string want = subnet_.Gateway() + "/" + std::to_string(subnet_.prefix);
  ASSIGN_OR_RETURN(std::string addrs, IpOut({"-4", "-o", "addr", "show", "dev", br}));
  if (addrs.find(" " + want + " ") == std::string::npos) {
    TRY(Ip({"-4", "addr", "flush", "dev", br}));
    TRY_CTX(Ip({"addr", "add", want, "dev", br}), "give bridge " + br + " its address");
  }
  if (subnet6_) {
    // nodad: the gateway address is ours by configuration, usable at once.
    std::string want6 = subnet6_->Gateway() + "/" + std::to_string(subnet6_->prefix);
    ASSIGN_OR_RETURN(std::string addrs6, IpOut({"-6", "-o", "addr", "show", "dev", br}));
    if (addrs6.find(" " + want6 + " ") == std::string::npos)
      TRY_CTX(Ip({"-6", "addr", "replace", want6, "dev", br, "nodad"}),
              "give bridge " + br + " its IPv6 address");
  }
  return Ip({"link", "set", br, "up"});
}

Status NetworkManager::ApplyForwarding() {
  std::lock_guard lock(mu_);
  const std::string& br = cfg_.bridge;
  std::string table = "kiln_" + br;
  bool have_nft = ::access("/usr/sbin/nft", X_OK) == 0;
  if (!have_nft) {
    if (cfg_.nat) return Error::NotFound("NAT needs nftables: apt-get install nftables");
    auto fwd = ReadFile("/proc/sys/net/ipv4/ip_forward");
    if (fwd && fwd->starts_with("1"))
      LogWarn(
          "IPv4 forwarding is on and nftables is not installed: instances may reach beyond "
          "the host (apt-get install nftables lets kilnd block it)");
    return Ok();
  }
  // The whole table is replaced in one nft transaction. NAT is IPv4 only: IPv6 (--subnet6) stays
  // between the instances and the host.
  std::string rules = "table inet " + table + " {}\ndelete table inet " + table + "\n" +
                      "table inet " + table + " {\n" + "  chain forward {\n" +
                      "    type filter hook forward priority 0; policy accept;\n" +
                      "    iifname \"" + br + "\" oifname \"" + br + "\" accept\n";
  if (cfg_.nat)
    rules += "    iifname \"" + br + "\" meta nfproto ipv4 accept\n" + "    oifname \"" + br +
             "\" meta nfproto ipv4 ct state established,related accept\n";
  rules += "    iifname \"" + br + "\" drop\n" + "    oifname \"" + br + "\" drop\n" + "  }\n";
  if (cfg_.nat)
    rules += "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n" +
             std::string("    ip saddr ") + subnet_.Cidr() + " oifname != \"" + br +
             "\" masquerade\n  }\n";
  rules += "}\n";
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({"nft", "-f", "-"}, rules, true));
  if (r.exit_code != 0) return Error(ErrorCode::kIO, "nft: " + r.err);
  if (cfg_.nat) {
    auto fwd = ReadFile("/proc/sys/net/ipv4/ip_forward");
    if (!fwd || !fwd->starts_with("1")) {
      TRY(WriteFull(UniqueFd(::open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC)).get(),
                    "1\n", 2));
      LogWarn("NAT: turned on IPv4 forwarding for the host (net.ipv4.ip_forward=1)");
    }
  }
  return Ok();
}

Result<std::vector<std::string>> NetworkManager::Allocate(const std::set<std::string>& used,
                                                          size_t n) const {
  std::set<uint32_t> taken;
  for (const auto& u : used)
    if (auto a = ParseIPv4(u)) taken.insert(*a);
  std::vector<std::string> out;
  uint32_t last = subnet_.network + static_cast<uint32_t>(subnet_.Capacity()) + 1;
  for (uint32_t a = subnet_.network + 2; a <= last && out.size() < n; ++a)
    if (!taken.count(a)) out.push_back(FormatIPv4(a));
  if (out.size() < n)
    return Error::Conflict("subnet " + subnet_.Cidr() + " has no free address left for " +
                           std::to_string(n) + " more instance(s)");
  return out;
}

Status NetworkManager::Attach(const std::string& id, const std::string& ip) {
  std::lock_guard lock(mu_);
  std::string ns = NamespaceName(id), veth = VethName(id);
  struct stat st;
  bool have_ns = ::stat(NamespacePath(id).c_str(), &st) == 0;
  if (!have_ns) TRY(Ip({"netns", "add", ns}));
  auto fail = [&](Error e) -> Status {
    if (!have_ns) (void)Ip({"netns", "del", ns});
    return std::move(e).Context("network for " + id);
  };
  if (!LinkExists(veth)) {
    if (auto s = Ip({"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns}); !s)
      return fail(s.error());
  }
  std::string addr = ip + "/" + std::to_string(subnet_.prefix);
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"link", "set", veth, "master", cfg_.bridge},
           {"link", "set", veth, "up"},
           {"-n", ns, "link", "set", "lo", "up"},
           {"-n", ns, "addr", "replace", addr, "dev", "eth0"},
           {"-n", ns, "link", "set", "eth0", "up"},
           {"-n", ns, "route", "replace", "default", "via", subnet_.Gateway()}}) {
    if (auto s = Ip(cmd); !s) return fail(s.error());
  }
  if (subnet6_) {
    std::string addr6 = IPv6For(ip) + "/" + std::to_string(subnet6_->prefix);
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"-n", ns, "-6", "addr", "replace", addr6, "dev", "eth0", "nodad"},
             {"-n", ns, "-6", "route", "replace", "default", "via", subnet6_->Gateway()}}) {
      if (auto s = Ip(cmd); !s) return fail(s.error());
    }
  }
  return Ok();
}

Status NetworkManager::Detach(const std::string& id) {
  std::lock_guard lock(mu_);
  struct stat st;
  if (::stat(NamespacePath(id).c_str(), &st) == 0) TRY(Ip({"netns", "del", NamespaceName(id)}));
  // The veth normally goes with the namespace (the kernel removes it a moment later).
  std::string veth = VethName(id);
  if (LinkExists(veth))
    if (auto st = Ip({"link", "del", veth}); !st && LinkExists(veth)) return st;
  return Ok();
}

Result<std::vector<std::string>> NetworkManager::ListKilnDevices() const {
  std::vector<std::string> out;
  for (const char* dir : {"/run/netns", "/sys/class/net"}) {
    DIR* d = ::opendir(dir);
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      bool ns = std::string(dir) == "/run/netns" && n.starts_with("kiln-");
      bool veth = std::string(dir) == "/sys/class/net" && n.starts_with("kv") && n.size() == 14;
      if (ns || veth) out.push_back(std::string(dir) + "/" + n);
    }
    ::closedir(d);
  }
  return out;
}

Result<int> NetworkManager::Reconcile(const std::set<std::string>& known_ids,
                                      const std::set<std::string>& live_ids) {
  std::set<std::string> gone_ns, gone_veth;
  for (const auto& id : known_ids) {
    if (live_ids.count(id)) continue;
    gone_ns.insert(NamespaceName(id));
    gone_veth.insert(VethName(id));
  }
  ASSIGN_OR_RETURN(auto devices, ListKilnDevices());
  int removed = 0;
  for (const auto& path : devices) {
    std::string name = path.substr(path.rfind('/') + 1);
    bool is_ns = path.starts_with("/run/netns/");
    if (!(is_ns ? gone_ns.count(name) : gone_veth.count(name))) continue;
    LogWarn("network: removing leftover " + std::string(is_ns ? "namespace " : "veth ") + name);
    Status st = is_ns ? Ip({"netns", "del", name}) : Ip({"link", "del", name});
    if (!st && LinkExists(name)) return std::move(st).error();
    ++removed;
  }
  return removed;
}

Result<PortMapping> PortMapping::Parse(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error::InvalidArgument("--publish \"" + text + "\": " + why +
                                  " (want [HOSTADDR:]HOSTPORT:INSTPORT[/tcp|udp])");
  };
  PortMapping m;
  std::string spec = text;
  if (auto slash = spec.rfind('/'); slash != std::string::npos) {
    m.protocol = spec.substr(slash + 1);
    spec = spec.substr(0, slash);
    if (m.protocol != "tcp" && m.protocol != "udp") return bad("protocol must be tcp or udp");
  }
  std::vector<std::string> parts;
  size_t i = 0;
  for (size_t j; (j = spec.find(':', i)) != std::string::npos; i = j + 1)
    parts.push_back(spec.substr(i, j - i));
  parts.push_back(spec.substr(i));
  if (parts.size() == 3) {
    m.host_ip = parts[0];
    parts.erase(parts.begin());
    if (!ParseIPv4(m.host_ip)) return bad("host address must be an IPv4 address");
  } else if (parts.size() != 2) {
    return bad("wrong number of fields");
  }
  auto port = [](const std::string& s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
      return 0;
    int p = std::stoi(s);
    return p <= 65535 ? p : 0;
  };
  m.host_port = port(parts[0]);
  m.instance_port = port(parts[1]);
  if (m.host_port == 0 || m.instance_port == 0) return bad("ports must be 1-65535");
  return m;
}

std::string PortMapping::Canonical() const {
  return protocol + ":" + host_ip + ":" + std::to_string(host_port) + ":" +
         std::to_string(instance_port);
}

Result<PortMapping> PortMapping::FromCanonical(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos) return Error::Corruption("bad stored port mapping " + text);
  return Parse(text.substr(colon + 1) + "/" + text.substr(0, colon));
}

std::string PortMapping::Display() const {
  return host_ip + ":" + std::to_string(host_port) + "->" + std::to_string(instance_port) + "/" +
         protocol;
}

Result<int> NetworkManager::StartForwarder(const std::string& instance_ip,
                                           const std::vector<PortMapping>& ports) {
  if (cfg_.portfwd_binary.empty() || ::access(cfg_.portfwd_binary.c_str(), X_OK) != 0)
    return Error::NotFound("kiln-portfwd not found at \"" + cfg_.portfwd_binary + "\"");
  std::vector<std::string> argv = {cfg_.portfwd_binary};
  for (const auto& p : ports)
    argv.push_back(p.protocol + ":" + p.host_ip + ":" + std::to_string(p.host_port) + ":" +
                   instance_ip + ":" + std::to_string(p.instance_port));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Error::Sys(errno, "pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  SpawnOptions opts;
  opts.stdout_fd = wr.get();
  opts.new_session = true;
  ASSIGN_OR_RETURN(Subprocess child, Subprocess::Spawn(argv, opts));
  wr = UniqueFd();
  std::string said;
  char buf[512];
  for (;;) {
    pollfd p{rd.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n <= 0) break;
    said.append(buf, static_cast<size_t>(n));
    if (said.find('\n') != std::string::npos) break;
  }
  while (!said.empty() && said.back() == '\n') said.pop_back();
  if (said != "ready") {
    child.Kill(SIGKILL);
    (void)child.Wait();
    if (said.find("in use") != std::string::npos) return Error::Conflict(said);
    return Error(ErrorCode::kIO, "kiln-portfwd: " + (said.empty() ? "did not start" : said));
  }
  return static_cast<int>(child.Release());
}

bool NetworkManager::ForwarderAlive(int pid) {
  if (pid <= 0) return false;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "kiln-portfwd";
}

void NetworkManager::StopForwarder(int pid) {
  if (!ForwarderAlive(pid)) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 50 && ForwarderAlive(pid); ++i) {
    ::waitpid(pid, nullptr, WNOHANG);  // our child when this kilnd started it
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (ForwarderAlive(pid)) ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, WNOHANG);
}

std::string HostsFileFor(const std::string& name, const HostAddresses& own,
                         const std::map<std::string, HostAddresses>& peers) {
  std::string s = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (own.empty()) s += "127.0.1.1\t" + name + "\n";
  for (const auto& addr : own) s += addr + "\t" + name + "\n";
  if (!peers.empty()) s += "# other instances on this network (kept current by kilnd)\n";
  for (const auto& [peer, addrs] : peers)
    if (peer != name)
      for (const auto& addr : addrs) s += addr + "\t" + peer + "\n";
  return s;
}

std::string ResolvConfFor(const std::string& host) {
  std::istringstream in(host);
  std::string line, out;
  int servers = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key == "nameserver") {
      if (value.starts_with("127.") || value == "::1") continue;
      ++servers;
      out += line + "\n";
    } else if (key == "search" || key == "domain" || key == "options") {
      out += line + "\n";
    }
  }
  if (servers == 0)
    out = "# the host's nameservers are on its loopback, which instances cannot reach\n" + out;
  return out;
}

}  // namespace kiln
