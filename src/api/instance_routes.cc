// api: /v1/instances routes. Exec answers with a framed stream (see docs/api.md): each frame is
// one byte of stream id (1 stdout, 2 stderr, 3 exit code), four bytes of big-endian length, and
// the payload.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include "api/reply.h"
#include "api/request_body.h"
#include "api/routes.h"
#include "base/frames.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "instance/cgroup_usage.h"
#include "instance/instance_types.h"
#include "layer/byte_source.h"
#include "layer/tree_writer.h"
#include "rootfs/layer_unpacker.h"

namespace kiln {
namespace {

using json = nlohmann::json;

// With details (one instance), the cgroup's live usage too; lists stay cheap and stable.
json InstanceJson(Context& ctx, const InstanceManager& mgr, const InstanceRecord& in,
                  bool details = true) {
  json j = {{"id", in.id},       {"name", in.name}, {"image_id", in.image_id},
            {"state", in.state}, {"type", in.type}, {"created", FormatTime(in.created_at)},
            {"env", in.env}};
  j["network"] = in.network;
  if (!in.ip.empty()) j["private_ip"] = in.ip;
  if (auto addrs = mgr.AddressesOf(in); addrs.size() > 1) j["private_ipv6"] = addrs[1];
  j["ports"] = json::array();
  for (const auto& p : in.publish)
    if (auto m = PortMapping::FromCanonical(p))
      j["ports"].push_back({{"protocol", m->protocol},
                            {"host_ip", m->host_ip},
                            {"host_port", m->host_port},
                            {"instance_port", m->instance_port}});
  if (!in.state_reason.empty()) j["state_reason"] = in.state_reason;
  if (in.terminated_at) j["terminated"] = FormatTime(*in.terminated_at);
  if (auto im = ctx.catalog->GetImage(in.image_id)) j["image"] = im->name;
  if (details && in.state == kInstanceRunning) {
    CgroupUsage u = ReadCgroupUsage("/kiln/" + in.id);
    j["usage"] = {{"memory_bytes", u.memory_bytes},
                  {"memory_limit_hits", u.memory_limit_hits},
                  {"oom_kills", u.oom_kills},
                  {"pids", u.pids}};
  }
  if (auto t = FindInstanceType(in.type))
    j["limits"] = {
        {"cpu_millis", t->cpu_millis}, {"memory_bytes", t->memory_bytes}, {"pids", t->pids}};
  return j;
}

template <typename F>
void WithInstance(httplib::Response& res, Context& ctx, const InstanceManager& mgr, F&& f) {
  auto r = f();
  if (!r) return ReplyError(res, r.error());
  Reply(res, 200, InstanceJson(ctx, mgr, *r));
}

Status WriteFrame(httplib::DataSink& sink, char stream, const char* data, uint32_t n) {
  std::string head = FrameHeader(stream, n);
  if (!sink.write(head.data(), head.size()) || (n > 0 && !sink.write(data, n)))
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

// kiln cp into an instance: the body is a tar whose top entry is `name`. It lands in dest when
// dest is a directory, else it becomes dest (written beside it, then renamed into place).
Status CopyIn(InstanceManager& mgr, const std::string& ref, const std::string& dest,
              const std::string& name, const std::string& tar_path) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return Error::InvalidArgument("invalid source name \"" + name + "\"");
  ASSIGN_OR_RETURN(UniqueFd tar, OpenFile(tar_path, O_RDONLY));
  auto into = mgr.OpenInInstance(ref, dest, O_RDONLY | O_DIRECTORY);
  if (into) {
    FdSource src(tar.get());
    auto unpacked = UnpackTarAt(&src, into->get());
    if (!unpacked) return std::move(unpacked).error();
    return Ok();
  }
  if (into.error().sys_errno() != ENOENT && into.error().sys_errno() != ENOTDIR)
    return into.error();
  std::string trimmed = dest;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  std::string parent = Dirname(trimmed), base = Basename(trimmed);
  if (base.empty() || base == "/" || base == "." || base == "..")
    return Error::InvalidArgument("invalid destination \"" + dest + "\"");
  ASSIGN_OR_RETURN(UniqueFd dir, mgr.OpenInInstance(ref, parent, O_RDONLY | O_DIRECTORY));
  std::string tmp = ".kiln-cp-" + NewId("x-").substr(2);
  if (::mkdirat(dir.get(), tmp.c_str(), 0700) != 0) return Error::Sys(errno, "mkdir in " + parent);
  auto cleanup = [&] {
    int fd = ::openat(dir.get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      (void)RemoveAllAt(dir.get(), tmp);
    }
  };
  UniqueFd tmpfd(::openat(dir.get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!tmpfd.valid()) return Error::Sys(errno, "open temp dir");
  FdSource src(tar.get());
  auto unpacked = UnpackTarAt(&src, tmpfd.get());
  if (!unpacked) {
    cleanup();
    return std::move(unpacked).error();
  }
  if (::renameat(tmpfd.get(), name.c_str(), dir.get(), base.c_str()) != 0) {
    int e = errno;
    cleanup();
    return Error::Sys(e, "place " + dest);
  }
  cleanup();
  return Ok();
}

}  // namespace

void InstallInstanceRoutes(httplib::Server& s, Context& ctx, InstanceManager& mgr) {
  // Networks: today the one bridge of this kilnd, plus the pseudo-networks none and host.
  auto networks = [&ctx, &mgr]() -> Result<json> {
    ASSIGN_OR_RETURN(auto live, ctx.catalog->ListInstances(false));
    json out = json::array();
    for (const char* mode : {kNetworkBridge, kNetworkNone, kNetworkHost}) {
      json n = {{"name", mode}, {"instances", json::array()}};
      if (std::string(mode) == kNetworkBridge) {
        NetworkManager* net = mgr.network();
        if (!net) continue;
        n["bridge"] = net->bridge();
        n["subnet"] = net->subnet().Cidr();
        n["gateway"] = net->subnet().Gateway();
        if (const auto& s6 = net->subnet6()) {
          n["subnet6"] = s6->Cidr();
          n["gateway6"] = s6->Gateway();
        }
        n["nat"] = net->nat();
      }
      for (const auto& in : live)
        if (in.network == mode)
          n["instances"].push_back(
              {{"id", in.id},
               {"name", in.name},
               {"state", in.state},
               {"private_ip", in.ip},
               {"private_ipv6", mgr.network() ? mgr.network()->IPv6For(in.ip) : ""}});
      out.push_back(n);
    }
    return out;
  };
  s.Get("/v1/networks", [networks](const httplib::Request&, httplib::Response& res) {
    auto list = networks();
    if (!list) return ReplyError(res, list.error());
    Reply(res, 200, {{"networks", *list}});
  });
  s.Get(R"(/v1/networks/([^/]+))", [networks](const httplib::Request& req, httplib::Response& res) {
    auto list = networks();
    if (!list) return ReplyError(res, list.error());
    for (const auto& n : *list)
      if (n["name"] == req.matches[1].str() || n.value("bridge", "") == req.matches[1].str())
        return Reply(res, 200, n);
    ReplyError(res, Error::NotFound("no network \"" + req.matches[1].str() +
                                    "\" (there are: bridge, none, host)"));
  });
  s.Get("/v1/instances", [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
    auto list = ctx.catalog->ListInstances(req.get_param_value("all") == "1");
    if (!list) return ReplyError(res, list.error());
    json out = json::array();
    for (const auto& in : *list) out.push_back(InstanceJson(ctx, mgr, in, false));
    Reply(res, 200, {{"instances", out}});
  });
  s.Post("/v1/instances", [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
    auto lr = DecodeLaunch(req.body);
    if (!lr) return ReplyError(res, lr.error());
    auto launched = mgr.Launch(*lr);
    if (!launched) return ReplyError(res, launched.error());
    json out = json::array();
    for (const auto& in : *launched) out.push_back(InstanceJson(ctx, mgr, in));
    Reply(res, 201, {{"instances", out}});
  });
  s.Get(R"(/v1/instances/([^/]+))",
        [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
          WithInstance(res, ctx, mgr, [&] { return ctx.catalog->GetInstance(req.matches[1]); });
        });
  s.Post(R"(/v1/instances/([^/]+)/(stop|start|reboot))", [&ctx, &mgr](const httplib::Request& req,
                                                                      httplib::Response& res) {
    std::string ref = req.matches[1], verb = req.matches[2];
    WithInstance(res, ctx, mgr, [&] {
      return verb == "stop" ? mgr.Stop(ref) : verb == "start" ? mgr.Start(ref) : mgr.Reboot(ref);
    });
  });
  s.Delete(R"(/v1/instances/([^/]+))",
           [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
             bool force = req.get_param_value("force") == "1";
             WithInstance(res, ctx, mgr, [&] { return mgr.Terminate(req.matches[1], force); });
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
    auto opts = DecodeExecSpec(req.get_param_value("spec"));
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
    if (!opts) return ReplyError(res, opts.error());
    if (!dir) return ReplyError(res, dir.error());
    if (!fd) return ReplyError(res, fd.error());
    if (!wrote) return ReplyError(res, wrote.error());
    auto rec = ctx.catalog->GetInstance(ref);
    if (!rec) return ReplyError(res, rec.error());
    if (rec->state != kInstanceRunning)
      return ReplyError(
          res, Error::Conflict("instance " + rec->name + " is " + rec->state + ", not running"));
    // The spooled file outlives the temp dir object: move it next to the store's tmp root.
    std::string kept = JoinPath(ctx.store->tmp_dir(), "exec-stdin-" + NewId("x-").substr(2));
    if (::rename(stdin_path.c_str(), kept.c_str()) != 0)
      return ReplyError(res, Error::Sys(errno, "spool stdin"));
    res.set_chunked_content_provider(
        "application/vnd.kiln.exec-stream",
        [&mgr, ref, opts = *opts, kept](size_t, httplib::DataSink& sink) {
          return StreamExec(mgr, ref, opts, kept, sink);
        },
        [kept](bool) { ::unlink(kept.c_str()); });
  });
  s.Post(R"(/v1/instances/([^/]+)/files)",
         [&ctx, &mgr](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) {
           auto dir = TempDir::Make(ctx.store->tmp_dir(), "cp-");
           Result<UniqueFd> fd = Error::Internal("no temp dir");
           std::string tar_path;
           if (dir) {
             tar_path = JoinPath(dir->path(), "in.tar");
             fd = OpenFile(tar_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
           }
           Status wrote;
           reader([&](const char* d, size_t n) {
             if (fd && wrote) wrote = WriteFull(fd->get(), d, n);
             return true;
           });
           if (!dir) return ReplyError(res, dir.error());
           if (!fd) return ReplyError(res, fd.error());
           if (!wrote) return ReplyError(res, wrote.error());
           fd->reset();
           Status st = CopyIn(mgr, req.matches[1], req.get_param_value("path"),
                              req.get_param_value("name"), tar_path);
           if (!st) return ReplyError(res, st.error());
           Reply(res, 200, {{"copied", req.get_param_value("path")}});
         });
  s.Get(R"(/v1/instances/([^/]+)/files)",
        [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
          std::string ref = req.matches[1], path = req.get_param_value("path");
          while (path.size() > 1 && path.back() == '/') path.pop_back();
          std::string name = Basename(path);
          if (path.empty() || name == "/" || name == "." || name == "..")
            return ReplyError(res, Error::InvalidArgument("invalid source path \"" + path + "\""));
          auto rec = ctx.catalog->GetInstance(ref);
          if (!rec) return ReplyError(res, rec.error());
          auto parent = mgr.OpenInInstance(ref, Dirname(path), O_RDONLY | O_DIRECTORY);
          if (!parent) return ReplyError(res, parent.error());
          struct stat st;
          if (::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return ReplyError(res, Error::Sys(errno, rec->name + ":" + path));
          auto pfd = std::make_shared<UniqueFd>(std::move(*parent));
          std::string id = rec->id;
          res.set_chunked_content_provider(
              "application/x-tar", [&mgr, pfd, name, id](size_t, httplib::DataSink& sink) {
                // Frozen while read, so no process in the instance can swap a directory for a
                // symlink under the walk (the docker cp race).
                if (auto f = mgr.Freeze(id); !f) {
                  LogError("cp from " + id + ": " + f.error().message());
                  return false;
                }
                auto stats = WriteEntryAsTar("/proc/self/fd/" + std::to_string(pfd->get()), name,
                                             [&](const void* d, size_t n) -> Status {
                                               if (!sink.write(static_cast<const char*>(d), n))
                                                 return Error(ErrorCode::kIO, "client went away");
                                               return Ok();
                                             });
                if (auto t = mgr.Thaw(id); !t) LogError("thaw " + id + ": " + t.error().message());
                if (!stats) {
                  LogError("cp from " + id + ": " + stats.error().message());
                  return false;
                }
                sink.done();
                return true;
              });
        });
}

}  // namespace kiln
