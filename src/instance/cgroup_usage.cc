#include "instance/cgroup_usage.h"

#include <fstream>
#include <sstream>

#include "base/fs.h"
#include "runtime/oci_runtime.h"

namespace kiln {
namespace {

int64_t ReadNumber(const std::string& path) {
  std::ifstream f(path);
  int64_t v = -1;
  if (f >> v) return v;
  return -1;
}

// "key value" lines (memory.events, memory.oom_control).
int64_t ReadKey(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string k;
  int64_t v;
  while (f >> k >> v)
    if (k == key) return v;
  return -1;
}

}  // namespace

CgroupUsage ReadCgroupUsage(const std::string& cg) {
  CgroupUsage u;
  if (CgroupV2Unified()) {
    std::string dir = JoinPath("/sys/fs/cgroup", cg);
    u.memory_bytes = ReadNumber(JoinPath(dir, "memory.current"));
    u.memory_limit_hits = ReadKey(JoinPath(dir, "memory.events"), "max");
    u.oom_kills = ReadKey(JoinPath(dir, "memory.events"), "oom_kill");
    u.pids = ReadNumber(JoinPath(dir, "pids.current"));
  } else {
    std::string mem = JoinPath("/sys/fs/cgroup/memory", cg);
    u.memory_bytes = ReadNumber(JoinPath(mem, "memory.usage_in_bytes"));
    u.memory_limit_hits = ReadNumber(JoinPath(mem, "memory.failcnt"));
    u.oom_kills = ReadKey(JoinPath(mem, "memory.oom_control"), "oom_kill");
    u.pids = ReadNumber(JoinPath("/sys/fs/cgroup/pids", cg + "/pids.current"));
  }
  return u;
}

}  // namespace kiln
