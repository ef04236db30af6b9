// kiln stop / start / reboot / rm.
#include <iostream>

#include "cli/cli_context.h"

namespace kiln::cli {
namespace {

void AddVerb(CLI::App& app, CliContext& cc, const std::string& verb, const std::string& help) {
  auto refs = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(verb, help);
  cmd->add_option("instances", *refs, "Instance names or ids")->required();
  cmd->callback([&cc, refs, verb] {
    cc.action = [&cc, refs, verb]() -> Status {
      for (const auto& r : *refs) {
        ASSIGN_OR_RETURN(auto in,
                         cc.api().Post("/v1/instances/" + ApiClient::Escape(r) + "/" + verb,
                                       nlohmann::json::object()));
        if (cc.json)
          PrintJson(in);
        else
          std::cout << in["id"].get<std::string>() << " " << in["state"].get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

}  // namespace

void AddLifecycle(CLI::App& app, CliContext& cc) {
  AddVerb(app, cc, "stop",
          "Stop instances cleanly (SIGTERM, then SIGKILL after 10 s); files are kept");
  AddVerb(app, cc, "start", "Start stopped instances with the same id and files");
  AddVerb(app, cc, "reboot", "Stop and start instances");
  struct Opts {
    std::vector<std::string> refs;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* rm =
      app.add_subcommand("rm", "Terminate instances: processes, mounts, cgroups and files go");
  rm->alias("terminate");
  rm->add_option("instances", o->refs, "Instance names or ids")->required();
  rm->add_flag("-f,--force", o->force, "Terminate even when running");
  rm->callback([&cc, o] {
    cc.action = [&cc, o]() -> Status {
      for (const auto& r : o->refs) {
        ASSIGN_OR_RETURN(auto in, cc.api().Delete("/v1/instances/" + ApiClient::Escape(r) +
                                                  (o->force ? "?force=1" : "")));
        if (cc.json)
          PrintJson(in);
        else
          std::cout << in["id"].get<std::string>() << " " << in["state"].get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

}  // namespace kiln::cli
