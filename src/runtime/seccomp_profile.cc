#include "runtime/seccomp_profile.h"

#include <sys/utsname.h>

#include <algorithm>

#include "base/fs.h"

namespace kiln {
namespace {

using json = nlohmann::json;

bool Contains(const json& list, const std::string& v) {
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(),
                     [&](const json& x) { return x.is_string() && x == v; });
}

std::string OciArch() {
  struct utsname u;
  if (::uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

// The libseccomp name of the host's native architecture.
std::string SeccompArch(const std::string& oci_arch) {
  if (oci_arch == "amd64") return "SCMP_ARCH_X86_64";
  if (oci_arch == "arm64") return "SCMP_ARCH_AARCH64";
  if (oci_arch == "ppc64le") return "SCMP_ARCH_PPC64LE";
  if (oci_arch == "s390x") return "SCMP_ARCH_S390X";
  if (oci_arch == "riscv64") return "SCMP_ARCH_RISCV64";
  return "";
}

}  // namespace

Result<json> ConvertSeccompProfile(const std::string& document,
                                   const std::vector<std::string>& capabilities,
                                   const std::string& oci_arch) {
  json p = json::parse(document, nullptr, false);
  if (!p.is_object() || !p.contains("syscalls") || !p["syscalls"].is_array() ||
      !p.contains("defaultAction") || !p["defaultAction"].is_string())
    return Error::InvalidArgument("seccomp profile: not a containers/moby profile");
  json caps = capabilities;
  json out = {{"defaultAction", p["defaultAction"]}};
  if (p.contains("defaultErrnoRet") && p["defaultErrnoRet"].is_number_integer())
    out["defaultErrnoRet"] = p["defaultErrnoRet"];
  std::string native = SeccompArch(oci_arch);
  json arches = json::array();
  for (const auto& a : p.value("archMap", json::array())) {
    if (a.value("architecture", "") != native) continue;
    arches.push_back(native);
    for (const auto& sub : a.value("subArchitectures", json::array())) arches.push_back(sub);
  }
  if (!arches.empty()) out["architectures"] = arches;
  json syscalls = json::array();
  for (const auto& s : p["syscalls"]) {
    if (!s.is_object() || !s.contains("names") || !s["names"].is_array()) continue;
    const json inc = s.value("includes", json::object()), exc = s.value("excludes", json::object());
    // Included only when every required capability is granted and the arch matches; excluded
    // when any listed capability is granted or the arch is listed.
    bool keep = true;
    for (const auto& c : inc.value("caps", json::array()))
      if (!Contains(caps, c.get<std::string>())) keep = false;
    if (inc.contains("arches") && !inc["arches"].empty() && !Contains(inc["arches"], oci_arch))
      keep = false;
    for (const auto& c : exc.value("caps", json::array()))
      if (Contains(caps, c.get<std::string>())) keep = false;
    if (Contains(exc.value("arches", json::array()), oci_arch)) keep = false;
    if (!keep) continue;
    json rule = {{"names", s["names"]}, {"action", s.value("action", "SCMP_ACT_ERRNO")}};
    if (s.contains("errnoRet") && s["errnoRet"].is_number_integer())
      rule["errnoRet"] = s["errnoRet"];
    if (s.contains("args") && s["args"].is_array() && !s["args"].empty()) {
      json args = json::array();
      for (const auto& a : s["args"])
        args.push_back({{"index", a.value("index", 0)},
                        {"value", a.value("value", uint64_t{0})},
                        {"valueTwo", a.value("valueTwo", uint64_t{0})},
                        {"op", a.value("op", "SCMP_CMP_EQ")}});
      rule["args"] = args;
    }
    syscalls.push_back(rule);
  }
  out["syscalls"] = syscalls;
  return out;
}

Result<json> LoadSeccompProfile(const std::string& path, const std::vector<std::string>& caps) {
  ASSIGN_OR_RETURN(std::string doc, ReadFile(path));
  auto converted = ConvertSeccompProfile(doc, caps, OciArch());
  if (!converted) return std::move(converted).error().Context(path);
  return converted;
}

}  // namespace kiln
