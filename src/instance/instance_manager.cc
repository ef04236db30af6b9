#include "instance/instance_manager.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/unique_fd.h"
#include "instance/instance_types.h"
#include "rootfs/overlay.h"
#include "runtime/bundle_spec.h"

namespace kiln {
namespace {

using json = nlohmann::json;
constexpr int kMaxCount = 100;
constexpr auto kStopTimeout = std::chrono::seconds(10);

// Boots of one launch that run at once: twice the cores, as each boot waits on the runtime.
int LaunchWorkers() {
  return static_cast<int>(std::clamp(2 * std::thread::hardware_concurrency(), 1u, 8u));
}

std::string Paths(const std::string& dir, const char* sub) {
  return JoinPath(dir, sub);
}

bool Live(const std::string& status) {
  return status == "running" || status == "paused" || status == "created" || status == "creating";
}

// What the image asks to run, from its OCI config.
struct ImageProcess {
  std::vector<std::string> args, env;
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
};

Result<ImageProcess> ProcessFromConfig(Context& ctx, const ImageRecord& image) {
  ImageProcess p;
  ASSIGN_OR_RETURN(std::string doc, ctx.store->ReadAll(image.config_digest));
  json cfg = json::parse(doc, nullptr, false);
  if (!cfg.is_object() || !cfg.contains("config") || !cfg["config"].is_object()) return p;
  const json& c = cfg["config"];
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (c.contains(key) && c[key].is_array())
      for (const auto& v : c[key])
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
  };
  p.args = strings("Entrypoint");
  for (auto& a : strings("Cmd")) p.args.push_back(a);
  p.env = strings("Env");
  if (c.contains("WorkingDir") && c["WorkingDir"].is_string() &&
      !c["WorkingDir"].get<std::string>().empty())
    p.cwd = c["WorkingDir"].get<std::string>();
  if (c.contains("User") && c["User"].is_string() && !c["User"].get<std::string>().empty()) {
    std::string u = c["User"].get<std::string>();
    unsigned uid = 0, gid = 0;
    int n = std::sscanf(u.c_str(), "%u:%u", &uid, &gid);
    if (n < 1) return Error::Unsupported("image user \"" + u + "\" is not numeric (uid[:gid])");
    p.uid = uid;
    p.gid = n == 2 ? gid : uid;
  }
  return p;
}

}  // namespace

InstanceManager::InstanceManager(Context& ctx, std::unique_ptr<OciRuntime> runtime,
                                 std::string init_binary, nlohmann::json seccomp,
                                 NetworkManager* net)
    : ctx_(ctx),
      runtime_(std::move(runtime)),
      net_(net),
      init_binary_(std::move(init_binary)),
      seccomp_(std::move(seccomp)),
      dir_(JoinPath(ctx.root, "instances")) {}

std::string InstanceManager::DirOf(const std::string& id) const {
  return JoinPath(dir_, id);
}

// A restore renames upper -> upper.old and upper.new -> upper. Finish or undo what a crash cut.
Status InstanceManager::FixUpper(const std::string& dir) {
  std::string upper = Paths(dir, "upper"), fresh = Paths(dir, "upper.new"),
              old = Paths(dir, "upper.old");
  ASSIGN_OR_RETURN(bool has_upper, Exists(upper));
  ASSIGN_OR_RETURN(bool has_fresh, Exists(fresh));
  if (!has_upper && has_fresh) {
    if (::rename(fresh.c_str(), upper.c_str()) != 0) return Error::Sys(errno, "finish restore");
  } else if (has_fresh) {
    TRY(RemoveAll(fresh));  // the new one was not complete: the old one stays
  }
  return RemoveAll(old);
}

HostAddresses InstanceManager::AddressesOf(const InstanceRecord& in) const {
  HostAddresses out;
  if (in.ip.empty()) return out;
  out.push_back(in.ip);
  if (net_ && in.network == kNetworkBridge)
    if (std::string v6 = net_->IPv6For(in.ip); !v6.empty()) out.push_back(v6);
  return out;
}

