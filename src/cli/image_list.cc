// kiln image ls / kiln image inspect.
#include <iostream>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {
namespace {

Status RunList(CliContext& cc) {
  ASSIGN_OR_RETURN(auto res, cc.api().Get("/v1/images"));
  if (cc.json) {
    PrintJson(res["images"]);
    return Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& im : res["images"])
    rows.push_back({im["id"], im["name"], im["state"], std::to_string(im["layer_count"].get<int>()),
                    HumanBytes(im["size"].get<uint64_t>()), Age(im["created"]), im["description"]});
  PrintTable({"ID", "NAME", "STATE", "LAYERS", "SIZE", "CREATED", "DESCRIPTION"}, rows);
  return Ok();
}

Status RunInspect(CliContext& cc, const std::string& ref) {
  ASSIGN_OR_RETURN(auto im, cc.api().Get("/v1/images/" + ApiClient::Escape(ref)));
  if (cc.json) {
    PrintJson(im);
    return Ok();
  }
  auto field = [](const char* k, const std::string& v) { std::cout << k << v << "\n"; };
  field("ID:           ", im["id"]);
  field("Name:         ", im["name"]);
  field("Description:  ", im["description"]);
  field(
      "State:        ",
      im["state"].get<std::string>() +
          (im.contains("state_reason") ? " (" + im["state_reason"].get<std::string>() + ")" : ""));
  field("Created:      ", im["created"].get<std::string>() + " (" + Age(im["created"]) + ")");
  field("Source:       ", im.value("source", ""));
  field("Platform:     ", im.value("os", "") + "/" + im.value("architecture", ""));
  field("Size:         ", HumanBytes(im["size"].get<uint64_t>()));
  field("Manifest:     ", im["manifest_digest"]);
  field("Config:       ", im["config_digest"]);
  std::string lineage;
  for (const auto& p : im["lineage"])
    lineage += (lineage.empty() ? "" : " <- ") +
               (p["name"].is_null() ? p["id"].get<std::string>() : p["name"].get<std::string>());
  field("Parent:       ", lineage.empty() ? "(none)" : lineage);
  std::cout << "Tags:" << (im["tags"].empty() ? "         (none)" : "") << "\n";
  for (const auto& [k, v] : im["tags"].items())
    std::cout << "  " << k << "=" << v.get<std::string>() << "\n";
  if (im.contains("config") && !im["config"].empty())
    std::cout << "Config:       " << im["config"].dump() << "\n";
  std::cout << "Layers:\n";
  std::vector<std::vector<std::string>> rows;
  int n = 0;
  for (const auto& l : im["layers"])
    rows.push_back(
        {std::to_string(++n), l["digest"], HumanBytes(l["size"].get<uint64_t>()), l["media_type"]});
  PrintTable({"  #", "DIGEST", "SIZE", "MEDIA TYPE"}, rows);
  return Ok();
}

}  // namespace

void AddImageList(CLI::App& image, CliContext& cc) {
  auto* cmd = image.add_subcommand("ls", "List images");
  cmd->alias("list");
  cmd->callback([&cc] { cc.action = [&cc] { return RunList(cc); }; });
}

void AddImageInspect(CLI::App& image, CliContext& cc) {
  auto ref = std::make_shared<std::string>();
  auto* cmd =
      image.add_subcommand("inspect", "Show an image: layers, digests, sizes, config, lineage");
  cmd->add_option("image", *ref, "Image name or id")->required();
  cmd->callback([&cc, ref] { cc.action = [&cc, ref] { return RunInspect(cc, *ref); }; });
}

}  // namespace kiln::cli
