#include "runtime/bundle_spec.h"

namespace kiln {

using json = nlohmann::json;

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return caps;
}

json BuildOciSpec(const BundleSpec& s) {
  const auto& caps = DefaultCapabilities();
  json mounts = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
      {{"destination", "/sys/fs/cgroup"},
       {"type", "cgroup"},
       {"source", "cgroup"},
       {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
  });
  for (const auto& b : s.binds) {
    json opts = {"rbind", "nosuid", "nodev"};
    opts.push_back(b.readonly ? "ro" : "rw");
    mounts.push_back({{"destination", b.destination},
                      {"type", "bind"},
                      {"source", b.source},
                      {"options", opts}});
  }
  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (s.cgroup_namespace) namespaces.push_back({{"type", "cgroup"}});
  if (!s.netns_path.empty())
    namespaces.push_back({{"type", "network"}, {"path", s.netns_path}});
  else if (s.network != "host")
    namespaces.push_back({{"type", "network"}});
  json resources = json::object();
  if (s.memory_bytes > 0) resources["memory"] = {{"limit", s.memory_bytes}};
  if (s.cpu_millis > 0) resources["cpu"] = {{"quota", s.cpu_millis * 100}, {"period", 100000}};
  if (s.pids > 0) resources["pids"] = {{"limit", s.pids}};
  resources["devices"] = json::array({{{"allow", false}, {"access", "rwm"}}});
  json spec = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", s.uid}, {"gid", s.gid}}},
        {"args", s.args},
        {"env", s.env},
        {"cwd", s.cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", false}}},
      {"root", {{"path", s.rootfs}, {"readonly", false}}},
      {"hostname", s.hostname},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", namespaces},
        {"cgroupsPath", s.cgroups_path},
        {"resources", resources},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
  if (!s.seccomp.is_null()) spec["linux"]["seccomp"] = s.seccomp;
  return spec;
}

}  // namespace kiln
