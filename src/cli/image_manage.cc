// kiln image tag / rm / verify, and kiln gc.
#include <iostream>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {

void AddImageTag(CLI::App& image, CliContext& cc) {
  struct Opts {
    std::string image;
    std::vector<std::string> set, remove;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = image.add_subcommand("tag", "Set (KEY=VALUE) or remove (--remove KEY) image tags");
  cmd->add_option("image", o->image, "Image name or id")->required();
  cmd->add_option("tags", o->set, "Tags to set, KEY=VALUE");
  cmd->add_option("--remove", o->remove, "Tag keys to remove (repeatable)");
  cmd->callback([&cc, o] {
    cc.action = [&cc, o]() -> Status {
      if (o->set.empty() && o->remove.empty())
        return Error::InvalidArgument("nothing to do: give KEY=VALUE or --remove KEY");
      nlohmann::json set = nlohmann::json::object();
      for (const auto& kv : o->set) {
        auto eq = kv.find('=');
        if (eq == std::string::npos)
          return Error::InvalidArgument("tag \"" + kv + "\" must be KEY=VALUE");
        set[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      ASSIGN_OR_RETURN(auto im, cc.api().Post("/v1/images/" + ApiClient::Escape(o->image) + "/tags",
                                              {{"set", set}, {"remove", o->remove}}));
      if (cc.json) {
        PrintJson(im["tags"]);
      } else {
        for (const auto& [k, v] : im["tags"].items())
          std::cout << k << "=" << v.get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

void AddImageRemove(CLI::App& image, CliContext& cc) {
  auto refs = std::make_shared<std::vector<std::string>>();
  auto* cmd = image.add_subcommand("rm", "Remove images (their blobs go with the next gc)");
  cmd->alias("remove");
  cmd->add_option("images", *refs, "Image names or ids")->required();
  cmd->callback([&cc, refs] {
    cc.action = [&cc, refs]() -> Status {
      for (const auto& r : *refs) {
        ASSIGN_OR_RETURN(auto res, cc.api().Delete("/v1/images/" + ApiClient::Escape(r)));
        if (cc.json)
          PrintJson(res);
        else
          std::cout << res["removed"].get<std::string>() << "\n";
      }
      return Ok();
    };
  });
}

void AddImageVerify(CLI::App& image, CliContext& cc) {
  auto ref = std::make_shared<std::string>();
  auto* cmd = image.add_subcommand(
      "verify",
      "Re-hash every blob of an image (or of all images) at rest; exit 5 on any mismatch");
  cmd->add_option("image", *ref, "Image name or id (default: all)");
  cmd->callback([&cc, ref] {
    cc.action = [&cc, ref]() -> Status {
      nlohmann::json body = nlohmann::json::object();
      if (!ref->empty()) body["image"] = *ref;
      ASSIGN_OR_RETURN(auto rep, cc.api().Post("/v1/images/verify", body));
      if (cc.json) PrintJson(rep);
      for (const auto& p : rep["problems"])
        std::cerr << "kiln: image " << p["name"].get<std::string>() << " ("
                  << p["image"].get<std::string>() << "): " << p["problem"].get<std::string>()
                  << "\n";
      if (!rep["problems"].empty())
        return Error::Corruption(std::to_string(rep["problems"].size()) + " problem(s) found");
      if (!cc.json)
        std::cout << "verified " << rep["images"] << " images, " << rep["blobs"] << " blobs: ok\n";
      return Ok();
    };
  });
}

void AddGc(CLI::App& app, CliContext& cc) {
  auto* cmd =
      app.add_subcommand("gc", "Remove stored blobs no image refers to, and unfinished downloads");
  cmd->callback([&cc] {
    cc.action = [&cc]() -> Status {
      ASSIGN_OR_RETURN(auto res, cc.api().Post("/v1/gc", nlohmann::json::object()));
      if (cc.json)
        PrintJson(res);
      else
        std::cout << "removed " << res["removed_blobs"] << " blobs and "
                  << res.value("removed_partial_downloads", 0) << " unfinished downloads, freed "
                  << HumanBytes(res["freed_bytes"].get<uint64_t>()) << "\n";
      return Ok();
    };
  });
}

void AddVersion(CLI::App& app, CliContext& cc) {
  auto* cmd = app.add_subcommand("version", "Show the client and daemon versions");
  cmd->callback([&cc] {
    cc.action = [&cc]() -> Status {
      ASSIGN_OR_RETURN(auto res, cc.api().Get("/v1/version"));
      if (cc.json)
        PrintJson({{"client", KILN_VERSION}, {"daemon", res["version"]}});
      else
        std::cout << "client " << KILN_VERSION << "\ndaemon " << res["version"].get<std::string>()
                  << "\n";
      return Ok();
    };
  });
}

}  // namespace kiln::cli
