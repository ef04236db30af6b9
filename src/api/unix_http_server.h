// api: cpp-httplib's request handling served on a unix socket. The Debian httplib (0.11) only
// listens on TCP, so this class accepts on the socket itself and hands each connection to
// httplib's request processor through a small Stream over the fd.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace kiln {

class UnixHttpServer : public httplib::Server {
 public:
  // Binds path (replacing a stale socket file), chmod mode, listens.
  Status BindUnix(const std::string& path, mode_t mode);
  // Serves until Shutdown(); then waits for requests in flight.
  void ServeUnix();
  void Shutdown();
  // Connections whose request line starts with `prefix` are handed over whole to `handler`
  // (which owns the fd) instead of httplib: for upgraded, bidirectional streams (kiln shell).
  void SetUpgradeHandler(std::string prefix, std::function<void(int fd)> handler) {
    upgrade_prefix_ = std::move(prefix);
    upgrade_handler_ = std::move(handler);
  }

 private:
  void HandleConnection(int fd);
  bool WaitForRequest(int fd);

  std::string upgrade_prefix_;
  std::function<void(int)> upgrade_handler_;
  UniqueFd listen_fd_;
  std::string path_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable idle_;
  int active_ = 0;
};

}  // namespace kiln
