// instance: the lifecycle of instances: launch from an image (overlay of its unpacked layers and a
// private upper dir, an OCI bundle, the runtime), stop, start, reboot, terminate, exec, and the
// re-adoption of running instances when kilnd starts again.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/subprocess.h"
#include "catalog/catalog.h"
#include "context/context.h"
#include "net/network.h"
#include "runtime/oci_runtime.h"

namespace kiln {

struct LaunchRequest {
  std::string image;
  std::string name;  // may contain {n} with count > 1
  int count = 1;
  std::string type;
  std::vector<std::string> env;
  std::string user_data;
  std::string network;               // bridge (default), none or host
  std::vector<std::string> publish;  // [HOSTADDR:]HOSTPORT:INSTPORT[/tcp|udp]
};

class InstanceManager {
 public:
  // seccomp: linux.seccomp for every instance (null: none).
  // net: bridge networking; null means only "none" and "host" can be launched.
  InstanceManager(Context& ctx, std::unique_ptr<OciRuntime> runtime, std::string init_binary,
                  nlohmann::json seccomp = nullptr, NetworkManager* net = nullptr);

  // All count instances start, or none is left behind.
  Result<std::vector<InstanceRecord>> Launch(const LaunchRequest& req);
  Result<InstanceRecord> Stop(const std::string& ref);
  Result<InstanceRecord> Start(const std::string& ref);
  Result<InstanceRecord> Reboot(const std::string& ref);
  // Terminates: processes, runtime state, cgroup, mounts and the upper dir all go; the record
  // stays as "terminated". A running instance needs force.
  Result<InstanceRecord> Terminate(const std::string& ref, bool force);
  // A process in a running instance, with the given stdio.
  Result<Subprocess> Exec(const std::string& ref, const ExecOptions& opts, int in, int out,
                          int err);
  Result<std::string> ReadLog(const std::string& ref);
  // Replaces the instance's upper dir (its whole change set) with what fill writes into a fresh
  // directory: stops the instance if it runs, swaps the dirs, starts it again. A crash midway
  // leaves either the old or the new upper dir in place, never a mix (see FixUpper).
  Result<InstanceRecord> ReplaceUpper(const std::string& ref,
                                      const std::function<Status(const std::string&)>& fill);
  // Opens path inside a running instance's root filesystem. Symlinks resolve as they would inside
  // the instance (RESOLVE_IN_ROOT): nothing outside its root is ever reached.
  Result<UniqueFd> OpenInInstance(const std::string& ref, const std::string& path, int flags);
  // Runs fn on the instance's merged root filesystem (image layers + its changes), mounting it for
  // the call when the instance is stopped.
  Status WithMergedRoot(const std::string& id, const std::function<Status(const std::string&)>& fn);
  // Freezes every process of a running instance (cgroup freezer). A marker in the instance dir
  // records the freeze until Thaw, so a kilnd that dies in between has its successor thaw it.
  Status Freeze(const std::string& id);
  Status Thaw(const std::string& id);
  // Start-up: bring catalog, runtime and mounts back in line after kilnd was down or crashed.
  Status Adopt();

  std::string DirOf(const std::string& id) const;
  NetworkManager* network() const { return net_; }
  // The instance's addresses on the bridge: IPv4, then IPv6 when the network has it.
  HostAddresses AddressesOf(const InstanceRecord& in) const;

 private:
  Status Prepare(const InstanceRecord& in, const ImageRecord& image);
  // fresh: the instance was just made, so the runtime cannot hold a container of its id.
  Status Boot(const InstanceRecord& in, bool fresh = false);
  Status FixUpper(const std::string& dir);
  Status Halt(const InstanceRecord& in);  // processes and runtime state go; files stay
  // Rewrites /etc/hosts of every live bridge instance with its current peers (in place: the
  // files are bind-mounted). With mu_ held.
  Status RefreshHosts();
  // The forwarder of an instance's published ports (kiln-portfwd), started or stopped.
  Status StartPorts(const InstanceRecord& in);
  void StopPorts(const InstanceRecord& in);
  Status Destroy(const InstanceRecord& in);  // Halt, then mounts and files go

  Context& ctx_;
  std::unique_ptr<OciRuntime> runtime_;
  NetworkManager* net_;
  std::string init_binary_;
  nlohmann::json seccomp_;
  std::string dir_;
  std::mutex mu_;  // lifecycle changes, one at a time (a terminate's teardown runs outside it)
  std::set<std::string> terminating_;  // ids whose teardown is running; with mu_
};

}  // namespace kiln
