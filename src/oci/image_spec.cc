#include "oci/image_spec.h"

#include <sys/utsname.h>

#include "base/sha256.h"
#include "oci/media_types.h"

namespace kiln::oci {
namespace {

using json = nlohmann::json;

Error Bad(std::string_view where, const std::string& what) {
  return Error::InvalidArgument(std::string(where) + ": " + what);
}

Result<json> ParseJson(std::string_view data, std::string_view what) {
  json j = json::parse(data.begin(), data.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad(what, "not valid JSON");
  if (!j.is_object()) return Bad(what, "not a JSON object");
  return j;
}

Result<std::string> OptString(const json& j, const char* key, std::string_view where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(where, std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> Annotations(const json& j, std::string_view where) {
  std::map<std::string, std::string> out;
  auto it = j.find("annotations");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) return Bad(where, "\"annotations\" must be an object");
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return Bad(where, "annotation \"" + k + "\" must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Status CheckSchemaVersion(const json& j, std::string_view where) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != 2)
    return Bad(where, "\"schemaVersion\" must be 2");
  return Ok();
}

}  // namespace

json Descriptor::ToJson() const {
  json j = {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
  if (!annotations.empty()) j["annotations"] = annotations;
  if (platform) {
    j["platform"] = {{"architecture", platform->architecture}, {"os", platform->os}};
    if (!platform->variant.empty()) j["platform"]["variant"] = platform->variant;
  }
  return j;
}

Result<Descriptor> ParseDescriptor(const json& j, std::string_view where) {
  if (!j.is_object()) return Bad(where, "descriptor must be an object");
  Descriptor d;
  ASSIGN_OR_RETURN(d.media_type, OptString(j, "mediaType", where));
  if (d.media_type.empty()) return Bad(where, "descriptor has no \"mediaType\"");
  ASSIGN_OR_RETURN(d.digest, OptString(j, "digest", where));
  TRY_CTX(ValidateDigest(d.digest), where);
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    return Bad(where, "descriptor \"size\" must be a non-negative integer");
  d.size = size->get<int64_t>();
  ASSIGN_OR_RETURN(d.annotations, Annotations(j, where));
  if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return Bad(where, "\"platform\" must be an object");
    Platform pl;
    ASSIGN_OR_RETURN(pl.architecture, OptString(*p, "architecture", where));
    ASSIGN_OR_RETURN(pl.os, OptString(*p, "os", where));
    ASSIGN_OR_RETURN(pl.variant, OptString(*p, "variant", where));
    d.platform = pl;
  }
  return d;
}

Result<Manifest> ParseManifest(std::string_view data) {
  constexpr std::string_view kWhere = "manifest";
  ASSIGN_OR_RETURN(json j, ParseJson(data, kWhere));
  TRY(CheckSchemaVersion(j, kWhere));
  Manifest m;
  ASSIGN_OR_RETURN(m.media_type, OptString(j, "mediaType", kWhere));
  if (!m.media_type.empty() && !IsManifestMediaType(m.media_type))
    return Error::Unsupported("manifest: unsupported media type \"" + m.media_type + "\"");
  auto cfg = j.find("config");
  if (cfg == j.end()) return Bad(kWhere, "no \"config\"");
  ASSIGN_OR_RETURN(m.config, ParseDescriptor(*cfg, "manifest config"));
  if (!IsConfigMediaType(m.config.media_type))
    return Error::Unsupported("manifest: unsupported config media type \"" + m.config.media_type +
                              "\"");
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return Bad(kWhere, "\"layers\" must be an array");
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string where = "manifest layer " + std::to_string(i + 1);
    ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor((*layers)[i], where));
    if (!IsLayerMediaType(d.media_type))
      return Error::Unsupported(where + ": unsupported media type \"" + d.media_type + "\"");
    m.layers.push_back(std::move(d));
  }
  ASSIGN_OR_RETURN(m.annotations, Annotations(j, kWhere));
  return m;
}

Result<Index> ParseIndex(std::string_view data) {
  constexpr std::string_view kWhere = "index";
  ASSIGN_OR_RETURN(json j, ParseJson(data, kWhere));
  TRY(CheckSchemaVersion(j, kWhere));
  ASSIGN_OR_RETURN(std::string mt, OptString(j, "mediaType", kWhere));
  if (!mt.empty() && !IsIndexMediaType(mt))
    return Error::Unsupported("index: unsupported media type \"" + mt + "\"");
  auto ms = j.find("manifests");
  if (ms == j.end() || !ms->is_array()) return Bad(kWhere, "\"manifests\" must be an array");
  Index idx;
  for (size_t i = 0; i < ms->size(); ++i) {
    ASSIGN_OR_RETURN(Descriptor d,
                     ParseDescriptor((*ms)[i], "index entry " + std::to_string(i + 1)));
    idx.manifests.push_back(std::move(d));
  }
  return idx;
}

Result<ImageConfig> ParseConfig(std::string_view data) {
  constexpr std::string_view kWhere = "image config";
  ASSIGN_OR_RETURN(json j, ParseJson(data, kWhere));
  ImageConfig c;
  ASSIGN_OR_RETURN(c.architecture, OptString(j, "architecture", kWhere));
  ASSIGN_OR_RETURN(c.os, OptString(j, "os", kWhere));
  if (c.architecture.empty() || c.os.empty())
    return Bad(kWhere, "\"architecture\" and \"os\" are required");
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) return Bad(kWhere, "no \"rootfs\" object");
  auto type = rootfs->find("type");
  if (type == rootfs->end() || *type != "layers")
    return Bad(kWhere, "rootfs.type must be \"layers\"");
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array())
    return Bad(kWhere, "rootfs.diff_ids must be an array");
  for (const auto& d : *ids) {
    if (!d.is_string()) return Bad(kWhere, "rootfs.diff_ids entries must be strings");
    std::string s = d.get<std::string>();
    TRY_CTX(ValidateDigest(s), std::string(kWhere) + ": rootfs.diff_ids");
    c.diff_ids.push_back(std::move(s));
  }
  c.raw = std::move(j);
  return c;
}

std::string HostArchitecture() {
  struct utsname u;
  if (::uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "armv7l") return "arm";
  if (m == "i686" || m == "i386") return "386";
  return m;  // ppc64le, s390x, riscv64 use the same words in both worlds
}

std::string SerializeManifest(const Descriptor& config, const std::vector<Descriptor>& layers,
                              const std::map<std::string, std::string>& annotations) {
  json j = {{"schemaVersion", 2}, {"mediaType", kManifest}, {"config", config.ToJson()}};
  j["layers"] = json::array();
  for (const auto& l : layers) j["layers"].push_back(l.ToJson());
  if (!annotations.empty()) j["annotations"] = annotations;
  return j.dump();
}

}  // namespace kiln::oci