Status InstanceManager::Prepare(const InstanceRecord& in, const ImageRecord& image) {
  std::string dir = DirOf(in.id);
  TRY(FixUpper(dir));
  for (const char* sub : {"upper", "work", "rootfs", "etc"}) TRY(MakeDirs(Paths(dir, sub), 0755));
  TRY(::chmod(dir.c_str(), 0700) == 0 ? Ok() : Error::Sys(errno, "chmod " + dir));
  std::vector<std::string> lowers;
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
    ASSIGN_OR_RETURN(std::string p, ctx_.layers->Ensure(*it));
    lowers.push_back(p);
  }
  // Instance-specific files live in the instance dir and are bind-mounted, never in the image.
  TRY(WriteFileAtomic(Paths(dir, "etc/hostname"), in.name + "\n"));
  TRY(WriteFileAtomic(Paths(dir, "etc/hosts"), HostsFileFor(in.name, AddressesOf(in), {})));
  auto resolv = ReadFile("/etc/resolv.conf");
  std::string host_resolv = resolv ? *resolv : "";
  TRY(WriteFileAtomic(Paths(dir, "etc/resolv.conf"),
                      in.network == kNetworkHost ? host_resolv : ResolvConfFor(host_resolv)));
  TRY(WriteFileAtomic(Paths(dir, "user-data"), in.user_data, 0600));
  TRY(MountOverlay(lowers, Paths(dir, "upper"), Paths(dir, "work"), Paths(dir, "rootfs")));

  ASSIGN_OR_RETURN(ImageProcess proc, ProcessFromConfig(ctx_, image));
  ASSIGN_OR_RETURN(InstanceType type, FindInstanceType(in.type));
  BundleSpec spec;
  spec.rootfs = Paths(dir, "rootfs");
  spec.hostname = in.name;
  spec.cwd = proc.cwd;
  spec.uid = proc.uid;
  spec.gid = proc.gid;
  spec.env = proc.env;
  if (spec.env.empty())
    spec.env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  spec.env.push_back("HOSTNAME=" + in.name);
  spec.env.push_back("KILN_INSTANCE_ID=" + in.id);
  for (const auto& e : in.env) spec.env.push_back(e);
  spec.cgroups_path = "/kiln/" + in.id;
  spec.seccomp = seccomp_;
  spec.cpu_millis = type.cpu_millis;
  spec.memory_bytes = type.memory_bytes;
  spec.pids = type.pids;
  spec.network = in.network;
  if (in.network == kNetworkBridge) {
    if (!net_) return Error::Unsupported("bridge networking is not set up in this kilnd");
    spec.netns_path = net_->NamespacePath(in.id);
  }
  spec.binds = {{Paths(dir, "etc/hostname"), "/etc/hostname", true},
                {Paths(dir, "etc/hosts"), "/etc/hosts", true},
                {Paths(dir, "etc/resolv.conf"), "/etc/resolv.conf", true},
                {Paths(dir, "user-data"), "/.kiln/user-data", true}};
  struct stat st;
  std::string own_init = Paths(dir, "rootfs/sbin/init");
  if (!proc.args.empty()) {
    spec.args = proc.args;
  } else if (::stat(own_init.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    spec.args = {"/sbin/init"};
  } else {
    if (init_binary_.empty() || ::access(init_binary_.c_str(), X_OK) != 0)
      return Error::NotFound("kiln-init not found at \"" + init_binary_ +
                             "\" and the image has no init");
    spec.binds.push_back({init_binary_, "/.kiln/init", true});
    spec.args = {"/.kiln/init"};
  }
  return WriteFileAtomic(Paths(dir, "config.json"), BuildOciSpec(spec).dump(2));
}

Status InstanceManager::Boot(const InstanceRecord& in, bool fresh) {
  std::string dir = DirOf(in.id);
  if (!IsMountPoint(Paths(dir, "rootfs"))) {
    ASSIGN_OR_RETURN(ImageRecord image, ctx_.catalog->GetImage(in.image_id));
    TRY(Prepare(in, image));
  }
  ASSIGN_OR_RETURN(UniqueFd log, OpenFile(Paths(dir, "log"), O_RDWR | O_CREAT | O_APPEND, 0640));
  // The namespace outlives stops and kilnd restarts; after a host reboot it is made again.
  if (in.network == kNetworkBridge) TRY(net_->Attach(in.id, in.ip));
  // A stopped container of the same id may linger in the runtime: clear it first. A new id
  // cannot have one.
  if (!fresh) {
    ASSIGN_OR_RETURN(ContainerState st, runtime_->State(in.id));
    if (!st.status.empty()) TRY(runtime_->Delete(in.id, true));
  }
  TRY(runtime_->Run(in.id, dir, log.get()));
  return StartPorts(in);
}

