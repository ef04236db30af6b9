// kiln shell INSTANCE [-- CMD...]: an interactive terminal in a running instance. The local
// terminal goes raw, so Ctrl-C and every other key reach the instance's process; the window size
// follows the local one; the command's exit code becomes kiln's.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "base/frames.h"
#include "base/fs.h"
#include "cli/cli_context.h"

namespace kiln::cli {
namespace {

class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

 private:
  struct termios saved_ = {};
  bool active_ = false;
};

struct winsize WindowSize() {
  struct winsize ws = {24, 80, 0, 0};
  if (::isatty(STDIN_FILENO)) ::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
  return ws;
}

bool SendFrame(int fd, char type, const char* data, uint32_t n) {
  std::string head = FrameHeader(type, n);
  return WriteFull(fd, head.data(), head.size()) && (n == 0 || WriteFull(fd, data, n));
}

bool SendResize(int fd, const struct winsize& ws) {
  char p[4] = {static_cast<char>(ws.ws_row >> 8), static_cast<char>(ws.ws_row),
               static_cast<char>(ws.ws_col >> 8), static_cast<char>(ws.ws_col)};
  return SendFrame(fd, 4, p, 4);
}

Status RunShell(CliContext& cc, const std::string& instance, const std::vector<std::string>& cmd,
                int* exit_code) {
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  cc.socket.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Error::Sys(errno, "cannot reach kilnd at " + cc.socket);
  struct winsize ws = WindowSize();
  const char* term = std::getenv("TERM");
  std::string req = "POST /v1/instances/" + ApiClient::Escape(instance) +
                    "/shell?rows=" + std::to_string(ws.ws_row) +
                    "&cols=" + std::to_string(ws.ws_col) +
                    "&term=" + ApiClient::Escape(term ? term : "xterm") +
                    (cmd.empty() ? "" : "&cmd=" + ApiClient::Escape(nlohmann::json(cmd).dump())) +
                    " HTTP/1.1\r\nHost: kilnd\r\nConnection: Upgrade\r\nUpgrade: kiln-tty\r\n"
                    "Content-Length: 0\r\n\r\n";
  TRY(WriteFull(sock.get(), req.data(), req.size()));
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(sock.get(), &c, 1);
    if (n <= 0) return Error(ErrorCode::kIO, "kilnd closed the shell connection");
    head += c;
  }
  long status = std::strtol(head.c_str() + head.find(' ') + 1, nullptr, 10);
  if (status != 101) {
    std::string body;
    char buf[4096];
    for (ssize_t n; (n = ::read(sock.get(), buf, sizeof buf)) > 0;)
      body.append(buf, static_cast<size_t>(n));
    return ErrorFromResponse(status, body);
  }
  RawTerminal raw;
  FrameReader in;
  char buf[16384];
  bool stdin_open = true;
  for (;;) {
    struct pollfd p[2] = {{sock.get(), POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    int rc = ::poll(p, 2, 250);
    if (rc < 0 && errno != EINTR) return Error::Sys(errno, "poll");
    struct winsize now = WindowSize();
    if (now.ws_row != ws.ws_row || now.ws_col != ws.ws_col) {
      ws = now;
      SendResize(sock.get(), ws);
    }
    if (rc <= 0) continue;
    if (p[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;  // keep showing output until the instance's side ends
      } else if (!SendFrame(sock.get(), 1, buf, static_cast<uint32_t>(n))) {
        return Error(ErrorCode::kIO, "kilnd closed the shell connection");
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock.get(), buf, sizeof buf);
      if (n <= 0) return Error(ErrorCode::kIO, "the shell connection ended without an exit code");
      in.Append(buf, static_cast<size_t>(n));
      char type;
      std::string payload;
      while (in.Next(type, payload)) {
        if (type == 1) {
          TRY(WriteFull(STDOUT_FILENO, payload.data(), payload.size()));
        } else if (type == 3) {
          *exit_code = std::atoi(payload.c_str());
          return Ok();
        }
      }
    }
  }
}

}  // namespace

void AddShell(CLI::App& app, CliContext& cc, int* exit_code) {
  struct Opts {
    std::string instance;
    std::vector<std::string> cmd;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "shell",
      "Open an interactive terminal in a running instance (default /bin/sh); exits with "
      "the shell's code");
  cmd->add_option("instance", o->instance, "Instance name or id")->required();
  cmd->add_option("command", o->cmd, "Command to run instead of /bin/sh (after --)");
  cmd->callback([&cc, o, exit_code] {
    cc.action = [&cc, o, exit_code]() { return RunShell(cc, o->instance, o->cmd, exit_code); };
  });
}

}  // namespace kiln::cli
