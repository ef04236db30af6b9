#include "api/request_body.h"

#include <climits>

#include "registry/reference.h"

namespace kiln {

using json = nlohmann::json;

namespace {

Error Bad(const char* key, const std::string& what) {
  return Error::InvalidArgument(std::string("\"") + key + "\" " + what);
}

}  // namespace

Result<Body> Body::Parse(std::string_view text) {
  if (text.empty()) return Body(json::object());
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error::InvalidArgument("request body must be a JSON object");
  return Body(std::move(j));
}

Result<std::string> Body::String(const char* key, bool required) const {
  if (!j_.contains(key)) {
    if (required) return Bad(key, "is required");
    return std::string();
  }
  const json& v = j_[key];
  if (!v.is_string()) return Bad(key, "must be a string");
  return v.get<std::string>();
}

Result<bool> Body::Bool(const char* key, bool fallback) const {
  if (!j_.contains(key)) return fallback;
  const json& v = j_[key];
  if (!v.is_boolean()) return Bad(key, "must be true or false");
  return v.get<bool>();
}

Result<int64_t> Body::Int(const char* key, int64_t fallback, int64_t min, int64_t max) const {
  if (!j_.contains(key)) return fallback;
  const json& v = j_[key];
  bool in_range = false;
  if (v.is_number_unsigned())  // nlohmann keeps every non-negative integer as unsigned
    in_range = v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX) && v.get<int64_t>() >= min &&
               v.get<int64_t>() <= max;
  else if (v.is_number_integer())
    in_range = v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (!in_range)
    return Bad(key,
               "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return v.get<int64_t>();
}

Result<std::vector<std::string>> Body::StringList(const char* key) const {
  std::vector<std::string> out;
  if (!j_.contains(key)) return out;
  const json& v = j_[key];
  if (!v.is_array()) return Bad(key, "must be an array");
  for (const auto& s : v) {
    if (!s.is_string()) return Bad(key, "must hold strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> Body::StringMap(const char* key) const {
  std::map<std::string, std::string> out;
  if (!j_.contains(key)) return out;
  const json& v = j_[key];
  if (!v.is_object()) return Bad(key, "must be an object");
  for (const auto& [k, s] : v.items()) {
    if (!s.is_string()) return Bad(key, "must map names to strings");
    out[k] = s.get<std::string>();
  }
  return out;
}

Result<Body> Body::Object(const char* key) const {
  if (!j_.contains(key)) return Body(json::object());
  const json& v = j_[key];
  if (!v.is_object()) return Bad(key, "must be an object");
  return Body(v);
}

Result<LaunchRequest> DecodeLaunch(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  LaunchRequest lr;
  ASSIGN_OR_RETURN(lr.image, b.String("image", true));
  ASSIGN_OR_RETURN(lr.name, b.String("name"));
  ASSIGN_OR_RETURN(lr.type, b.String("type"));
  ASSIGN_OR_RETURN(lr.user_data, b.String("user_data"));
  ASSIGN_OR_RETURN(lr.network, b.String("network"));
  ASSIGN_OR_RETURN(lr.publish, b.StringList("publish"));
  ASSIGN_OR_RETURN(lr.env, b.StringList("env"));
  // The range of counts is the instance manager's to enforce (with its own message).
  ASSIGN_OR_RETURN(int64_t count, b.Int("count", 1, INT_MIN, INT_MAX));
  lr.count = static_cast<int>(count);
  if (lr.image.empty()) return Error::InvalidArgument("\"image\" is required");
  return lr;
}

Result<CreateImageBody> DecodeCreateImage(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  CreateImageBody out;
  CreateImageRequest& cr = out.request;
  ASSIGN_OR_RETURN(cr.instance, b.String("instance"));
  ASSIGN_OR_RETURN(out.snapshot, b.String("snapshot"));
  ASSIGN_OR_RETURN(cr.name, b.String("name"));
  ASSIGN_OR_RETURN(cr.description, b.String("description"));
  ASSIGN_OR_RETURN(cr.flatten, b.Bool("flatten"));
  ASSIGN_OR_RETURN(cr.tags, b.StringMap("tags"));
  ASSIGN_OR_RETURN(std::string consistency, b.String("consistency"));
  ASSIGN_OR_RETURN(cr.mode, ParseConsistency(consistency));
  if (cr.instance.empty() == out.snapshot.empty())
    return Error::InvalidArgument("exactly one of \"instance\" and \"snapshot\" is required");
  return out;
}

Result<TagsBody> DecodeTags(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  TagsBody out;
  ASSIGN_OR_RETURN(out.set, b.StringMap("set"));
  ASSIGN_OR_RETURN(out.remove, b.StringList("remove"));
  return out;
}

Result<std::string> DecodeVerify(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  return b.String("image");
}

Result<SnapshotBody> DecodeSnapshot(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  SnapshotBody out;
  ASSIGN_OR_RETURN(out.name, b.String("name"));
  ASSIGN_OR_RETURN(std::string consistency, b.String("consistency"));
  ASSIGN_OR_RETURN(out.mode, ParseConsistency(consistency));
  return out;
}

Result<std::string> DecodeRestore(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  ASSIGN_OR_RETURN(std::string snap, b.String("snapshot", true));
  if (snap.empty()) return Error::InvalidArgument("\"snapshot\" is required");
  return snap;
}

Result<ExecOptions> DecodeExecSpec(std::string_view spec) {
  if (spec.empty()) return Error::InvalidArgument("exec needs a JSON \"spec\" parameter");
  auto b = Body::Parse(spec);
  if (!b) return Error::InvalidArgument("exec's \"spec\" must be a JSON object");
  ExecOptions opts;
  ASSIGN_OR_RETURN(opts.args, b->StringList("args"));
  ASSIGN_OR_RETURN(opts.env, b->StringList("env"));
  ASSIGN_OR_RETURN(opts.cwd, b->String("cwd"));
  ASSIGN_OR_RETURN(opts.user, b->String("user"));
  if (opts.args.empty()) return Error::InvalidArgument("exec needs a command");
  return opts;
}

Result<std::vector<std::string>> DecodeCommand(std::string_view cmd) {
  json j = json::parse(cmd.empty() ? std::string_view(R"(["/bin/sh"])") : cmd, nullptr, false);
  if (!j.is_array() || j.empty()) return Error::InvalidArgument("cmd must be a JSON array");
  std::vector<std::string> out;
  for (const auto& a : j) {
    if (!a.is_string()) return Error::InvalidArgument("cmd must hold strings");
    out.push_back(a.get<std::string>());
  }
  return out;
}

namespace {

// {"auth": {"username", "password"}, "tls_verify": bool, "ca_pem": str, "plain_http": bool}
Result<registry::RegistryAccess> DecodeAccess(const Body& b) {
  registry::RegistryAccess a;
  ASSIGN_OR_RETURN(Body auth, b.Object("auth"));
  ASSIGN_OR_RETURN(a.credentials.username, auth.String("username"));
  ASSIGN_OR_RETURN(a.credentials.password, auth.String("password"));
  ASSIGN_OR_RETURN(a.transport.tls_verify, b.Bool("tls_verify", a.transport.tls_verify));
  ASSIGN_OR_RETURN(a.transport.plain_http, b.Bool("plain_http", a.transport.plain_http));
  ASSIGN_OR_RETURN(a.transport.ca_pem, b.String("ca_pem"));
  if (!a.transport.ca_pem.empty() &&
      a.transport.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return Error::InvalidArgument("\"ca_pem\" holds no PEM certificate");
  return a;
}

}  // namespace

Result<registry::PullRequest> DecodePull(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  registry::PullRequest pr;
  ASSIGN_OR_RETURN(pr.reference, b.String("reference", true));
  TRY(registry::ParseReference(pr.reference));
  ASSIGN_OR_RETURN(pr.name, b.String("name"));
  ASSIGN_OR_RETURN(pr.tags, b.StringMap("tags"));
  ASSIGN_OR_RETURN(pr.access, DecodeAccess(b));
  ASSIGN_OR_RETURN(int64_t parallel, b.Int("parallel", 3, 1, 16));
  pr.parallel = static_cast<int>(parallel);
  return pr;
}

Result<registry::PushRequest> DecodePush(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  registry::PushRequest pr;
  ASSIGN_OR_RETURN(pr.destination, b.String("destination", true));
  TRY(registry::ParseReference(pr.destination, true));
  ASSIGN_OR_RETURN(std::string compression, b.String("compression"));
  if (compression.empty() || compression == "gzip")
    pr.compression = Compression::kGzip;
  else if (compression == "zstd")
    pr.compression = Compression::kZstd;
  else if (compression == "none")
    pr.compression = Compression::kNone;
  else
    return Error::InvalidArgument("compression must be gzip, zstd or none, not \"" + compression +
                                  "\"");
  ASSIGN_OR_RETURN(pr.access, DecodeAccess(b));
  ASSIGN_OR_RETURN(int64_t parallel, b.Int("parallel", 3, 1, 16));
  pr.parallel = static_cast<int>(parallel);
  return pr;
}

Result<LoginBody> DecodeLogin(std::string_view text) {
  ASSIGN_OR_RETURN(Body b, Body::Parse(text));
  LoginBody out;
  ASSIGN_OR_RETURN(out.registry, b.String("registry", true));
  ASSIGN_OR_RETURN(out.access, DecodeAccess(b));
  return out;
}

}  // namespace kiln