Status InstanceManager::StartPorts(const InstanceRecord& in) {
  if (in.publish.empty()) return Ok();
  std::vector<PortMapping> ports;
  for (const auto& p : in.publish) {
    ASSIGN_OR_RETURN(PortMapping m, PortMapping::FromCanonical(p));
    ports.push_back(m);
  }
  ASSIGN_OR_RETURN(int pid, net_->StartForwarder(in.ip, ports));
  return WriteFileAtomic(Paths(DirOf(in.id), "portfwd.pid"), std::to_string(pid) + "\n");
}

void InstanceManager::StopPorts(const InstanceRecord& in) {
  std::string path = Paths(DirOf(in.id), "portfwd.pid");
  auto text = ReadFile(path);
  if (!text) return;
  NetworkManager::StopForwarder(std::atoi(text->c_str()));
  ::unlink(path.c_str());
}

Status InstanceManager::Halt(const InstanceRecord& in) {
  StopPorts(in);
  ASSIGN_OR_RETURN(ContainerState st, runtime_->State(in.id));
  if (Live(st.status)) {
    // A pidfd of the instance's init wakes us the moment it exits; without one (an old kernel)
    // the runtime is asked every 50 ms.
    UniqueFd init(st.pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, st.pid, 0)) : -1);
    if (st.status == "paused") (void)runtime_->Resume(in.id);
    (void)runtime_->Kill(in.id, SIGTERM);
    if (init.valid()) {
      struct pollfd p = {init.get(), POLLIN, 0};
      int rc;
      do {
        rc = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kStopTimeout).count()));
      } while (rc < 0 && errno == EINTR);
      if (rc > 0) {
        st.status = "stopped";
      } else {  // timed out (or poll failed): the runtime says whether it is still there
        ASSIGN_OR_RETURN(st, runtime_->State(in.id));
      }
    } else {
      auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
      while (std::chrono::steady_clock::now() < deadline) {
        ASSIGN_OR_RETURN(st, runtime_->State(in.id));
        if (!Live(st.status)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    if (Live(st.status)) {
      LogWarn("instance " + in.id + " did not stop within 10 s; killing it");
      (void)runtime_->Kill(in.id, SIGKILL);
    }
  }
  if (!st.status.empty()) TRY(runtime_->Delete(in.id, true));
  return Unmount(Paths(DirOf(in.id), "rootfs"));
}

Status InstanceManager::Destroy(const InstanceRecord& in) {
  TRY(Halt(in));
  if (in.network == kNetworkBridge && net_) TRY(net_->Detach(in.id));
  for (const auto& m : MountsUnder(DirOf(in.id))) TRY(Unmount(m));
  return ctx_.trash->Discard(DirOf(in.id));
}

Status InstanceManager::RefreshHosts() {
  ASSIGN_OR_RETURN(auto all, ctx_.catalog->ListInstances(false));
  std::map<std::string, HostAddresses> peers;
  for (const auto& in : all)
    if (in.network == kNetworkBridge && !in.ip.empty() && in.state != kInstanceShuttingDown)
      peers[in.name] = AddressesOf(in);
  for (const auto& in : all) {
    if (in.network != kNetworkBridge || !peers.count(in.name)) continue;
    std::string path = Paths(DirOf(in.id), "etc/hosts");
    if (::access(path.c_str(), F_OK) != 0) continue;
    std::string text = HostsFileFor(in.name, AddressesOf(in), peers);
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_TRUNC | O_CLOEXEC));
    TRY(WriteFull(fd.get(), text.data(), text.size()));
  }
  return Ok();
}

