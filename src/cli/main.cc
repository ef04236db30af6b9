// kiln: the command-line client of kilnd.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include <curl/curl.h>

#include "cli/cli_context.h"

namespace {

// Exit codes scripts can rely on (documented in docs/cli.md).
int ExitCodeFor(kiln::ErrorCode code) {
  switch (code) {
    case kiln::ErrorCode::kInvalidArgument:
    case kiln::ErrorCode::kUnsupported:
      return 2;
    case kiln::ErrorCode::kNotFound:
      return 3;
    case kiln::ErrorCode::kAlreadyExists:
    case kiln::ErrorCode::kConflict:
    case kiln::ErrorCode::kBusy:
      return 4;
    case kiln::ErrorCode::kCorruption:
      return 5;
    case kiln::ErrorCode::kPermissionDenied:
      return 6;
    default:
      return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln::cli;
  ::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CliContext cc;
  int exec_exit = 0;
  const char* env = std::getenv("KILN_SOCKET");
  cc.socket = env && *env ? env : "/run/kiln/kiln.sock";

  CLI::App app{"kiln - make machine images and run instances from them"};
  app.require_subcommand(1);
  app.add_option("--socket", cc.socket, "kilnd API socket (env KILN_SOCKET)")
      ->capture_default_str();
  app.add_flag("--json", cc.json, "Print results as JSON, for scripts");
  app.add_flag("-q,--quiet", cc.quiet, "No progress bars or notes on stderr");
  app.set_version_flag("--version", KILN_VERSION);
  app.footer(
      "Exit codes: 0 ok, 1 failure, 2 invalid input, 3 not found, 4 conflict/busy, "
      "5 corruption found, 6 permission denied (registry login); kiln exec exits with the "
      "command's own code.");

  auto* image = app.add_subcommand("image", "Manage images");
  image->require_subcommand(1);
  AddImageImport(*image, cc);
  AddImageCreate(*image, cc);
  AddImageHistory(*image, cc);
  AddImageList(*image, cc);
  AddImageInspect(*image, cc);
  AddImageTag(*image, cc);
  AddImageRemove(*image, cc);
  AddImageVerify(*image, cc);
  AddImageExport(*image, cc);
  AddRegistryVerbs(app, *image, cc);
  AddGc(app, cc);
  AddVersion(app, cc);
  AddLaunch(app, cc);
  AddNetwork(app, cc);
  AddInstanceList(app, cc);
  AddInstanceInspect(app, cc);
  AddExec(app, cc, &exec_exit);
  AddLifecycle(app, cc);
  AddLogs(app, cc);
  AddSnapshot(app, cc);
  AddCp(app, cc);
  AddShell(app, cc, &exec_exit);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  int rc = 0;
  try {
    kiln::Status st = cc.action ? cc.action() : kiln::Error::InvalidArgument("no command given");
    if (!st) {
      std::cerr << "kiln: " << st.error().message() << "\n";
      rc = ExitCodeFor(st.error().code());
    } else {
      rc = exec_exit;
    }
  } catch (const std::exception& e) {
    std::cerr << "kiln: internal error: " << e.what() << "\n";
    rc = 1;
  }
  cc.client.reset();
  curl_global_cleanup();
  return rc;
}
