// kiln launch IMAGE: create and start instances.
#include <iostream>

#include "base/fs.h"
#include "cli/cli_context.h"

namespace kiln::cli {

void AddLaunch(CLI::App& app, CliContext& cc) {
  struct Opts {
    std::string image, name, type, user_data_file, network = "bridge";
    int count = 1;
    std::vector<std::string> env, publish;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("launch", "Launch instances from an image; prints their ids");
  cmd->add_option("image", o->image, "Image name or id")->required();
  cmd->add_option("--name", o->name, "Instance name; with --count, {n} is replaced by 1..N");
  cmd->add_option("--count", o->count, "How many instances (all start or none)")
      ->capture_default_str();
  cmd->add_option("--type", o->type, "Instance type: nano, micro, small (default), medium, large");
  cmd->add_option("--user-data", o->user_data_file, "Script run once at first boot (by kiln-init)");
  cmd->add_option("-e,--env", o->env, "Environment variable K=V (repeatable)");
  cmd->add_option("--network", o->network,
                  "bridge: an address on kilnd's bridge, reachable from the host and other "
                  "instances; none: loopback only; host: the host's own network (unsafe)")
      ->check(CLI::IsMember({"bridge", "none", "host"}))
      ->capture_default_str();
  cmd->add_option("-p,--publish", o->publish,
                  "Forward a host port to the instance: [HOSTADDR:]HOSTPORT:INSTPORT[/tcp|udp]; "
                  "HOSTADDR defaults to 127.0.0.1 (repeatable)");
  cmd->callback([&cc, o] {
    cc.action = [&cc, o]() -> Status {
      nlohmann::json body = {{"image", o->image},    {"name", o->name},       {"count", o->count},
                             {"type", o->type},      {"network", o->network}, {"env", o->env},
                             {"publish", o->publish}};
      if (!o->user_data_file.empty()) {
        ASSIGN_OR_RETURN(std::string ud, ReadFile(o->user_data_file));
        body["user_data"] = ud;
      }
      ASSIGN_OR_RETURN(auto res, cc.api().Post("/v1/instances", body));
      if (cc.json) {
        PrintJson(res["instances"]);
      } else {
        for (const auto& in : res["instances"]) std::cout << in["id"].get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

}  // namespace kiln::cli