Result<std::vector<InstanceRecord>> InstanceManager::Launch(const LaunchRequest& req) {
  if (req.count < 1 || req.count > kMaxCount)
    return Error::InvalidArgument("--count must be between 1 and " + std::to_string(kMaxCount));
  std::string type = req.type.empty() ? kDefaultInstanceType : req.type;
  TRY(FindInstanceType(type));
  for (const auto& e : req.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      return Error::InvalidArgument("environment variable \"" + e + "\" must be KEY=VALUE");
  if (req.user_data.size() > 16 * 1024)
    return Error::InvalidArgument("user-data is larger than 16 KiB");
  ASSIGN_OR_RETURN(ImageRecord image, ctx_.catalog->GetImage(req.image));
  if (image.state != kImageAvailable)
    return Error::Conflict("image " + image.name + " is " + image.state);
  std::string network = req.network.empty() ? kNetworkBridge : req.network;
  TRY(ValidateNetworkMode(network));
  if (network == kNetworkBridge && !net_)
    return Error::Unsupported("bridge networking is not set up in this kilnd; use --network none");
  std::vector<std::string> publish;
  std::set<std::string> bound;
  for (const auto& p : req.publish) {
    ASSIGN_OR_RETURN(PortMapping m, PortMapping::Parse(p));
    if (network != kNetworkBridge)
      return Error::InvalidArgument("--publish needs --network bridge (with " + network +
                                    (network == kNetworkHost
                                         ? " the instance's ports are the host's"
                                         : " nothing can reach the instance") +
                                    ")");
    if (!bound.insert(m.protocol + " " + m.host_ip + ":" + std::to_string(m.host_port)).second)
      return Error::InvalidArgument("host port " + m.host_ip + ":" + std::to_string(m.host_port) +
                                    "/" + m.protocol + " is published twice");
    publish.push_back(m.Canonical());
  }
  if (!publish.empty() && req.count > 1)
    return Error::InvalidArgument(
        "--publish binds host ports, which only one instance can hold; "
        "launch with --count 1");
  bool templated = req.name.find("{n}") != std::string::npos;
  if (req.count > 1 && !req.name.empty() && !templated)
    return Error::InvalidArgument("with --count above 1 the name must contain {n} (e.g. web-{n})");

  std::vector<InstanceRecord> batch;
  std::set<std::string> names;
  for (int n = 1; n <= req.count; ++n) {
    InstanceRecord in;
    in.id = NewId("i-");
    in.name = req.name;
    if (in.name.empty()) in.name = image.name + "-" + in.id.substr(2, 6);
    for (size_t p; (p = in.name.find("{n}")) != std::string::npos;)
      in.name.replace(p, 3, std::to_string(n));
    TRY(ValidateName(in.name, "instance"));
    if (!names.insert(in.name).second)
      return Error::InvalidArgument("instance name \"" + in.name + "\" repeats in this launch");
    in.image_id = image.id;
    in.state = kInstancePending;
    in.type = type;
    in.created_at = NowSeconds();
    in.env = req.env;
    in.user_data = req.user_data;
    in.network = network;
    in.publish = publish;
    batch.push_back(std::move(in));
  }
  std::lock_guard lock(mu_);
  if (network == kNetworkBridge) {  // addresses are picked and inserted under mu_: never shared
    ASSIGN_OR_RETURN(auto live, ctx_.catalog->ListInstances(false));
    std::set<std::string> used;
    for (const auto& in : live)
      if (!in.ip.empty()) used.insert(in.ip);
    ASSIGN_OR_RETURN(auto ips, net_->Allocate(used, batch.size()));
    for (size_t i = 0; i < batch.size(); ++i) batch[i].ip = ips[i];
  }
  TRY(ctx_.catalog->InsertInstances(batch));
  // Instances of one launch boot side by side: most of a boot is the runtime's own start-up,
  // which leaves a core idle while it waits.
  std::vector<char> attempted(batch.size(), 0);
  Status st = ForEachParallel(batch.size(), LaunchWorkers(), [&](size_t i) -> Status {
    attempted[i] = 1;
    InstanceRecord& in = batch[i];
    Status booted = Prepare(in, image);
    if (booted) booted = Boot(in, /*fresh=*/true);
    if (!booted) return std::move(booted).error().Context("launch " + in.name);
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceRunning));
    in.state = kInstanceRunning;
    LogInfo("launched instance " + in.id + " \"" + in.name + "\" from " + image.name +
            (in.ip.empty() ? "" : " at " + in.ip));
    return Ok();
  });
  if (!st) {
    // All or none: take down every instance of this launch, then forget them.
    for (size_t j = 0; j < batch.size(); ++j) {
      if (attempted[j])
        if (auto d = Destroy(batch[j]); !d) LogError("launch rollback: " + d.error().message());
      (void)ctx_.catalog->DeleteInstance(batch[j].id);
    }
    (void)RefreshHosts();
    return std::move(st).error();
  }
  if (network == kNetworkBridge)
    if (auto st = RefreshHosts(); !st) LogWarn("update /etc/hosts: " + st.error().message());
  return batch;
}

