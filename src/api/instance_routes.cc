// api: /v1/instances routes. Exec answers with a framed stream (see docs/api.md): each frame is
// one byte of stream id (1 stdout, 2 stderr, 3 exit code), four bytes of big-endian length, and
// the payload.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api/routes.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "instance/instance_types.h"

namespace kiln {
namespace {

using json = nlohmann::json;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void ReplyError(httplib::Response& res, const Error& e) {
  Reply(res, HttpStatusFor(e.code()),
        {{"error", {{"code", ErrorCodeName(e.code())}, {"message", e.message()}}}});
}

json InstanceJson(Context& ctx, const InstanceRecord& in) {
  json j = {{"id", in.id},       {"name", in.name}, {"image_id", in.image_id},
            {"state", in.state}, {"type", in.type}, {"created", FormatTime(in.created_at)},
            {"env", in.env}};
  if (!in.state_reason.empty()) j["state_reason"] = in.state_reason;
  if (in.terminated_at) j["terminated"] = FormatTime(*in.terminated_at);
  if (auto im = ctx.catalog->GetImage(in.image_id)) j["image"] = im->name;
  if (auto t = FindInstanceType(in.type))
    j["limits"] = {
        {"cpu_millis", t->cpu_millis}, {"memory_bytes", t->memory_bytes}, {"pids", t->pids}};
  return j;
}

template <typename F>
void WithInstance(httplib::Response& res, Context& ctx, F&& f) {
  auto r = f();
  if (!r) return ReplyError(res, r.error());
  Reply(res, 200, InstanceJson(ctx, *r));
}

Status WriteFrame(httplib::DataSink& sink, char stream, const char* data, uint32_t n) {
  char head[5] = {stream, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 8), static_cast<char>(n)};
  if (!sink.write(head, 5) || (n > 0 && !sink.write(data, n)))
    return Error(ErrorCode::kIO, "client went away");
  return Ok();
}

// Runs the exec and streams its output; the stdin the client sent was spooled to stdin_path.
bool StreamExec(InstanceManager& mgr, const std::string& ref, const ExecOptions& opts,
                const std::string& stdin_path, httplib::DataSink& sink) {
  auto fail = [&](const Error& e) {
    std::string msg = "kiln: " + e.message() + "\n";
    (void)WriteFrame(sink, 2, msg.data(), static_cast<uint32_t>(msg.size()));
    std::string code = "126";
    (void)WriteFrame(sink, 3, code.data(), static_cast<uint32_t>(code.size()));
    sink.done();
    return true;
  };
  auto in = OpenFile(stdin_path, O_RDONLY);
  ::unlink(stdin_path.c_str());
  if (!in) return fail(in.error());
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    return fail(Error::Sys(errno, "pipe"));
  UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  auto proc = mgr.Exec(ref, opts, in->get(), out_w.get(), err_w.get());
  if (!proc) return fail(proc.error());
  out_w.reset();
  err_w.reset();
  struct pollfd p[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (!WriteFrame(sink, static_cast<char>(i + 1), buf, static_cast<uint32_t>(n))) {
          proc->Kill(SIGKILL);  // nobody is listening any more
          return false;
        }
      } else if (n == 0 || errno != EINTR) {
        p[i].fd = -1;
        --open;
      }
    }
  }
  auto code = proc->Wait();
  std::string c = std::to_string(code ? *code : 1);
  if (!WriteFrame(sink, 3, c.data(), static_cast<uint32_t>(c.size()))) return false;
  sink.done();
  return true;
}

