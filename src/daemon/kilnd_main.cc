// kilnd: the kiln daemon. Owns the root directory and serves the REST API on a unix socket.
#include <signal.h>

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "api/routes.h"
#include "api/unix_http_server.h"
#include "base/fs.h"
#include "base/log.h"
#include "context/context.h"
#include "daemon/root_lock.h"
#include "image/image_ops.h"
#include "instance/instance_manager.h"
#include "net/network.h"
#include "runtime/bundle_spec.h"
#include "runtime/oci_runtime.h"
#include "runtime/seccomp_profile.h"

namespace {

int Fail(const kiln::Error& e) {
  kiln::LogError(e.message());
  std::fprintf(stderr, "kilnd: %s\n", e.message().c_str());
  return 1;
}

// kiln-init ships next to kilnd.
std::string DefaultInitPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return kiln::JoinPath(kiln::Dirname(buf), "kiln-init");
}

int Run(const std::string& root, const std::string& socket, const std::string& runtime_name,
        std::string init_path, const std::string& seccomp_path, const kiln::NetworkConfig& netcfg) {
  using namespace kiln;
  // Signals are taken by sigwait below, never by a handler: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);  // before any thread: registry transfers use libcurl
  ::umask(022);

  if (auto st = MakeDirs(root, 0700); !st) return Fail(st.error());
  auto lock = LockRoot(root);
  if (!lock) return Fail(lock.error());
  auto ctx = Context::Open(root);
  if (!ctx) return Fail(ctx.error());
  if (auto st = RecoverAfterCrash(**ctx); !st) return Fail(st.error());
  auto runtime = DetectRuntime(runtime_name);
  if (!runtime) return Fail(runtime.error());
  LogInfo("OCI runtime: " + runtime->binary + " (" + runtime->reason + ")");
  if (init_path.empty()) init_path = DefaultInitPath();
  nlohmann::json seccomp;
  if (!seccomp_path.empty()) {
    auto profile = LoadSeccompProfile(seccomp_path, DefaultCapabilities());
    if (!profile) return Fail(profile.error().Context("seccomp profile"));
    seccomp = std::move(*profile);
    LogInfo("seccomp profile: " + seccomp_path);
  } else {
    LogWarn("no seccomp profile: instances run without a syscall filter");
  }
  NetworkConfig net_config = netcfg;
  if (net_config.portfwd_binary.empty())
    net_config.portfwd_binary = JoinPath(Dirname(DefaultInitPath()), "kiln-portfwd");
  auto net = NetworkManager::Create(net_config);
  if (!net) return Fail(net.error());
  if (auto st = (*net)->EnsureBridge(); !st) return Fail(st.error().Context("network"));
  if (auto st = (*net)->ApplyForwarding(); !st) return Fail(st.error().Context("network"));
  LogInfo("network: bridge " + netcfg.bridge + ", subnet " + (*net)->subnet().Cidr() +
          ", gateway " + (*net)->subnet().Gateway() +
          ((*net)->subnet6() ? ", IPv6 subnet " + (*net)->subnet6()->Cidr() : "") + ", NAT " +
          (netcfg.nat ? "on" : "off"));
  InstanceManager instances(**ctx, NewCliRuntime(runtime->binary, JoinPath(root, "runtime")),
                            init_path, std::move(seccomp), net->get());
  if (auto st = instances.Adopt(); !st) return Fail(st.error().Context("re-adopt instances"));

  UnixHttpServer server;
  InstallRoutes(server, **ctx, instances);
  InstallInstanceRoutes(server, **ctx, instances);
  InstallSnapshotRoutes(server, **ctx, instances);
  InstallRegistryRoutes(server, **ctx);
  InstallShell(server, **ctx, instances);
  if (auto st = MakeDirs(Dirname(socket), 0755); !st) return Fail(st.error());
  if (auto st = server.BindUnix(socket, 0660); !st) return Fail(st.error());
  LogInfo("kilnd " KILN_VERSION " serving on " + socket + " (root " + root + ")");

  std::thread serve([&] { server.ServeUnix(); });
  int sig = 0;
  for (;;) {
    sigwait(&sigs, &sig);
    if (sig != SIGHUP) break;
  }
  LogInfo(std::string("received ") + strsignal(sig) + ", stopping");
  server.Shutdown();
  serve.join();
  (*ctx)->jobs.WaitAll();  // let image captures in progress finish
  LogInfo("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kilnd - the kiln daemon: owns the image store and serves the kiln API"};
  std::string root = "/var/lib/kiln";
  std::string socket = "/run/kiln/kiln.sock";
  std::string runtime;
  std::string init;
  std::string seccomp = kiln::kDefaultSeccompProfile;
  bool debug = false;
  kiln::NetworkConfig netcfg;
  app.add_option("--root", root, "Directory holding kiln's store and catalog")
      ->capture_default_str();
  app.add_option("--socket", socket, "Unix socket to serve the API on")->capture_default_str();
  app.add_option("--runtime", runtime,
                 "OCI runtime binary (default: crun on cgroup v2, else runc)");
  app.add_option("--init", init,
                 "kiln-init binary for images without an init (default: next to kilnd)");
  app.add_option("--seccomp-profile", seccomp,
                 "Seccomp profile for instances (containers/moby JSON); \"\" for none")
      ->capture_default_str();
  app.add_option("--bridge", netcfg.bridge, "Linux bridge instances attach to (created if missing)")
      ->capture_default_str();
  app.add_option("--subnet", netcfg.subnet,
                 "IPv4 subnet of the bridge; the gateway is its first address")
      ->capture_default_str();
  app.add_option("--subnet6", netcfg.subnet6,
                 "Optional IPv6 subnet of the bridge (e.g. fd87::/64, prefix 48-96); each "
                 "instance's IPv6 address mirrors its IPv4 one");
  app.add_flag("--nat", netcfg.nat,
               "Let instances reach beyond the host (masquerade; turns on IPv4 forwarding)");
  app.add_flag("--debug", debug, "Log debug messages");
  app.set_version_flag("--version", KILN_VERSION);
  CLI11_PARSE(app, argc, argv);
  if (debug) kiln::SetLogLevel(kiln::LogLevel::kDebug);
  try {
    return Run(root, socket, runtime, init, seccomp, netcfg);
  } catch (const std::exception& e) {
    return Fail(kiln::Error::Internal(std::string("unexpected: ") + e.what()));
  }
}