Result<InstanceRecord> InstanceManager::Stop(const std::string& ref) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(InstanceRecord in, ctx_.catalog->GetInstance(ref));
  if (in.state == kInstanceStopped) return in;
  if (in.state != kInstanceRunning)
    return Error::Conflict("instance " + in.name + " is " + in.state);
  TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceStopping));
  Status st = Halt(in);
  if (!st) {
    (void)ctx_.catalog->SetInstanceState(in.id, kInstanceRunning, st.error().message());
    return std::move(st).error().Context("stop " + in.name);
  }
  TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceStopped));
  return ctx_.catalog->GetInstance(in.id);
}

Result<InstanceRecord> InstanceManager::Start(const std::string& ref) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(InstanceRecord in, ctx_.catalog->GetInstance(ref));
  if (in.state == kInstanceRunning) return in;
  if (in.state != kInstanceStopped)
    return Error::Conflict("instance " + in.name + " is " + in.state);
  TRY(ctx_.catalog->SetInstanceState(in.id, kInstancePending));
  Status st = Boot(in);
  if (!st) {
    (void)Halt(in);
    (void)ctx_.catalog->SetInstanceState(in.id, kInstanceStopped, st.error().message());
    return std::move(st).error().Context("start " + in.name);
  }
  TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceRunning));
  return ctx_.catalog->GetInstance(in.id);
}

Result<InstanceRecord> InstanceManager::Reboot(const std::string& ref) {
  ASSIGN_OR_RETURN(InstanceRecord in, Stop(ref));
  return Start(in.id);
}

Result<InstanceRecord> InstanceManager::Terminate(const std::string& ref, bool force) {
  InstanceRecord in;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(in, ctx_.catalog->GetInstance(ref));
    if (in.state == kInstanceTerminated) return in;
    if (in.state == kInstanceRunning && !force)
      return Error::Conflict("instance " + in.name + " is running: stop it first or use --force");
    if (terminating_.count(in.id))
      return Error::Conflict("instance " + in.name + " is being terminated already");
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceShuttingDown));
    terminating_.insert(in.id);
  }
  // The teardown runs without the lifecycle lock, so terminates of many instances run side by
  // side and launches do not queue behind them. shutting-down turns every other lifecycle
  // change of this instance away, and terminating_ a second terminate.
  Status st = Destroy(in);
  std::lock_guard lock(mu_);
  terminating_.erase(in.id);
  if (!st) {
    (void)ctx_.catalog->SetInstanceState(in.id, kInstanceShuttingDown, st.error().message());
    return std::move(st).error().Context("terminate " + in.name);
  }
  TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceTerminated));
  LogInfo("terminated instance " + in.id + " \"" + in.name + "\"");
  if (in.network == kNetworkBridge)
    if (auto r = RefreshHosts(); !r) LogWarn("update /etc/hosts: " + r.error().message());
  return ctx_.catalog->GetInstance(in.id);
}

Result<Subprocess> InstanceManager::Exec(const std::string& ref, const ExecOptions& opts, int in,
                                         int out, int err) {
  ASSIGN_OR_RETURN(InstanceRecord rec, ctx_.catalog->GetInstance(ref));
  if (rec.state != kInstanceRunning)
    return Error::Conflict("instance " + rec.name + " is " + rec.state + ", not running");
  if (opts.args.empty()) return Error::InvalidArgument("exec needs a command");
  return runtime_->Exec(rec.id, opts, in, out, err);
}