Result<std::vector<std::string>> StringList(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array())
    return Error::InvalidArgument(std::string("\"") + key + "\" must be an array");
  for (const auto& v : j[key]) {
    if (!v.is_string())
      return Error::InvalidArgument(std::string("\"") + key + "\" must hold strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

void InstallInstanceRoutes(httplib::Server& s, Context& ctx, InstanceManager& mgr) {
  s.Get("/v1/instances", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto list = ctx.catalog->ListInstances(req.get_param_value("all") == "1");
    if (!list) return ReplyError(res, list.error());
    json out = json::array();
    for (const auto& in : *list) out.push_back(InstanceJson(ctx, in));
    Reply(res, 200, {{"instances", out}});
  });
  s.Post("/v1/instances", [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
    json j = json::parse(req.body, nullptr, false);
    if (!j.is_object())
      return ReplyError(res, Error::InvalidArgument("request body must be a JSON object"));
    LaunchRequest lr;
    lr.image = j.value("image", "");
    lr.name = j.value("name", "");
    lr.type = j.value("type", "");
    lr.user_data = j.value("user_data", "");
    if (j.contains("count")) {
      if (!j["count"].is_number_integer())
        return ReplyError(res, Error::InvalidArgument("\"count\" must be an integer"));
      lr.count = j["count"].get<int>();
    }
    auto env = StringList(j, "env");
    if (!env) return ReplyError(res, env.error());
    lr.env = *env;
    if (lr.image.empty()) return ReplyError(res, Error::InvalidArgument("\"image\" is required"));
    auto launched = mgr.Launch(lr);
    if (!launched) return ReplyError(res, launched.error());
    json out = json::array();
    for (const auto& in : *launched) out.push_back(InstanceJson(ctx, in));
    Reply(res, 201, {{"instances", out}});
  });
  s.Get(R"(/v1/instances/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    WithInstance(res, ctx, [&] { return ctx.catalog->GetInstance(req.matches[1]); });
  });
  s.Post(R"(/v1/instances/([^/]+)/(stop|start|reboot))", [&ctx, &mgr](const httplib::Request& req,
                                                                      httplib::Response& res) {
    std::string ref = req.matches[1], verb = req.matches[2];
    WithInstance(res, ctx, [&] {
      return verb == "stop" ? mgr.Stop(ref) : verb == "start" ? mgr.Start(ref) : mgr.Reboot(ref);
    });
  });
  s.Delete(R"(/v1/instances/([^/]+))",
           [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
             bool force = req.get_param_value("force") == "1";
             WithInstance(res, ctx, [&] { return mgr.Terminate(req.matches[1], force); });
           });
  s.Get(R"(/v1/instances/([^/]+)/logs)",
        [&mgr](const httplib::Request& req, httplib::Response& res) {
          auto log = mgr.ReadLog(req.matches[1]);
          if (!log) return ReplyError(res, log.error());
          res.set_content(*log, "text/plain");
        });
  s.Post(R"(/v1/instances/([^/]+)/exec)", [&ctx, &mgr](const httplib::Request& req,
                                                       httplib::Response& res,
                                                       const httplib::ContentReader& reader) {
    std::string ref = req.matches[1];
    json spec = json::parse(req.get_param_value("spec"), nullptr, false);
    ExecOptions opts;
    Status bad;
    if (!spec.is_object()) {
      bad = Error::InvalidArgument("exec needs a JSON \"spec\" parameter");
    } else {
      auto args = StringList(spec, "args");
      auto env = StringList(spec, "env");
      if (!args)
        bad = args.error();
      else if (!env)
        bad = env.error();
      else {
        opts.args = *args;
        opts.env = *env;
        opts.cwd = spec.value("cwd", "");
        opts.user = spec.value("user", "");
      }
    }
    // Spool what the client sends as stdin; the command reads it from this file.
    auto dir = TempDir::Make(ctx.store->tmp_dir(), "exec-");
    std::string stdin_path;
    Result<UniqueFd> fd = Error::Internal("no temp dir");
    if (dir) {
      stdin_path = JoinPath(dir->path(), "stdin");
      fd = OpenFile(stdin_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    Status wrote;
    reader([&](const char* d, size_t n) {
      if (fd && wrote) wrote = WriteFull(fd->get(), d, n);
      return true;
    });
    if (!bad) return ReplyError(res, bad.error());
    if (!dir) return ReplyError(res, dir.error());
    if (!fd) return ReplyError(res, fd.error());
    if (!wrote) return ReplyError(res, wrote.error());
    auto rec = ctx.catalog->GetInstance(ref);
    if (!rec) return ReplyError(res, rec.error());
    if (rec->state != kInstanceRunning)
      return ReplyError(
          res, Error::Conflict("instance " + rec->name + " is " + rec->state + ", not running"));
    if (opts.args.empty()) return ReplyError(res, Error::InvalidArgument("exec needs a command"));
    // The spooled file outlives the temp dir object: move it next to the store's tmp root.
    std::string kept = JoinPath(ctx.store->tmp_dir(), "exec-stdin-" + NewId("x-").substr(2));
    if (::rename(stdin_path.c_str(), kept.c_str()) != 0)
      return ReplyError(res, Error::Sys(errno, "spool stdin"));
    res.set_chunked_content_provider(
        "application/vnd.kiln.exec-stream",
        [&mgr, ref, opts, kept](size_t, httplib::DataSink& sink) {
          return StreamExec(mgr, ref, opts, kept, sink);
        },
        [kept](bool) { ::unlink(kept.c_str()); });
  });
}

}  // namespace kiln
