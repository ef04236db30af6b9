#include "api/routes.h"

#include "api/reply.h"
#include "api/request_body.h"

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "image/capture.h"
#include "image/exporter.h"
#include "image/image_ops.h"
#include "image/importer.h"
#include "image/snapshot.h"

namespace kiln {
namespace {

using json = nlohmann::json;

template <typename T>
bool Check(httplib::Response& res, const Result<T>& r) {
  if (r) return true;
  ReplyError(res, r.error());
  return false;
}

// Drains a body we will not use, so the client sees our answer instead of a broken pipe.
void Drain(const httplib::ContentReader& reader) {
  reader([](const char*, size_t) { return true; });
}

void ImportRoute(Context& ctx, const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
  ImportRequest ir;
  ir.name = req.get_param_value("name");
  ir.description = req.get_param_value("description");
  ir.ref = req.get_param_value("ref");
  ir.source_name = req.get_param_value("source");
  for (size_t i = 0; i < req.get_param_value_count("tag"); ++i) {
    std::string kv = req.get_param_value("tag", i);
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      Drain(reader);
      return ReplyError(res, Error::InvalidArgument("tag \"" + kv + "\" must be KEY=VALUE"));
    }
    ir.tags[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto job = ImportJob::Begin(ctx, ir);
  if (!job) {
    Drain(reader);
    return ReplyError(res, job.error());
  }
  Status write_status;
  bool complete = reader([&](const char* data, size_t n) {
    write_status = (*job)->Write(data, n);
    return bool(write_status);
  });
  if (!write_status) return ReplyError(res, write_status.error());
  if (!complete)
    return ReplyError(res, Error(ErrorCode::kIO, "upload ended before it was complete"));
  auto im = (*job)->Finish();
  if (!im) {
    LogWarn("import \"" + ir.name + "\" refused: " + im.error().message());
    return ReplyError(res, im.error());
  }
  Reply(res, 201, ImageToJson(ctx, *im, true));
}

void ExportRoute(Context& ctx, const httplib::Request& req, httplib::Response& res) {
  auto im = ctx.catalog->GetImage(req.matches[1]);
  if (!Check(res, im)) return;
  if (im->state != kImageAvailable)
    return ReplyError(res, Error::Conflict("image " + im->name + " is " + im->state));
  res.set_header("X-Kiln-Size-Estimate", std::to_string(EstimateExportSize(*im)));
  std::string ref = req.get_param_value("ref");
  ImageRecord image = *im;
  res.set_chunked_content_provider(
      "application/x-tar", [&ctx, image, ref](size_t, httplib::DataSink& sink) {
        Status st = ExportImage(ctx, image, ref, [&](const void* d, size_t n) -> Status {
          if (!sink.write(static_cast<const char*>(d), n))
            return Error(ErrorCode::kIO, "client went away");
          return Ok();
        });
        if (!st) {
          LogError("export " + image.name + ": " + st.error().message());
          return false;  // the connection is cut without the final chunk: the client sees it
        }
        sink.done();
        return true;
      });
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kBusy:
      return 409;
    case ErrorCode::kUnsupported:
      return 415;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kCorruption:
      return 422;
    case ErrorCode::kIO:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

void InstallRoutes(httplib::Server& s, Context& ctx, InstanceManager& instances) {
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        LogError("api: unhandled exception: " + what);
        ReplyError(res, Error::Internal("internal error: " + what));
      });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      ReplyError(res, Error::NotFound("no such endpoint: " + req.method + " " + req.path));
  });

  s.Get("/v1/version", [](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, {{"version", KILN_VERSION}, {"api", "v1"}});
  });
  s.Get("/v1/images", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto list = ctx.catalog->ListImages();
    if (!Check(res, list)) return;
    json out = json::array();
    for (const auto& im : *list) out.push_back(ImageToJson(ctx, im, false));
    Reply(res, 200, {{"images", out}});
  });
  s.Post("/v1/images", [&ctx, &instances](const httplib::Request& req, httplib::Response& res) {
    auto body = DecodeCreateImage(req.body);
    if (!Check(res, body)) return;
    if (!body->snapshot.empty()) {
      auto im = CreateImageFromSnapshot(ctx, body->snapshot, body->request);
      if (Check(res, im)) Reply(res, 201, ImageToJson(ctx, *im, false));
      return;
    }
    auto im = CreateImageFromInstance(ctx, instances, body->request);
    if (Check(res, im)) Reply(res, 202, ImageToJson(ctx, *im, false));
  });
  s.Post("/v1/images/import",
         [&ctx](const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader) { ImportRoute(ctx, req, res, reader); });
  s.Post("/v1/images/verify", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto image = DecodeVerify(req.body);
    if (!Check(res, image)) return;
    auto report = VerifyImages(ctx, *image);
    if (!Check(res, report)) return;
    json problems = json::array();
    for (const auto& p : report->problems)
      problems.push_back(
          {{"image", p.image}, {"name", p.name}, {"digest", p.digest}, {"problem", p.problem}});
    Reply(res, 200,
          {{"images", report->images},
           {"blobs", report->blobs},
           {"problems", problems},
           {"ok", report->problems.empty()}});
  });
  s.Get(R"(/v1/images/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto im = ctx.catalog->GetImage(req.matches[1]);
    if (Check(res, im)) Reply(res, 200, ImageToJson(ctx, *im, true));
  });
  s.Get(
      R"(/v1/images/([^/]+)/export)",
      [&ctx](const httplib::Request& req, httplib::Response& res) { ExportRoute(ctx, req, res); });
  s.Post(R"(/v1/images/([^/]+)/tags)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = DecodeTags(req.body);
    if (!Check(res, body)) return;
    auto im = TagImage(ctx, req.matches[1], body->set, body->remove);
    if (Check(res, im)) Reply(res, 200, ImageToJson(ctx, *im, true));
  });
  s.Delete(R"(/v1/images/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto im = RemoveImage(ctx, req.matches[1]);
    if (Check(res, im)) Reply(res, 200, {{"removed", im->id}, {"name", im->name}});
  });
  s.Post("/v1/gc", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto r = CollectGarbage(ctx);
    if (Check(res, r))
      Reply(res, 200,
            {{"removed_blobs", r->removed},
             {"freed_bytes", r->bytes},
             {"removed_unpacked_layers", r->unpacked_removed},
             {"removed_partial_downloads", r->partials_removed}});
  });
}

}  // namespace kiln
