// instance: what an instance's cgroup says about it (memory in use, limit hits, OOM kills, pids),
// from cgroup v1 controllers or the v2 unified hierarchy, whichever the host has.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace kiln {

struct CgroupUsage {
  int64_t memory_bytes = -1;  // -1: not available
  int64_t memory_limit_hits = -1;
  int64_t oom_kills = -1;
  int64_t pids = -1;
};

// cgroups_path as given to the runtime, e.g. "/kiln/i-0123...".
CgroupUsage ReadCgroupUsage(const std::string& cgroups_path);

}  // namespace kiln
