#include "daemon/root_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/fs.h"

namespace kiln {

Result<UniqueFd> LockRoot(const std::string& root) {
  std::string path = JoinPath(root, "kilnd.lock");
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDWR | O_CREAT, 0600));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Error::Sys(errno, "lock " + path);
    auto holder = ReadFile(path);
    std::string pid = holder ? *holder : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Error::Busy("root " + root + " is in use by another kilnd" +
                       (pid.empty() ? "" : " (pid " + pid + ")"));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    return Error::Sys(errno, "write " + path);
  return fd;
}

}  // namespace kiln
