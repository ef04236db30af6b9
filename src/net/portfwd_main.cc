// kiln-portfwd: forwards published host ports to an instance, the way docker-proxy does.
//
//   kiln-portfwd tcp:127.0.0.1:8080:10.87.0.2:80 [udp:0.0.0.0:5353:10.87.0.2:53 ...]
//
// kilnd starts one per instance that publishes ports, in its own session, so it outlives kilnd
// restarts like the instance does. It binds every listed host address first and then writes
// "ready" on stdout (or the reason it could not, and exits 1), so kilnd can refuse a launch whose
// port is taken. TCP: a thread pair per connection copying each direction; UDP: one connected
// socket per client address, dropped after 60 s of silence. SIGTERM ends it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Rule {
  bool udp = false;
  sockaddr_in listen{};
  sockaddr_in target{};
  std::string text;
  int fd = -1;
};

bool ParseAddr(const std::string& host, const std::string& port, sockaddr_in* out) {
  out->sin_family = AF_INET;
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (*end != 0 || p < 1 || p > 65535) return false;
  out->sin_port = htons(static_cast<uint16_t>(p));
  return ::inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

bool ParseRule(const std::string& s, Rule* r) {
  std::vector<std::string> parts;
  size_t i = 0;
  for (size_t j; (j = s.find(':', i)) != std::string::npos; i = j + 1)
    parts.push_back(s.substr(i, j - i));
  parts.push_back(s.substr(i));
  if (parts.size() != 5 || (parts[0] != "tcp" && parts[0] != "udp")) return false;
  r->udp = parts[0] == "udp";
  r->text = s;
  return ParseAddr(parts[1], parts[2], &r->listen) && ParseAddr(parts[3], parts[4], &r->target);
}

void Pump(int from, int to) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) {
        ::shutdown(from, SHUT_RD);
        return;
      }
      off += w;
    }
  }
  ::shutdown(to, SHUT_WR);
}

void ServeTcp(Rule r) {
  for (;;) {
    int client = ::accept4(r.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      return;
    }
    std::thread([client, target = r.target] {
      int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (up < 0 || ::connect(up, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
        if (up >= 0) ::close(up);
        ::close(client);
        return;
      }
      std::thread back(Pump, up, client);
      Pump(client, up);
      back.join();
      ::close(up);
      ::close(client);
    }).detach();
  }
}

void ServeUdp(Rule r) {
  struct Peer {
    int fd;
    std::chrono::steady_clock::time_point last;
  };
  std::mutex mu;
  std::map<std::pair<uint32_t, uint16_t>, Peer> peers;
  char buf[65536];
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(r.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    auto key = std::make_pair(from.sin_addr.s_addr, from.sin_port);
    std::lock_guard lock(mu);
    auto it = peers.find(key);
    if (it == peers.end()) {
      int up = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (up < 0 ||
          ::connect(up, reinterpret_cast<const sockaddr*>(&r.target), sizeof r.target) != 0) {
        if (up >= 0) ::close(up);
        continue;
      }
      it = peers.emplace(key, Peer{up, std::chrono::steady_clock::now()}).first;
      std::thread([&mu, &peers, key, up, from, listen_fd = r.fd] {
        char rbuf[65536];
        for (;;) {
          pollfd p{up, POLLIN, 0};
          int ready = ::poll(&p, 1, 5000);
          std::lock_guard lock(mu);
          auto& peer = peers.at(key);
          if (ready == 0 &&
              std::chrono::steady_clock::now() - peer.last > std::chrono::seconds(60)) {
            ::close(up);
            peers.erase(key);
            return;
          }
          if (ready <= 0) continue;
          ssize_t got = ::recv(up, rbuf, sizeof rbuf, MSG_DONTWAIT);
          if (got > 0) {
            peer.last = std::chrono::steady_clock::now();
            ::sendto(listen_fd, rbuf, static_cast<size_t>(got), 0,
                     reinterpret_cast<const sockaddr*>(&from), sizeof from);
          }
        }
      }).detach();
    }
    it->second.last = std::chrono::steady_clock::now();
    ::send(it->second.fd, buf, static_cast<size_t>(n), 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<Rule> rules;
  for (int i = 1; i < argc; ++i) {
    Rule r;
    if (!ParseRule(argv[i], &r)) {
      std::printf("bad rule \"%s\" (want tcp|udp:HOSTADDR:HOSTPORT:ADDR:PORT)\n", argv[i]);
      return 2;
    }
    rules.push_back(r);
  }
  if (rules.empty()) {
    std::printf("usage: kiln-portfwd tcp|udp:HOSTADDR:HOSTPORT:ADDR:PORT...\n");
    return 2;
  }
  for (auto& r : rules) {
    r.fd = ::socket(AF_INET, (r.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    int on = 1;
    if (!r.udp) ::setsockopt(r.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (r.fd < 0 ||
        ::bind(r.fd, reinterpret_cast<const sockaddr*>(&r.listen), sizeof r.listen) != 0 ||
        (!r.udp && ::listen(r.fd, 128) != 0)) {
      char host[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &r.listen.sin_addr, host, sizeof host);
      std::printf("cannot listen on %s port %d/%s: %s\n", host, ntohs(r.listen.sin_port),
                  r.udp ? "udp" : "tcp", std::strerror(errno));
      return 1;
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::fclose(stdout);
  std::vector<std::thread> servers;
  for (auto& r : rules) servers.emplace_back(r.udp ? ServeUdp : ServeTcp, r);
  for (auto& t : servers) t.join();
  return 0;
}
