#include "instance/instance_types.h"

namespace kiln {

const std::vector<InstanceType>& InstanceTypes() {
  constexpr int64_t kMiB = 1 << 20;
  static const std::vector<InstanceType> types = {
      {"nano", 250, 256 * kMiB, 256},     {"micro", 500, 512 * kMiB, 512},
      {"small", 1000, 1024 * kMiB, 1024}, {"medium", 2000, 4096 * kMiB, 4096},
      {"large", 4000, 8192 * kMiB, 8192},
  };
  return types;
}

Result<InstanceType> FindInstanceType(const std::string& name) {
  std::string names;
  for (const auto& t : InstanceTypes()) {
    if (t.name == name) return t;
    names += (names.empty() ? "" : ", ") + t.name;
  }
  return Error::InvalidArgument("unknown instance type \"" + name + "\" (types: " + names + ")");
}

}  // namespace kiln