Result<std::string> InstanceManager::ReadLog(const std::string& ref) {
  ASSIGN_OR_RETURN(InstanceRecord rec, ctx_.catalog->GetInstance(ref));
  auto log = ReadFile(Paths(DirOf(rec.id), "log"));
  if (!log && log.error().code() == ErrorCode::kNotFound) return std::string();
  return log;
}

Result<InstanceRecord> InstanceManager::ReplaceUpper(
    const std::string& ref, const std::function<Status(const std::string&)>& fill) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(InstanceRecord in, ctx_.catalog->GetInstance(ref));
  if (in.state != kInstanceRunning && in.state != kInstanceStopped)
    return Error::Conflict("instance " + in.name + " is " + in.state);
  bool was_running = in.state == kInstanceRunning;
  std::string dir = DirOf(in.id);
  std::string fresh = Paths(dir, "upper.new");
  TRY(RemoveAll(fresh));
  TRY(MakeDirs(fresh, 0755));
  Status filled = fill(fresh);
  if (filled) {
    ASSIGN_OR_RETURN(UniqueFd d, OpenFile(fresh, O_RDONLY | O_DIRECTORY));
    if (::syncfs(d.get()) != 0) filled = Error::Sys(errno, "sync " + fresh);
  }
  if (!filled) {
    (void)RemoveAll(fresh);
    return std::move(filled).error();
  }
  if (was_running) {
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceStopping));
    TRY(Halt(in));
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceStopped));
  } else {
    TRY(Unmount(Paths(dir, "rootfs")));
  }
  std::string upper = Paths(dir, "upper"), old = Paths(dir, "upper.old");
  if (::rename(upper.c_str(), old.c_str()) != 0) return Error::Sys(errno, "swap upper dir");
  if (::rename(fresh.c_str(), upper.c_str()) != 0) return Error::Sys(errno, "swap upper dir");
  TRY(FsyncDir(dir));
  TRY(ctx_.trash->Discard(old));
  // overlayfs wants an empty work dir that belongs to this upper dir.
  TRY(RemoveAll(Paths(dir, "work")));
  TRY(MakeDirs(Paths(dir, "work"), 0755));
  if (was_running) {
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstancePending));
    Status st = Boot(in);
    if (!st) {
      (void)Halt(in);
      (void)ctx_.catalog->SetInstanceState(in.id, kInstanceStopped, st.error().message());
      return std::move(st).error().Context("start after restore");
    }
    TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceRunning));
  }
  return ctx_.catalog->GetInstance(in.id);
}

Result<UniqueFd> InstanceManager::OpenInInstance(const std::string& ref, const std::string& path,
                                                 int flags) {
  ASSIGN_OR_RETURN(InstanceRecord in, ctx_.catalog->GetInstance(ref));
  if (in.state != kInstanceRunning)
    return Error::Conflict("instance " + in.name + " is " + in.state + ", not running");
  ASSIGN_OR_RETURN(UniqueFd root, OpenFile(Paths(DirOf(in.id), "rootfs"), O_PATH | O_DIRECTORY));
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  int fd = OpenAt2(root.get(), rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return Error::Sys(errno, in.name + ":" + path);
  return UniqueFd(fd);
}

Status InstanceManager::WithMergedRoot(const std::string& id,
                                       const std::function<Status(const std::string&)>& fn) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(InstanceRecord in, ctx_.catalog->GetInstance(id));
  // A terminate marks the instance under mu_ before its teardown, which runs without mu_.
  if (in.state == kInstanceShuttingDown || in.state == kInstanceTerminated)
    return Error::Conflict("instance " + in.name + " is " + in.state);
  std::string dir = DirOf(in.id), rootfs = Paths(dir, "rootfs");
  if (IsMountPoint(rootfs)) return fn(rootfs);
  ASSIGN_OR_RETURN(ImageRecord image, ctx_.catalog->GetImage(in.image_id));
  TRY(FixUpper(dir));
  std::vector<std::string> lowers;
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
    ASSIGN_OR_RETURN(std::string p, ctx_.layers->Ensure(*it));
    lowers.push_back(p);
  }
  TRY(MountOverlay(lowers, Paths(dir, "upper"), Paths(dir, "work"), rootfs));
  Status st = fn(rootfs);
  Status um = Unmount(rootfs);
  TRY(st);
  return um;
}

