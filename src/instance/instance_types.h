// instance: named resource limits, like EC2 instance types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace kiln {

struct InstanceType {
  std::string name;
  int64_t cpu_millis;  // 1000 = one CPU
  int64_t memory_bytes;
  int64_t pids;
};

const std::vector<InstanceType>& InstanceTypes();
Result<InstanceType> FindInstanceType(const std::string& name);
inline constexpr const char* kDefaultInstanceType = "small";

}  // namespace kiln
