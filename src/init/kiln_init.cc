// kiln-init: the small static PID 1 kiln bind-mounts into instances whose image has no init.
// It runs the user-data script once at first boot (output to the instance log), reaps every
// orphan, forwards SIGTERM/SIGINT/SIGHUP to all processes, and stops cleanly when asked.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <initializer_list>

namespace {

constexpr const char* kUserData = "/.kiln/user-data";
constexpr const char* kDoneDir = "/var/lib/kiln-init";
constexpr const char* kDoneMarker = "/var/lib/kiln-init/user-data.done";

volatile sig_atomic_t g_stop_signal = 0;

void OnSignal(int sig) {
  if (sig != SIGCHLD) g_stop_signal = sig;
}

void ReapAll() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

void RunUserDataOnce() {
  struct stat st;
  if (stat(kUserData, &st) != 0 || st.st_size == 0) return;
  if (access(kDoneMarker, F_OK) == 0) return;
  printf("kiln-init: running user-data\n");
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execl("/bin/sh", "sh", kUserData, static_cast<char*>(nullptr));
    fprintf(stderr, "kiln-init: cannot run /bin/sh for user-data: %s\n", strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("kiln-init: user-data finished with exit code %d\n", code);
  fflush(stdout);
  // Once means once, whatever the script's exit code: the marker lives in the instance's rootfs.
  mkdir("/var", 0755);
  mkdir("/var/lib", 0755);
  mkdir(kDoneDir, 0755);
  int fd = open(kDoneMarker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dprintf(fd, "%d\n", code);
    fsync(fd);
    close(fd);
  }
}

}  // namespace

int main() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  sigaction(SIGPWR, &sa, nullptr);
  sigaction(SIGCHLD, &sa, nullptr);
  // Signals stay blocked except inside sigsuspend, so none is lost between reaping and sleeping.
  sigset_t block;
  sigemptyset(&block);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR}) sigaddset(&block, s);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  printf("kiln-init: started\n");
  RunUserDataOnce();
  while (!g_stop_signal) {
    ReapAll();
    if (g_stop_signal) break;
    sigset_t none;
    sigemptyset(&none);
    sigsuspend(&none);
  }
  printf("kiln-init: stopping on signal %d\n", static_cast<int>(g_stop_signal));
  kill(-1, SIGTERM);
  // Up to 5 s for processes to go, woken by each exit (SIGCHLD stays blocked, so it waits
  // here as pending) rather than by a fixed tick.
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (;;) {
    ReapAll();
    if (kill(-1, 0) != 0 && errno == ESRCH) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= 5) break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    sigtimedwait(&chld, nullptr, &ts);
  }
  kill(-1, SIGKILL);
  ReapAll();
  return 0;
}