Status InstanceManager::Freeze(const std::string& id) {
  TRY(WriteFileAtomic(Paths(DirOf(id), "frozen"), "capture\n"));
  Status st = runtime_->Pause(id);
  if (!st) ::unlink(Paths(DirOf(id), "frozen").c_str());
  return st;
}

Status InstanceManager::Thaw(const std::string& id) {
  TRY(runtime_->Resume(id));
  if (::unlink(Paths(DirOf(id), "frozen").c_str()) != 0 && errno != ENOENT)
    return Error::Sys(errno, "remove freeze marker of " + id);
  return Ok();
}

Status InstanceManager::Adopt() {
  std::lock_guard lock(mu_);
  TRY(MakeDirs(dir_, 0700));
  ASSIGN_OR_RETURN(auto all, ctx_.catalog->ListInstances(false));
  std::set<std::string> keep_dirs;
  for (const auto& in : all) {
    ASSIGN_OR_RETURN(ContainerState st, runtime_->State(in.id));
    keep_dirs.insert(in.id);
    if (in.state == kInstancePending) {
      // kilnd died during launch or start: the launch never completed.
      LogWarn("recovery: rolling back unfinished launch of " + in.id);
      TRY(Destroy(in));
      TRY(ctx_.catalog->DeleteInstance(in.id));
      keep_dirs.erase(in.id);
    } else if (in.state == kInstanceShuttingDown) {
      TRY(Destroy(in));
      TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceTerminated));
      keep_dirs.erase(in.id);
    } else if (Live(st.status)) {
      // A capture frozen by a kilnd that died: thaw it. The freezer may still be on its way to
      // frozen (the runtime reports that as running), so give it a moment to settle.
      std::string marker = Paths(DirOf(in.id), "frozen");
      if (::access(marker.c_str(), F_OK) == 0) {
        for (int i = 0; i < 20 && st.status != "paused"; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          ASSIGN_OR_RETURN(st, runtime_->State(in.id));
        }
      }
      if (st.status == "paused") {
        LogWarn("recovery: thawing instance " + in.id + " left frozen");
        TRY(runtime_->Resume(in.id));
      }
      ::unlink(marker.c_str());
      // Published ports: the forwarder normally outlives kilnd; start it again if it did not.
      if (!in.publish.empty()) {
        auto pid = ReadFile(Paths(DirOf(in.id), "portfwd.pid"));
        if (!pid || !NetworkManager::ForwarderAlive(std::atoi(pid->c_str()))) {
          LogWarn("recovery: restarting the port forwarder of " + in.id);
          if (auto ps = StartPorts(in); !ps)
            LogError("ports of " + in.id + ": " + ps.error().message());
        }
      }
      if (in.state != kInstanceRunning)
        TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceRunning));
      LogInfo("re-adopted running instance " + in.id + " \"" + in.name + "\"");
    } else {
      // Not running in the runtime: whatever the catalog said, it is stopped now.
      TRY(Halt(in));
      if (in.state != kInstanceStopped)
        TRY(ctx_.catalog->SetInstanceState(in.id, kInstanceStopped,
                                           "stopped while kilnd was down"));
    }
  }
  // Directories and mounts no live instance owns are leftovers of a crash.
  ASSIGN_OR_RETURN(auto dirs, ListDir(dir_));
  for (const auto& d : dirs) {
    if (keep_dirs.count(d)) continue;
    LogWarn("recovery: removing leftover instance dir " + d);
    if (IsId(d, "i-")) (void)runtime_->Delete(d, true);
    for (const auto& m : MountsUnder(JoinPath(dir_, d))) TRY(Unmount(m));
    TRY(RemoveAll(JoinPath(dir_, d)));
  }
  if (net_) {
    // Namespaces and veths of instances that are gone (kilnd died mid-launch or mid-terminate).
    ASSIGN_OR_RETURN(auto every, ctx_.catalog->ListInstances(true));
    std::set<std::string> known;
    for (const auto& in : every) known.insert(in.id);
    ASSIGN_OR_RETURN(int removed, net_->Reconcile(known, keep_dirs));
    if (removed > 0) LogWarn("recovery: removed " + std::to_string(removed) + " network leftovers");
    TRY(RefreshHosts());
  }
  return Ok();
}

}  // namespace kiln
