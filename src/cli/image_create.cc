// kiln image create INSTANCE --name NAME: a new image from what the instance changed.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cli_context.h"

namespace kiln::cli {

void AddImageCreate(CLI::App& image, CliContext& cc) {
  struct Opts {
    std::string instance, name, description, snapshot;
    std::vector<std::string> tags;
    bool stop = false, no_reboot = false, wait = false, flatten = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = image.add_subcommand(
      "create",
      "Create an image from an instance: its image's layers plus one layer of what it changed. "
      "Prints the new image id at once (state pending); --wait blocks until it is available.");
  cmd->add_option("instance", o->instance, "Instance name or id");
  cmd->add_option("--from-snapshot", o->snapshot, "Make the image from a snapshot instead");
  cmd->add_option("--name", o->name, "Name of the new image (unique)")->required();
  cmd->add_option("--description", o->description, "Free-text description");
  cmd->add_option("--tag", o->tags, "Tag KEY=VALUE (repeatable)");
  auto* stop =
      cmd->add_flag("--stop", o->stop,
                    "Stop the instance cleanly, capture, start it again (application-consistent)");
  cmd->add_flag("--no-reboot", o->no_reboot,
                "Capture without freezing (fastest, no consistency guarantee)")
      ->excludes(stop);
  cmd->add_flag("--wait", o->wait, "Wait until the image is available (or failed)");
  cmd->add_flag("--flatten", o->flatten,
                "Write one merged layer instead of the source's layers plus the change (for deep "
                "chains)");
  cmd->callback([&cc, o] {
    cc.action = [&cc, o]() -> Status {
      nlohmann::json tags = nlohmann::json::object();
      for (const auto& kv : o->tags) {
        auto eq = kv.find('=');
        if (eq == std::string::npos)
          return Error::InvalidArgument("tag \"" + kv + "\" must be KEY=VALUE");
        tags[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      if (o->instance.empty() == o->snapshot.empty())
        return Error::InvalidArgument("give an instance or --from-snapshot SNAPSHOT (one of them)");
      std::string mode = o->stop ? "stop" : o->no_reboot ? "no-reboot" : "freeze";
      nlohmann::json body = {{"name", o->name},
                             {"description", o->description},
                             {"tags", tags},
                             {"consistency", mode},
                             {"flatten", o->flatten}};
      if (o->snapshot.empty())
        body["instance"] = o->instance;
      else
        body["snapshot"] = o->snapshot;
      ASSIGN_OR_RETURN(auto im, cc.api().Post("/v1/images", body));
      std::string id = im["id"];
      if (o->wait) {
        bool tty = ::isatty(STDERR_FILENO) && !cc.quiet;
        auto start = std::chrono::steady_clock::now();
        for (int i = 0;; ++i) {
          ASSIGN_OR_RETURN(im, cc.api().Get("/v1/images/" + id));
          if (im["state"] != "pending") break;
          if (tty) {
            double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::fprintf(stderr, "\rcreate %s %c %.1f s\033[K", o->name.c_str(), "|/-\\"[i % 4], s);
          }
          // 5, 10, 20, 40, 80, then every 100 ms: a small change is an image in tens of ms.
          std::this_thread::sleep_for(
              std::chrono::milliseconds(std::min(100, 5 << std::min(i, 5))));
        }
        if (tty) std::fprintf(stderr, "\r\033[K");
        if (im["state"] == "failed")
          return Error(ErrorCode::kIO, "create image " + o->name + " failed: " +
                                           im.value("state_reason", std::string("unknown reason")));
      }
      if (cc.json)
        PrintJson(im);
      else
        std::cout << id << "\n";
      return Ok();
    };
  });
}

}  // namespace kiln::cli
