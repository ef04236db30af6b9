// api: registry routes. Pull and push answer with a stream of JSON lines (application/x-ndjson):
// progress events while blobs move, then one line with the result or the error. A client that
// goes away cancels the transfer; what was downloaded stays for the next pull to resume.
#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "api/routes.h"
#include "base/ids.h"
#include "base/log.h"
#include "image/image_ops.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace kiln {
namespace {

using json = nlohmann::json;

Result<json> ParseObject(const std::string& body) {
  json j = json::parse(body.empty() ? "{}" : body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error::InvalidArgument("request body must be a JSON object");
  return j;
}

Result<std::string> StringField(const json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) return Error::InvalidArgument(std::string("\"") + key + "\" is required");
    return std::string();
  }
  if (!j[key].is_string())
    return Error::InvalidArgument(std::string("\"") + key + "\" must be a string");
  return j[key].get<std::string>();
}

// {"auth": {"username", "password"}, "tls_verify": bool, "ca_pem": str, "plain_http": bool}
Result<registry::RegistryAccess> ParseAccess(const json& j) {
  registry::RegistryAccess a;
  if (j.contains("auth")) {
    const json& auth = j["auth"];
    if (!auth.is_object()) return Error::InvalidArgument("\"auth\" must be an object");
    ASSIGN_OR_RETURN(a.credentials.username, StringField(auth, "username", false));
    ASSIGN_OR_RETURN(a.credentials.password, StringField(auth, "password", false));
  }
  for (auto [key, field] : {std::pair{"tls_verify", &a.transport.tls_verify},
                            std::pair{"plain_http", &a.transport.plain_http}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_boolean())
      return Error::InvalidArgument(std::string("\"") + key + "\" must be true or false");
    *field = j[key].get<bool>();
  }
  ASSIGN_OR_RETURN(a.transport.ca_pem, StringField(j, "ca_pem", false));
  if (!a.transport.ca_pem.empty() &&
      a.transport.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return Error::InvalidArgument("\"ca_pem\" holds no PEM certificate");
  return a;
}

Result<int> ParallelField(const json& j) {
  if (!j.contains("parallel")) return 3;
  if (!j["parallel"].is_number_integer() || j["parallel"].get<int>() < 1 ||
      j["parallel"].get<int>() > 16)
    return Error::InvalidArgument("\"parallel\" must be 1-16");
  return j["parallel"].get<int>();
}

json ErrorLine(const Error& e) {
  return {{"error", {{"code", ErrorCodeName(e.code())}, {"message", e.message()}}}};
}

// Runs job on the response stream: events become lines, then the result or error line.
using Job = std::function<Result<json>(const registry::EventFn&)>;
void StreamJob(httplib::Response& res, Job job) {
  res.set_chunked_content_provider("application/x-ndjson", [job = std::move(job)](
                                                               size_t, httplib::DataSink& sink) {
    auto write = [&](const json& line) {
      std::string s = line.dump() + "\n";
      return sink.write(s.data(), s.size());
    };
    registry::EventFn on_event = [&](const registry::TransferEvent& e) -> Status {
      json line = {
          {"event", {{"id", e.id}, {"status", e.status}, {"done", e.done}, {"total", e.total}}}};
      if (!write(line)) return Error(ErrorCode::kIO, "the client went away; transfer cancelled");
      return Ok();
    };
    Result<json> r = job(on_event);
    if (r)
      write({{"result", *r}});
    else
      write(ErrorLine(r.error()));
    sink.done();
    return true;
  });
}

}  // namespace

