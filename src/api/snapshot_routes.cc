// api: /v1/snapshots and the snapshot actions on instances.
#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "api/request_body.h"
#include "api/routes.h"
#include "base/ids.h"
#include "image/image_ops.h"
#include "image/snapshot.h"

namespace kiln {
namespace {

using json = nlohmann::json;

json SnapshotJson(Context& ctx, const SnapshotRecord& s) {
  json j = {{"id", s.id},
            {"name", s.name.empty() ? json(nullptr) : json(s.name)},
            {"instance_id", s.instance_id},
            {"digest", s.digest},
            {"size", s.size},
            {"consistency", s.consistency},
            {"created", FormatTime(s.created_at)}};
  if (auto in = ctx.catalog->GetInstance(s.instance_id)) j["instance"] = in->name;
  return j;
}

}  // namespace

void InstallSnapshotRoutes(httplib::Server& s, Context& ctx, InstanceManager& mgr) {
  s.Post(R"(/v1/instances/([^/]+)/snapshots)",
         [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
           auto body = DecodeSnapshot(req.body);
           if (!body) return ReplyError(res, body.error());
           auto snap = CreateSnapshot(ctx, mgr, req.matches[1], body->name, body->mode);
           if (!snap) return ReplyError(res, snap.error());
           Reply(res, 201, SnapshotJson(ctx, *snap));
         });
  s.Post(R"(/v1/instances/([^/]+)/restore)",
         [&ctx, &mgr](const httplib::Request& req, httplib::Response& res) {
           auto snap = DecodeRestore(req.body);
           if (!snap) return ReplyError(res, snap.error());
           auto in = RestoreSnapshot(ctx, mgr, req.matches[1], *snap);
           if (!in) return ReplyError(res, in.error());
           Reply(res, 200, {{"id", in->id}, {"name", in->name}, {"state", in->state}});
         });
  s.Get("/v1/snapshots", [&ctx](const httplib::Request& req, httplib::Response& res) {
    std::string instance_id;
    if (req.has_param("instance")) {
      auto in = ctx.catalog->GetInstance(req.get_param_value("instance"));
      if (!in) return ReplyError(res, in.error());
      instance_id = in->id;
    }
    auto list = ctx.catalog->ListSnapshots(instance_id);
    if (!list) return ReplyError(res, list.error());
    json out = json::array();
    for (const auto& sn : *list) out.push_back(SnapshotJson(ctx, sn));
    Reply(res, 200, {{"snapshots", out}});
  });
  s.Get(R"(/v1/snapshots/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto sn = ctx.catalog->GetSnapshot(req.matches[1]);
    if (!sn) return ReplyError(res, sn.error());
    Reply(res, 200, SnapshotJson(ctx, *sn));
  });
  s.Delete(R"(/v1/snapshots/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto sn = ctx.catalog->GetSnapshot(req.matches[1]);
    if (!sn) return ReplyError(res, sn.error());
    if (auto st = RemoveSnapshot(ctx, sn->id); !st) return ReplyError(res, st.error());
    Reply(res, 200, {{"removed", sn->id}});
  });
}

}  // namespace kiln
