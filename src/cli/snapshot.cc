// kiln snapshot create / ls / restore / rm.
#include <iostream>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {
namespace {

void PrintSnapshot(CliContext& cc, const nlohmann::json& s) {
  if (cc.json)
    PrintJson(s);
  else
    std::cout << s["id"].get<std::string>() << "\n";
}

}  // namespace

void AddSnapshot(CLI::App& app, CliContext& cc) {
  auto* snap = app.add_subcommand("snapshot", "Back up instances and restore them");
  snap->require_subcommand(1);

  struct CreateOpts {
    std::string instance, name;
    bool stop = false, no_reboot = false;
  };
  auto c = std::make_shared<CreateOpts>();
  auto* create = snap->add_subcommand("create", "Snapshot what an instance changed; prints the id");
  create->add_option("instance", c->instance, "Instance name or id")->required();
  create->add_option("--name", c->name, "Snapshot name (unique)");
  auto* stop =
      create->add_flag("--stop", c->stop, "Stop the instance for the snapshot, start it after");
  create
      ->add_flag("--no-reboot", c->no_reboot,
                 "Do not freeze the instance (no consistency guarantee)")
      ->excludes(stop);
  create->callback([&cc, c] {
    cc.action = [&cc, c]() -> Status {
      std::string mode = c->stop ? "stop" : c->no_reboot ? "no-reboot" : "freeze";
      ASSIGN_OR_RETURN(
          auto s, cc.api().Post("/v1/instances/" + ApiClient::Escape(c->instance) + "/snapshots",
                                {{"name", c->name}, {"consistency", mode}}));
      PrintSnapshot(cc, s);
      return Ok();
    };
  });

  auto ls_instance = std::make_shared<std::string>();
  auto* ls = snap->add_subcommand("ls", "List snapshots (of one instance when given)");
  ls->alias("list");
  ls->add_option("instance", *ls_instance, "Instance name or id");
  ls->callback([&cc, ls_instance] {
    cc.action = [&cc, ls_instance]() -> Status {
      std::string path = "/v1/snapshots";
      if (!ls_instance->empty()) path += "?instance=" + ApiClient::Escape(*ls_instance);
      ASSIGN_OR_RETURN(auto res, cc.api().Get(path));
      if (cc.json) {
        PrintJson(res["snapshots"]);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& s : res["snapshots"])
        rows.push_back({s["id"], s["name"].is_null() ? "-" : s["name"].get<std::string>(),
                        s.value("instance", s["instance_id"].get<std::string>()),
                        HumanBytes(s["size"].get<uint64_t>()), s["consistency"],
                        Age(s["created"])});
      PrintTable({"ID", "NAME", "INSTANCE", "SIZE", "CONSISTENCY", "CREATED"}, rows);
      return Ok();
    };
  });

  struct RestoreOpts {
    std::string instance, snapshot;
  };
  auto r = std::make_shared<RestoreOpts>();
  auto* restore = snap->add_subcommand(
      "restore", "Return an instance to exactly a snapshot's state (it restarts if running)");
  restore->add_option("instance", r->instance, "Instance name or id")->required();
  restore->add_option("snapshot", r->snapshot, "Snapshot name or id")->required();
  restore->callback([&cc, r] {
    cc.action = [&cc, r]() -> Status {
      ASSIGN_OR_RETURN(auto in,
                       cc.api().Post("/v1/instances/" + ApiClient::Escape(r->instance) + "/restore",
                                     {{"snapshot", r->snapshot}}));
      if (cc.json)
        PrintJson(in);
      else
        std::cout << in["id"].get<std::string>() << " " << in["state"].get<std::string>() << "\n";
      return Ok();
    };
  });

  auto rm_refs = std::make_shared<std::vector<std::string>>();
  auto* rm = snap->add_subcommand("rm", "Remove snapshots (their data goes with the next gc)");
  rm->add_option("snapshots", *rm_refs, "Snapshot names or ids")->required();
  rm->callback([&cc, rm_refs] {
    cc.action = [&cc, rm_refs]() -> Status {
      for (const auto& ref : *rm_refs) {
        ASSIGN_OR_RETURN(auto res, cc.api().Delete("/v1/snapshots/" + ApiClient::Escape(ref)));
        if (cc.json)
          PrintJson(res);
        else
          std::cout << res["removed"].get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

}  // namespace kiln::cli