void InstallRegistryRoutes(httplib::Server& s, Context& ctx) {
  s.Post("/v1/images/pull", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseObject(req.body);
    if (!body) return ReplyError(res, body.error());
    registry::PullRequest pr;
    auto fill = [&]() -> Status {
      ASSIGN_OR_RETURN(pr.reference, StringField(*body, "reference", true));
      if (auto r = registry::ParseReference(pr.reference); !r) return std::move(r).error();
      ASSIGN_OR_RETURN(pr.name, StringField(*body, "name", false));
      ASSIGN_OR_RETURN(pr.access, ParseAccess(*body));
      ASSIGN_OR_RETURN(pr.parallel, ParallelField(*body));
      if (body->contains("tags")) {
        if (!(*body)["tags"].is_object())
          return Error::InvalidArgument("\"tags\" must be an object");
        for (const auto& [k, v] : (*body)["tags"].items()) {
          if (!v.is_string()) return Error::InvalidArgument("tag values must be strings");
          pr.tags[k] = v.get<std::string>();
        }
      }
      if (!pr.name.empty()) {
        TRY(ValidateName(pr.name, "image"));
        if (auto existing = ctx.catalog->GetImage(pr.name))
          return Error::AlreadyExists("an image named \"" + pr.name + "\" already exists (" +
                                      existing->id + ")");
      }
      return Ok();
    };
    if (Status st = fill(); !st) return ReplyError(res, st.error());
    StreamJob(res, [&ctx, pr](const registry::EventFn& on_event) -> Result<json> {
      auto im = registry::PullImage(ctx, pr, on_event);
      if (!im) {
        LogWarn("pull " + pr.reference + ": " + im.error().message());
        return std::move(im).error();
      }
      return ImageToJson(ctx, *im, true);
    });
  });

  s.Post(R"(/v1/images/([^/]+)/push)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseObject(req.body);
    if (!body) return ReplyError(res, body.error());
    registry::PushRequest pr;
    pr.image = req.matches[1];
    auto fill = [&]() -> Status {
      ASSIGN_OR_RETURN(pr.destination, StringField(*body, "destination", true));
      if (auto r = registry::ParseReference(pr.destination, true); !r) return std::move(r).error();
      ASSIGN_OR_RETURN(std::string compression, StringField(*body, "compression", false));
      if (compression.empty() || compression == "gzip")
        pr.compression = Compression::kGzip;
      else if (compression == "zstd")
        pr.compression = Compression::kZstd;
      else if (compression == "none")
        pr.compression = Compression::kNone;
      else
        return Error::InvalidArgument("compression must be gzip, zstd or none, not \"" +
                                      compression + "\"");
      ASSIGN_OR_RETURN(pr.access, ParseAccess(*body));
      ASSIGN_OR_RETURN(pr.parallel, ParallelField(*body));
      ASSIGN_OR_RETURN(ImageRecord im, ctx.catalog->GetImage(pr.image));
      if (im.state != kImageAvailable)
        return Error::Conflict("image " + im.name + " is " + im.state);
      return Ok();
    };
    if (Status st = fill(); !st) return ReplyError(res, st.error());
    StreamJob(res, [&ctx, pr](const registry::EventFn& on_event) -> Result<json> {
      auto r = registry::PushImage(ctx, pr, on_event);
      if (!r) {
        LogWarn("push " + pr.image + " to " + pr.destination + ": " + r.error().message());
        return std::move(r).error();
      }
      return json{{"reference", r->reference},
                  {"digest", r->manifest_digest},
                  {"size", r->manifest_size},
                  {"blobs_uploaded", r->blobs_uploaded},
                  {"blobs_skipped", r->blobs_skipped}};
    });
  });

  s.Post("/v1/registry/login", [](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseObject(req.body);
    if (!body) return ReplyError(res, body.error());
    auto reg = StringField(*body, "registry", true);
    if (!reg) return ReplyError(res, reg.error());
    auto access = ParseAccess(*body);
    if (!access) return ReplyError(res, access.error());
    Status st = registry::Login(*reg, *access);
    if (!st) return ReplyError(res, st.error());
    Reply(res, 200, {{"registry", *reg}, {"status", "login succeeded"}});
  });
}

}  // namespace kiln
