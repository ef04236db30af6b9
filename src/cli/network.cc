// cli: kiln network ls / inspect.
#include <iostream>

#include "cli/cli_context.h"

namespace kiln::cli {

void AddNetwork(CLI::App& app, CliContext& cc) {
  auto* net = app.add_subcommand("network", "Show the networks instances attach to");
  net->require_subcommand(1);
  auto* ls = net->add_subcommand("ls", "List networks: subnet, gateway, instances on each");
  ls->callback([&cc] {
    cc.action = [&cc]() -> Status {
      ASSIGN_OR_RETURN(auto res, cc.api().Get("/v1/networks"));
      if (cc.json) {
        PrintJson(res["networks"]);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& n : res["networks"])
        rows.push_back({n["name"], n.value("bridge", "-"), n.value("subnet", "-"),
                        n.value("gateway", "-"), std::to_string(n["instances"].size())});
      PrintTable({"NAME", "BRIDGE", "SUBNET", "GATEWAY", "INSTANCES"}, rows);
      return Ok();
    };
  });
  auto name = std::make_shared<std::string>();
  auto* inspect = net->add_subcommand("inspect", "Show one network and the instances on it");
  inspect->add_option("network", *name, "bridge, none, host (or the bridge's name)")->required();
  inspect->callback([&cc, name] {
    cc.action = [&cc, name]() -> Status {
      ASSIGN_OR_RETURN(auto n, cc.api().Get("/v1/networks/" + ApiClient::Escape(*name)));
      if (cc.json) {
        PrintJson(n);
        return Ok();
      }
      std::cout << "Name:     " << n["name"].get<std::string>() << "\n";
      if (n.contains("bridge"))
        std::cout << "Bridge:   " << n["bridge"].get<std::string>() << "\n"
                  << "Subnet:   " << n["subnet"].get<std::string>() << "\n"
                  << "Gateway:  " << n["gateway"].get<std::string>() << "\n"
                  << (n.contains("subnet6")
                          ? "Subnet6:  " + n["subnet6"].get<std::string>() +
                                "\nGateway6: " + n["gateway6"].get<std::string>() + "\n"
                          : "")
                  << "NAT:      " << (n.value("nat", false) ? "on (IPv4)" : "off") << "\n";
      std::vector<std::vector<std::string>> rows;
      bool v6 = n.contains("subnet6");
      for (const auto& in : n["instances"]) {
        rows.push_back({in["id"], in["name"], in["state"], in.value("private_ip", "")});
        if (v6) rows.back().push_back(in.value("private_ipv6", ""));
      }
      std::cout << "\n";
      if (v6)
        PrintTable({"ID", "NAME", "STATE", "ADDRESS", "IPV6"}, rows);
      else
        PrintTable({"ID", "NAME", "STATE", "ADDRESS"}, rows);
      return Ok();
    };
  });
}

}  // namespace kiln::cli
