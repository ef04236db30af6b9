// api: kiln shell. POST /v1/instances/{ref}/shell?rows=R&cols=C&cmd=JSON-ARRAY upgrades the
// connection (101, "Upgrade: kiln-tty") to a framed, two-way stream over a PTY in the instance:
// client to daemon 1 = input bytes, 4 = resize (rows, cols as two big-endian u16); daemon to
// client 1 = output bytes, 3 = exit code (decimal text), then the connection closes.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/unix_http_server.h"

#include "api/reply.h"
#include "api/request_body.h"
#include "api/routes.h"
#include "base/frames.h"
#include "base/fs.h"
#include "base/log.h"

namespace kiln {
namespace {

using json = nlohmann::json;

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool SendFrame(int fd, char type, const char* data, uint32_t n) {
  std::string head = FrameHeader(type, n);
  return SendAll(fd, head.data(), head.size()) && (n == 0 || SendAll(fd, data, n));
}

void SendError(int fd, const Error& e) {
  std::string body =
      json({{"error", {{"code", ErrorCodeName(e.code())}, {"message", e.message()}}}}).dump();
  std::string head =
      "HTTP/1.1 " + std::to_string(HttpStatusFor(e.code())) +
      " Error\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n";
  SendAll(fd, head.data(), head.size());
  SendAll(fd, body.data(), body.size());
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 1 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

void Resize(int master, uint16_t rows, uint16_t cols) {
  if (rows == 0 || cols == 0) return;
  struct winsize ws = {rows, cols, 0, 0};
  ::ioctl(master, TIOCSWINSZ, &ws);
}

void Serve(int conn, InstanceManager& mgr) {
  // The request head; the body is empty.
  std::string head;
  char c;
  while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(conn, &c, 1, 0) != 1) return;
    head += c;
  }
  std::string line = head.substr(0, head.find("\r\n"));
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string path = target.substr(0, target.find('?'));
  std::map<std::string, std::string> q;
  if (auto qm = target.find('?'); qm != std::string::npos) {
    std::string_view rest(target);
    rest.remove_prefix(qm + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view kv = rest.substr(0, amp);
      auto eq = kv.find('=');
      q[std::string(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : Unescape(kv.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  const std::string prefix = "/v1/instances/";
  std::string ref = Unescape(path.substr(prefix.size(), path.size() - prefix.size() - 6));
  ExecOptions opts;
  opts.tty = true;
  auto cmd = DecodeCommand(q["cmd"]);
  if (!cmd) return SendError(conn, cmd.error());
  opts.args = std::move(*cmd);
  opts.env = {"TERM=" + (q["term"].empty() ? std::string("xterm") : q["term"])};
  int mfd = -1, sfd = -1;
  if (::openpty(&mfd, &sfd, nullptr, nullptr, nullptr) != 0)
    return SendError(conn, Error::Sys(errno, "openpty"));
  auto master = std::make_optional<UniqueFd>(mfd);
  UniqueFd slave(sfd);
  ::fcntl(mfd, F_SETFD, FD_CLOEXEC);
  ::fcntl(sfd, F_SETFD, FD_CLOEXEC);
  Resize(mfd, static_cast<uint16_t>(std::atoi(q["rows"].c_str())),
         static_cast<uint16_t>(std::atoi(q["cols"].c_str())));
  auto proc = mgr.Exec(ref, opts, sfd, sfd, sfd);
  if (!proc) return SendError(conn, proc.error());
  slave.reset();
  std::string ok =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: kiln-tty\r\nConnection: Upgrade\r\n\r\n";
  if (!SendAll(conn, ok.data(), ok.size())) return;
  FrameReader in;  // frames from the client
  char buf[16384];
  bool client_gone = false;
  for (;;) {
    struct pollfd p[2] = {{conn, POLLIN, 0}, {master->get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(master->get(), buf, sizeof buf);
      if (n <= 0) break;  // EIO: the process and its terminal are gone
      if (!SendFrame(conn, 1, buf, static_cast<uint32_t>(n))) {
        client_gone = true;
        break;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) {
        client_gone = true;
        break;
      }
      in.Append(buf, static_cast<size_t>(n));
      char type;
      std::string payload;
      while (in.Next(type, payload)) {
        if (type == 1) {
          (void)WriteFull(master->get(), payload.data(), payload.size());
        } else if (type == 4 && payload.size() == 4) {
          auto u = [&](size_t i) {
            return static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) |
                                         static_cast<uint8_t>(payload[i + 1]));
          };
          Resize(master->get(), u(0), u(2));
        }
      }
    }
  }
  master->reset();  // hangs up the terminal: the shell gets SIGHUP if it is still there
  if (client_gone) proc->Kill(SIGKILL);
  auto code = proc->Wait();
  std::string c2 = std::to_string(code ? *code : 1);
  if (!client_gone) SendFrame(conn, 3, c2.data(), static_cast<uint32_t>(c2.size()));
}

}  // namespace

void InstallShell(UnixHttpServer& server, Context&, InstanceManager& mgr) {
  server.SetUpgradeHandler("POST /v1/instances/", [&mgr](int fd) {
    try {
      Serve(fd, mgr);
    } catch (const std::exception& e) {
      LogError(std::string("shell: ") + e.what());
    }
    ::close(fd);
  });
}

}  // namespace kiln
