// cli: what every verb shares: global options, the API client, and how results are printed.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/api_client.h"

namespace kiln::cli {

struct CliContext {
  std::string socket;
  bool json = false;
  bool quiet = false;
  std::function<Status()> action;  // set by the verb the user chose
  std::unique_ptr<ApiClient> client;

  ApiClient& api() {
    if (!client) client = std::make_unique<ApiClient>(socket);
    return *client;
  }
};

// Prints rows as aligned columns under a header.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
void PrintJson(const nlohmann::json& j);
// "3 minutes ago" style age of an RFC 3339 time.
std::string Age(const std::string& rfc3339);

// Registration of the verbs, one file each.
void AddImageImport(CLI::App& image, CliContext& cc);
void AddImageExport(CLI::App& image, CliContext& cc);
void AddImageCreate(CLI::App& image, CliContext& cc);
void AddImageHistory(CLI::App& image, CliContext& cc);
void AddImageList(CLI::App& image, CliContext& cc);
void AddImageInspect(CLI::App& image, CliContext& cc);
void AddImageTag(CLI::App& image, CliContext& cc);
void AddImageRemove(CLI::App& image, CliContext& cc);
void AddImageVerify(CLI::App& image, CliContext& cc);
void AddGc(CLI::App& app, CliContext& cc);
// image pull/push, login/logout
void AddRegistryVerbs(CLI::App& app, CLI::App& image, CliContext& cc);
void AddVersion(CLI::App& app, CliContext& cc);
void AddLaunch(CLI::App& app, CliContext& cc);
void AddNetwork(CLI::App& app, CliContext& cc);
void AddSnapshot(CLI::App& app, CliContext& cc);
void AddCp(CLI::App& app, CliContext& cc);
void AddShell(CLI::App& app, CliContext& cc, int* exit_code);
void AddInstanceList(CLI::App& app, CliContext& cc);
void AddInstanceInspect(CLI::App& app, CliContext& cc);
void AddLogs(CLI::App& app, CliContext& cc);
void AddLifecycle(CLI::App& app, CliContext& cc);
// exec's own exit code replaces kiln's when the command ran.
void AddExec(CLI::App& app, CliContext& cc, int* exit_code);

}  // namespace kiln::cli
