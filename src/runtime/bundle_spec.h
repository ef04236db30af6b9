// runtime: the OCI runtime-spec config.json kiln writes for an instance. Isolation by default:
// mount, pid, uts, ipc, network and (where available) cgroup namespaces, the containerd/Docker
// default capability set, masked /proc paths, no host paths except kiln's own files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln {

struct BindMount {
  std::string source;  // a file or dir kiln owns (instance dir, kiln-init)
  std::string destination;
  bool readonly = true;
};

struct BundleSpec {
  std::string rootfs;  // absolute path of the mounted overlay
  std::string hostname;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::string cgroups_path;  // e.g. /kiln/i-0123...
  int64_t memory_bytes = 0;  // 0: no limit
  int64_t cpu_millis = 0;    // 1000 = one CPU; 0: no limit
  int64_t pids = 0;          // 0: no limit
  bool cgroup_namespace = true;
  std::string network = "none";  // none: a new namespace (loopback only); host: none at all
  std::string netns_path;        // join this namespace instead (bridge mode)
  std::vector<BindMount> binds;
  nlohmann::json seccomp;  // linux.seccomp, or null for none
};

nlohmann::json BuildOciSpec(const BundleSpec& spec);

// The default capability set (what containerd and Docker grant).
const std::vector<std::string>& DefaultCapabilities();

}  // namespace kiln
