// kiln stop / start / reboot / rm.
#include <iostream>
#include <memory>
#include <optional>

#include "base/parallel.h"
#include "cli/cli_context.h"

namespace kiln::cli {
namespace {

// Sends one request per instance, up to four at a time (each on its own connection), and prints
// the instances in the order given. The first failure stops requests not yet sent; it is
// returned once the ones in flight have answered and been printed.
Status ForEachInstance(
    CliContext& cc, const std::vector<std::string>& refs,
    const std::function<Result<nlohmann::json>(ApiClient&, const std::string&)>& call) {
  std::vector<std::optional<nlohmann::json>> done(refs.size());
  ApiClient& first = cc.api();
  Status st = ForEachParallel(refs.size(), 4, [&](size_t i) -> Status {
    std::unique_ptr<ApiClient> own;
    ApiClient* api = &first;
    if (i > 0) {  // the first request reuses the CLI's connection; others open their own
      own = std::make_unique<ApiClient>(cc.socket);
      api = own.get();
    }
    ASSIGN_OR_RETURN(done[i], call(*api, refs[i]));
    return Ok();
  });
  for (const auto& in : done) {
    if (!in) continue;
    if (cc.json)
      PrintJson(*in);
    else
      std::cout << (*in)["id"].get<std::string>() << " " << (*in)["state"].get<std::string>()
                << "\n";
  }
  return st;
}

void AddVerb(CLI::App& app, CliContext& cc, const std::string& verb, const std::string& help) {
  auto refs = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand(verb, help);
  cmd->add_option("instances", *refs, "Instance names or ids")->required();
  cmd->callback([&cc, refs, verb] {
    cc.action = [&cc, refs, verb]() -> Status {
      return ForEachInstance(cc, *refs, [&](ApiClient& api, const std::string& r) {
        return api.Post("/v1/instances/" + ApiClient::Escape(r) + "/" + verb,
                        nlohmann::json::object());
      });
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
      return ForEachInstance(cc, o->refs, [&](ApiClient& api, const std::string& r) {
        return api.Delete("/v1/instances/" + ApiClient::Escape(r) + (o->force ? "?force=1" : ""));
      });
    };
  });
}

}  // namespace kiln::cli
