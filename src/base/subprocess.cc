#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/fs.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln {

Result<Subprocess> Subprocess::Spawn(const std::vector<std::string>& argv,
                                     const SpawnOptions& opts) {
  if (argv.empty()) return Error::InvalidArgument("spawn: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // Report exec failures through a close-on-exec pipe: EOF means exec succeeded.
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) return Error::Sys(errno, "pipe");
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    return Error::Sys(e, "fork");
  }
  if (pid == 0) {
    ::close(errpipe[0]);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (opts.new_session) ::setsid();
    if (opts.die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (opts.controlling_tty && opts.stdin_fd >= 0) ::ioctl(opts.stdin_fd, TIOCSCTTY, 0);
    int devnull = ::open("/dev/null", O_RDWR);
    int fds[3] = {opts.stdin_fd, opts.stdout_fd, opts.stderr_fd};
    for (int i = 0; i < 3; ++i) {
      int src = fds[i] >= 0 ? fds[i] : devnull;
      if (src == i) {
        ::fcntl(i, F_SETFD, 0);  // keep it across exec
      } else {
        ::dup2(src, i);
      }
    }
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (opts.env.empty())
      ::execvp(args[0], args.data());
    else
      ::execvpe(args[0], args.data(), envp.data());
    int e = errno;
    (void)!::write(errpipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(errpipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(errpipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(errpipe[0]);
  if (n == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    return Error::Sys(child_errno, "run " + argv[0]);
  }
  return Subprocess(pid);
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

Result<int> Subprocess::Wait() {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Error::Sys(errno, "waitpid");
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void Subprocess::Kill(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::string& input,
                                 bool die_with_parent) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    return Error::Sys(errno, "pipe");
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  SpawnOptions opts;
  opts.stdin_fd = in_r.get();
  opts.stdout_fd = out_w.get();
  opts.stderr_fd = err_w.get();
  opts.die_with_parent = die_with_parent;
  ASSIGN_OR_RETURN(Subprocess child, Subprocess::Spawn(argv, opts));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  if (!input.empty()) (void)WriteFull(in_w.get(), input.data(), input.size());
  in_w.reset();
  CommandResult res;
  struct pollfd p[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* dst[2] = {&res.out, &res.err};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Error::Sys(errno, "poll");
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (dst[i]->size() < (16u << 20)) dst[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        p[i].fd = -1;
        --open;
      }
    }
  }
  ASSIGN_OR_RETURN(res.exit_code, child.Wait());
  return res;
}

}  // namespace kiln
