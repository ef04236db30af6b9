// kiln image history IMAGE: the chain of images it was made from, with each layer's size.
#include <iostream>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {

void AddImageHistory(CLI::App& image, CliContext& cc) {
  auto ref = std::make_shared<std::string>();
  auto* cmd = image.add_subcommand(
      "history", "Show the chain of images an image was made from, and each layer's size");
  cmd->add_option("image", *ref, "Image name or id")->required();
  cmd->callback([&cc, ref] {
    cc.action = [&cc, ref]() -> Status {
      ASSIGN_OR_RETURN(auto im, cc.api().Get("/v1/images/" + ApiClient::Escape(*ref)));
      // The chain, newest first: this image, then its lineage.
      std::vector<nlohmann::json> chain = {im};
      for (const auto& p : im["lineage"]) {
        auto parent = cc.api().Get("/v1/images/" + ApiClient::Escape(p["id"].get<std::string>()));
        if (!parent) break;  // a removed parent ends what we can show
        chain.push_back(*parent);
      }
      // Layer i was added by the oldest image in the chain that has more than i layers.
      std::vector<nlohmann::json> history;
      for (const auto& h : im.value("history", nlohmann::json::array()))
        if (!h.value("empty_layer", false)) history.push_back(h);
      nlohmann::json rows = nlohmann::json::array();
      const auto& layers = im["layers"];
      for (size_t i = layers.size(); i-- > 0;) {
        const nlohmann::json* owner = &chain.front();
        for (const auto& c : chain)
          if (c["layers"].size() > i) owner = &c;
        rows.push_back(
            {{"image", (*owner)["name"]},
             {"image_id", (*owner)["id"]},
             {"layer", layers[i]["digest"]},
             {"size", layers[i]["size"]},
             {"created", i < history.size() ? history[i].value("created", "") : ""},
             {"created_by", i < history.size() ? history[i].value("created_by", "") : ""}});
      }
      if (cc.json) {
        PrintJson(rows);
        return Ok();
      }
      std::vector<std::vector<std::string>> table;
      for (const auto& r : rows)
        table.push_back({r["image"], r["layer"].get<std::string>().substr(0, 19),
                         HumanBytes(r["size"].get<uint64_t>()), r["created"], r["created_by"]});
      PrintTable({"IMAGE", "LAYER", "SIZE", "CREATED", "CREATED BY"}, table);
      return Ok();
    };
  });
}

}  // namespace kiln::cli
