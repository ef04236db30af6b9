// base: child processes owned by scope. A Subprocess that is neither waited for nor released is
// killed (SIGKILL) and reaped when it goes out of scope, so no child outlives its owner by
// accident.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.h"

namespace kiln {

struct SpawnOptions {
  int stdin_fd = -1;             // -1: /dev/null
  int stdout_fd = -1;            // -1: /dev/null
  int stderr_fd = -1;            // -1: /dev/null
  std::vector<std::string> env;  // empty: inherit
  bool new_session = false;      // setsid(), so the child survives in its own session
  // SIGKILL the child when the thread that spawned it dies (kilnd crashing mid-command must not
  // leave a runtime command finishing behind the back of the next kilnd's recovery).
  bool die_with_parent = false;
  // With new_session: make stdin (a terminal) the child's controlling terminal.
  bool controlling_tty = false;
};

class Subprocess {
 public:
  static Result<Subprocess> Spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);
  Subprocess(Subprocess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // Waits and returns the exit code; a signal death is 128 + signal, as shells report it.
  Result<int> Wait();
  void Kill(int sig);
  // The caller takes responsibility for the child.
  pid_t Release() {
    pid_t p = pid_;
    pid_ = -1;
    return p;
  }

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

struct CommandResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs argv to completion, capturing stdout and stderr (each up to 16 MiB).
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::string& input = "", bool die_with_parent = false);

}  // namespace kiln
