// api: registry routes. Pull and push answer with a stream of JSON lines (application/x-ndjson):
// progress events while blobs move, then one line with the result or the error. A client that
// goes away cancels the transfer; what was downloaded stays for the next pull to resume.
#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "api/request_body.h"
#include "api/routes.h"
#include "base/ids.h"
#include "base/log.h"
#include "image/image_ops.h"
#include "registry/reference.h"
#include "registry/transfer.h"

namespace kiln {
namespace {

using json = nlohmann::json;

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
    auto pr = DecodePull(req.body);
    if (!pr) return ReplyError(res, pr.error());
    if (!pr->name.empty()) {
      if (Status st = ValidateName(pr->name, "image"); !st) return ReplyError(res, st.error());
      if (auto existing = ctx.catalog->GetImage(pr->name))
        return ReplyError(res, Error::AlreadyExists("an image named \"" + pr->name +
                                                    "\" already exists (" + existing->id + ")"));
    }
    StreamJob(res, [&ctx, pr = *pr](const registry::EventFn& on_event) -> Result<json> {
      auto im = registry::PullImage(ctx, pr, on_event);
      if (!im) {
        LogWarn("pull " + pr.reference + ": " + im.error().message());
        return std::move(im).error();
      }
      return ImageToJson(ctx, *im, true);
    });
  });

  s.Post(R"(/v1/images/([^/]+)/push)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto pr = DecodePush(req.body);
    if (!pr) return ReplyError(res, pr.error());
    pr->image = req.matches[1];
    auto im = ctx.catalog->GetImage(pr->image);
    if (!im) return ReplyError(res, im.error());
    if (im->state != kImageAvailable)
      return ReplyError(res, Error::Conflict("image " + im->name + " is " + im->state));
    StreamJob(res, [&ctx, pr = *pr](const registry::EventFn& on_event) -> Result<json> {
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
    auto body = DecodeLogin(req.body);
    if (!body) return ReplyError(res, body.error());
    Status st = registry::Login(body->registry, body->access);
    if (!st) return ReplyError(res, st.error());
    Reply(res, 200, {{"registry", body->registry}, {"status", "login succeeded"}});
  });
}

}  // namespace kiln
