#include <signal.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "runtime/oci_runtime.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace kiln {
namespace {

class CliRuntime : public OciRuntime {
 public:
  CliRuntime(std::string binary, std::string root)
      : bin_(std::move(binary)), root_(std::move(root)) {}

  std::string name() const override { return Basename(bin_); }

  Status Run(const std::string& id, const std::string& bundle, int log_fd) override {
    // `run --detach`: create + start in one call; the container's init is reparented away from
    // us, so it keeps running when kilnd stops.
    std::vector<std::string> argv = Base();
    argv.insert(argv.end(), {"run", "--detach", "--bundle", bundle, id});
    SpawnOptions o;
    o.stdout_fd = log_fd;
    o.stderr_fd = log_fd;
    o.new_session = true;
    ASSIGN_OR_RETURN(Subprocess p, Subprocess::Spawn(argv, o));
    ASSIGN_OR_RETURN(int rc, p.Wait());
    if (rc != 0) {
      auto log = ReadTail(log_fd);
      return Error(ErrorCode::kIO, name() + " run " + id + " failed (exit " + std::to_string(rc) +
                                       ")" + (log.empty() ? "" : ": " + log));
    }
    return Ok();
  }

  Result<ContainerState> State(const std::string& id) override {
    std::vector<std::string> argv = Base();
    argv.insert(argv.end(), {"state", id});
    ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, "", /*die_with_parent=*/true));
    if (r.exit_code != 0) {
      if (r.err.find("does not exist") != std::string::npos ||
          r.err.find("not found") != std::string::npos)
        return ContainerState{};
      return Failed("state", id, r);
    }
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_object()) return Error::Internal(name() + " state " + id + ": unreadable output");
    return ContainerState{j.value("status", ""), j.value("pid", 0)};
  }

  Status Kill(const std::string& id, int sig) override {
    return Simple({"kill", id, std::to_string(sig)}, "kill", id);
  }
  Status Delete(const std::string& id, bool force) override {
    std::vector<std::string> args = {"delete"};
    if (force) args.push_back("--force");
    args.push_back(id);
    return Simple(args, "delete", id);
  }
  Status Pause(const std::string& id) override { return Simple({"pause", id}, "pause", id); }
  Status Resume(const std::string& id) override { return Simple({"resume", id}, "resume", id); }

  Result<Subprocess> Exec(const std::string& id, const ExecOptions& opts, int in, int out,
                          int err) override {
    std::vector<std::string> argv = Base();
    argv.push_back("exec");
    if (opts.tty) argv.push_back("--tty");
    for (const auto& e : opts.env) argv.insert(argv.end(), {"--env", e});
    if (!opts.cwd.empty()) argv.insert(argv.end(), {"--cwd", opts.cwd});
    if (!opts.user.empty()) argv.insert(argv.end(), {"--user", opts.user});
    argv.push_back(id);
    argv.insert(argv.end(), opts.args.begin(), opts.args.end());
    SpawnOptions o;
    o.stdin_fd = in;
    o.stdout_fd = out;
    o.stderr_fd = err;
    o.die_with_parent = true;
    // With a tty, stdin is the slave of a terminal kilnd holds: the runtime, as session leader
    // with it as controlling terminal, puts it in raw mode and follows its window size.
    o.new_session = opts.tty;
    o.controlling_tty = opts.tty;
    return Subprocess::Spawn(argv, o);
  }

 private:
  std::vector<std::string> Base() const { return {bin_, "--root", root_}; }

  Status Simple(const std::vector<std::string>& args, const char* what, const std::string& id) {
    std::vector<std::string> argv = Base();
    argv.insert(argv.end(), args.begin(), args.end());
    ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, "", /*die_with_parent=*/true));
    if (r.exit_code != 0) return Failed(what, id, r);
    return Ok();
  }

  Error Failed(const char* what, const std::string& id, const CommandResult& r) {
    std::string msg = r.err;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Error(ErrorCode::kIO, name() + " " + what + " " + id + ": " + msg);
  }

  static std::string ReadTail(int fd) {
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end <= 0) return "";
    off_t start = end > 400 ? end - 400 : 0;
    std::string buf(static_cast<size_t>(end - start), '\0');
    ssize_t n = ::pread(fd, buf.data(), buf.size(), start);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    while (!buf.empty() && buf.back() == '\n') buf.pop_back();
    auto nl = buf.rfind('\n');
    return nl == std::string::npos ? buf : buf.substr(nl + 1);
  }

  std::string bin_, root_;
};

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find(':', i);
    if (j == std::string::npos) j = p.size();
    std::string cand = JoinPath(p.substr(i, j - i), name);
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    i = j + 1;
  }
  return "";
}

}  // namespace

std::unique_ptr<OciRuntime> NewCliRuntime(std::string binary, std::string state_root) {
  return std::make_unique<CliRuntime>(std::move(binary), std::move(state_root));
}

bool CgroupV2Unified() {
  struct statfs s;
  return ::statfs("/sys/fs/cgroup", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

Result<RuntimeChoice> DetectRuntime(const std::string& configured) {
  if (!configured.empty()) {
    std::string bin =
        configured.find('/') == std::string::npos ? FindInPath(configured) : configured;
    if (bin.empty() || ::access(bin.c_str(), X_OK) != 0)
      return Error::NotFound("configured OCI runtime \"" + configured + "\" is not installed");
    return RuntimeChoice{bin, "configured"};
  }
  std::string crun = FindInPath("crun"), runc = FindInPath("runc");
  // crun refuses hybrid/v1 cgroup setups; runc handles both.
  if (!crun.empty() && CgroupV2Unified()) return RuntimeChoice{crun, "crun on cgroup v2"};
  if (!runc.empty())
    return RuntimeChoice{
        runc, CgroupV2Unified() ? "runc (crun not installed)" : "runc (cgroup v1 or hybrid)"};
  if (!crun.empty()) return RuntimeChoice{crun, "crun (runc not installed; cgroup v1 may fail)"};
  return Error::NotFound("no OCI runtime found: install runc or crun");
}

}  // namespace kiln
