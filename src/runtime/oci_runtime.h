// runtime: the OCI runtime CLI (runc or crun) behind an interface. kiln writes bundles and calls
// create/start/state/kill/delete/exec; it never re-implements a runtime.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/subprocess.h"

namespace kiln {

struct ContainerState {
  std::string status;  // creating, created, running, paused, stopped; "" when unknown to runtime
  int pid = 0;
};

struct ExecOptions {
  std::vector<std::string> args;
  std::vector<std::string> env;  // K=V
  std::string cwd;
  std::string user;  // "uid[:gid]"
  bool tty = false;
};

class OciRuntime {
 public:
  virtual ~OciRuntime() = default;
  virtual std::string name() const = 0;
  // Creates and starts the container of the bundle; its init's stdout/stderr go to log_fd.
  virtual Status Run(const std::string& id, const std::string& bundle, int log_fd) = 0;
  virtual Result<ContainerState> State(const std::string& id) = 0;
  virtual Status Kill(const std::string& id, int sig) = 0;
  virtual Status Delete(const std::string& id, bool force) = 0;
  virtual Status Pause(const std::string& id) = 0;
  virtual Status Resume(const std::string& id) = 0;
  // Starts a process inside the running container with the given stdio; returns the runtime's
  // exec process, whose exit code is the command's.
  virtual Result<Subprocess> Exec(const std::string& id, const ExecOptions& opts, int in, int out,
                                  int err) = 0;
};

// The runtime CLI at `binary`, keeping its state under state_root (kiln's own, so kiln's
// containers never mix with other tools').
std::unique_ptr<OciRuntime> NewCliRuntime(std::string binary, std::string state_root);

struct RuntimeChoice {
  std::string binary;
  std::string reason;
};
// crun where it works (cgroup v2 unified hierarchy), runc otherwise; `configured` wins when set.
Result<RuntimeChoice> DetectRuntime(const std::string& configured);
// True when /sys/fs/cgroup is the cgroup2 unified hierarchy.
bool CgroupV2Unified();

}  // namespace kiln
