#include "api/unix_http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <thread>

#include "base/log.h"

namespace kiln {
namespace {

constexpr int kIdleTimeoutMs = 300 * 1000;  // a client mid-request may be slow
constexpr int kKeepAliveMs = 5 * 1000;      // between requests

class FdStream : public httplib::Stream {
 public:
  explicit FdStream(int fd) : fd_(fd) {}
  bool is_readable() const override { return Wait(POLLIN); }
  bool is_writable() const override { return Wait(POLLOUT); }
  ssize_t read(char* ptr, size_t size) override {
    for (;;) {
      ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) return n;
    }
  }
  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(done);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "unix";
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "unix";
    port = 0;
  }
  socket_t socket() const override { return fd_; }

 private:
  bool Wait(short events) const {
    struct pollfd p = {fd_, events, 0};
    for (;;) {
      int rc = ::poll(&p, 1, kIdleTimeoutMs);
      if (rc < 0 && errno == EINTR) continue;
      return rc > 0;
    }
  }
  int fd_;
};

}  // namespace

bool UnixHttpServer::WaitForRequest(int fd) {
  // Short slices so a stopping daemon does not wait on idle keep-alive connections.
  for (int waited = 0; waited < kKeepAliveMs && !stopping_; waited += 200) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc = ::poll(&p, 1, 200);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
  return false;
}

Status UnixHttpServer::BindUnix(const std::string& path, mode_t mode) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Error::InvalidArgument("socket path too long: " + path);
  path.copy(addr.sun_path, path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error::Sys(errno, "socket");
  // The root lock is held, so a socket file here is a stale one from a kilnd that died.
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Error::Sys(errno, "bind " + path);
  if (::chmod(path.c_str(), mode) != 0) return Error::Sys(errno, "chmod " + path);
  if (::listen(fd.get(), 128) != 0) return Error::Sys(errno, "listen " + path);
  listen_fd_ = std::move(fd);
  path_ = path;
  // httplib treats an invalid server socket as "shutting down" and stops streaming responses.
  svr_sock_ = listen_fd_.get();
  return Ok();
}

void UnixHttpServer::ServeUnix() {
  while (!stopping_) {
    struct pollfd p = {listen_fd_.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, 200);
    if (rc <= 0) continue;
    int conn = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    {
      std::lock_guard lock(mu_);
      ++active_;
    }
    std::thread([this, conn] { HandleConnection(conn); }).detach();
  }
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return active_ == 0; });
  svr_sock_ = INVALID_SOCKET;
  ::unlink(path_.c_str());
}

void UnixHttpServer::HandleConnection(int fd) {
  {
    FdStream stream(fd);
    bool closed = false;
    // Keep-alive: serve requests on this connection until the client closes or we stop.
    while (!closed && WaitForRequest(fd)) {
      if (upgrade_handler_) {
        char head[256];
        ssize_t n = ::recv(fd, head, sizeof head, MSG_PEEK);
        if (n > 0 && std::string_view(head, static_cast<size_t>(n)).starts_with(upgrade_prefix_) &&
            std::string_view(head, static_cast<size_t>(n)).find("/shell") !=
                std::string_view::npos) {
          upgrade_handler_(fd);  // owns fd from here
          fd = -1;
          break;
        }
      }
      try {
        if (!process_request(stream, /*close_connection=*/false, closed, nullptr)) break;
      } catch (const std::exception& e) {
        LogError(std::string("api: request failed: ") + e.what());
        break;
      }
    }
    if (fd >= 0) ::close(fd);
  }
  std::lock_guard lock(mu_);
  if (--active_ == 0) idle_.notify_all();
}

void UnixHttpServer::Shutdown() {
  stopping_ = true;
}

}  // namespace kiln
