// kiln ls / kiln inspect INSTANCE / kiln logs INSTANCE.
#include <iostream>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {

void AddInstanceList(CLI::App& app, CliContext& cc) {
  auto all = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("ls", "List instances");
  cmd->alias("list");
  cmd->add_flag("-a,--all", *all, "Include terminated instances");
  cmd->callback([&cc, all] {
    cc.action = [&cc, all]() -> Status {
      ASSIGN_OR_RETURN(auto res,
                       cc.api().Get(std::string("/v1/instances") + (*all ? "?all=1" : "")));
      if (cc.json) {
        PrintJson(res["instances"]);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& in : res["instances"])
        rows.push_back({in["id"], in["name"], in.value("image", in["image_id"].get<std::string>()),
                        in["state"], in["type"],
                        in.value("private_ip", in.value("network", "none")), Age(in["created"])});
      PrintTable({"ID", "NAME", "IMAGE", "STATE", "TYPE", "ADDRESS", "CREATED"}, rows);
      return Ok();
    };
  });
}

void AddInstanceInspect(CLI::App& app, CliContext& cc) {
  auto ref = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Show an instance: image, state, type and limits");
  cmd->add_option("instance", *ref, "Instance name or id")->required();
  cmd->callback([&cc, ref] {
    cc.action = [&cc, ref]() -> Status {
      ASSIGN_OR_RETURN(auto in, cc.api().Get("/v1/instances/" + ApiClient::Escape(*ref)));
      if (cc.json) {
        PrintJson(in);
        return Ok();
      }
      std::cout << "ID:       " << in["id"].get<std::string>() << "\n"
                << "Name:     " << in["name"].get<std::string>() << "\n"
                << "Image:    " << in.value("image", "") << " ("
                << in["image_id"].get<std::string>() << ")\n"
                << "State:    " << in["state"].get<std::string>()
                << (in.contains("state_reason") ? " (" + in["state_reason"].get<std::string>() + ")"
                                                : "")
                << "\n"
                << "Type:     " << in["type"].get<std::string>() << "\n"
                << "Network:  " << in.value("network", "none")
                << (in.contains("private_ip") ? " " + in["private_ip"].get<std::string>() : "")
                << (in.contains("private_ipv6") ? " " + in["private_ipv6"].get<std::string>() : "")
                << "\n"
                << "Created:  " << in["created"].get<std::string>() << " (" << Age(in["created"])
                << ")\n";
      for (const auto& p : in.value("ports", nlohmann::json::array()))
        std::cout << "Port:     " << p["host_ip"].get<std::string>() << ":"
                  << p["host_port"].get<int>() << " -> " << p["instance_port"].get<int>() << "/"
                  << p["protocol"].get<std::string>() << "\n";
      if (in.contains("limits")) {
        const auto& l = in["limits"];
        std::cout << "Limits:   cpu " << l["cpu_millis"].get<int64_t>() / 1000.0 << ", memory "
                  << HumanBytes(l["memory_bytes"].get<uint64_t>()) << ", pids " << l["pids"]
                  << "\n";
      }
      if (in.contains("usage")) {
        const auto& u = in["usage"];
        auto num = [](const nlohmann::json& v) {
          return v.get<int64_t>() < 0 ? std::string("?") : std::to_string(v.get<int64_t>());
        };
        std::cout << "Usage:    memory "
                  << (u["memory_bytes"].get<int64_t>() < 0
                          ? "?"
                          : HumanBytes(u["memory_bytes"].get<uint64_t>()))
                  << ", pids " << num(u["pids"]) << ", memory limit hits "
                  << num(u["memory_limit_hits"]) << ", OOM kills " << num(u["oom_kills"]) << "\n";
      }
      for (const auto& e : in["env"]) std::cout << "Env:      " << e.get<std::string>() << "\n";
      return Ok();
    };
  });
}

void AddLogs(CLI::App& app, CliContext& cc) {
  auto ref = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("logs", "Print an instance's log (init and user-data output)");
  cmd->add_option("instance", *ref, "Instance name or id")->required();
  cmd->callback([&cc, ref] {
    cc.action = [&cc, ref]() -> Status {
      return cc.api().Download(
          "/v1/instances/" + ApiClient::Escape(*ref) + "/logs",
          [](const char* d, size_t n) -> Status {
            std::cout.write(d, static_cast<std::streamsize>(n));
            return Ok();
          },
          nullptr);
    };
  });
}

}  // namespace kiln::cli
