// cli: kiln image pull / push, kiln login / logout.
//
// Credentials stay with the user, not with kilnd: an auth file in the format podman, skopeo and
// docker use ({"auths": {"host": {"auth": base64("user:password")}}}), at $KILN_AUTH_FILE or
// ~/.config/kiln/auth.json (mode 0600), or KILN_REGISTRY_USERNAME / KILN_REGISTRY_PASSWORD in the
// environment. They go to kilnd with each request, over its socket.
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "base/fs.h"
#include "cli/cli_context.h"
#include "cli/progress.h"
#include "registry/auth.h"
#include "registry/reference.h"

namespace kiln::cli {
namespace {

using json = nlohmann::json;

struct AccessOptions {
  std::string tls_verify = "true";
  std::string ca_file;
  bool plain_http = false;
  std::string authfile;
};

std::string AuthFilePath(const AccessOptions& o) {
  if (!o.authfile.empty()) return o.authfile;
  if (const char* e = std::getenv("KILN_AUTH_FILE"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return JoinPath(x, "kiln/auth.json");
  const char* home = std::getenv("HOME");
  return JoinPath(home && *home ? home : "/root", ".config/kiln/auth.json");
}

Result<json> ReadAuthFile(const std::string& path) {
  auto exists = Exists(path);
  if (!exists || !*exists) return json{{"auths", json::object()}};
  ASSIGN_OR_RETURN(std::string doc, ReadFile(path));
  json j = json::parse(doc, nullptr, false);
  if (!j.is_object()) return Error::InvalidArgument("auth file " + path + " is not a JSON object");
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = json::object();
  return j;
}

void AddAccessOptions(CLI::App* cmd, AccessOptions& o) {
  cmd->add_option("--tls-verify", o.tls_verify,
                  "Verify the registry's TLS certificate (true|false)")
      ->check(CLI::IsMember({"true", "false"}))
      ->capture_default_str();
  cmd->add_option("--ca-file", o.ca_file, "Trust this CA certificate (PEM) for the registry");
  cmd->add_flag("--plain-http", o.plain_http,
                "Talk plain HTTP (loopback registries fall back to it on their own)");
  cmd->add_option("--authfile", o.authfile,
                  "Credentials file (default $KILN_AUTH_FILE or ~/.config/kiln/auth.json)");
}

// The registry part of the request body: transport options and the credentials for host.
Result<json> AccessJson(const AccessOptions& o, const std::string& host) {
  json body = {{"tls_verify", o.tls_verify == "true"}, {"plain_http", o.plain_http}};
  if (!o.ca_file.empty()) {
    auto pem = ReadFile(o.ca_file);
    if (!pem) return std::move(pem).error().Context("--ca-file");
    body["ca_pem"] = *pem;
  }
  const char* user = std::getenv("KILN_REGISTRY_USERNAME");
  const char* pass = std::getenv("KILN_REGISTRY_PASSWORD");
  if (user && *user) {
    body["auth"] = {{"username", user}, {"password", pass ? pass : ""}};
    return body;
  }
  ASSIGN_OR_RETURN(json file, ReadAuthFile(AuthFilePath(o)));
  const json& auths = file["auths"];
  for (const std::string& key : {host, "https://" + host, "http://" + host}) {
    if (!auths.contains(key) || !auths[key].is_object()) continue;
    std::string b64 = auths[key].value("auth", "");
    auto decoded = registry::Base64Decode(b64);
    auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos)
      return Error::InvalidArgument("auth file entry for " + host +
                                    " is not base64(user:password)");
    body["auth"] = {{"username", decoded->substr(0, colon)},
                    {"password", decoded->substr(colon + 1)}};
    break;
  }
  return body;
}

Result<json> RunTransfer(CliContext& cc, const std::string& path, const json& body,
                         const std::string& what) {
  MultiProgress bars(!cc.quiet && !cc.json);
  auto res = cc.api().PostEvents(path, body, [&](const json& e) {
    bars.Update(e.value("id", ""), e.value("status", ""), e.value("done", uint64_t{0}),
                e.value("total", uint64_t{0}));
  });
  bars.Finish();
  if (!res) return std::move(res).error().Context(what);
  return res;
}

struct PullOptions {
  std::string reference, name;
  std::vector<std::string> tags;
  int parallel = 3;
  AccessOptions access;
};

Status RunPull(CliContext& cc, const PullOptions& o) {
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(o.reference));
  ASSIGN_OR_RETURN(json body, AccessJson(o.access, ref.registry));
  body["reference"] = o.reference;
  if (!o.name.empty()) body["name"] = o.name;
  body["parallel"] = o.parallel;
  json tags = json::object();
  for (const auto& t : o.tags) {
    auto eq = t.find('=');
    if (eq == std::string::npos)
      return Error::InvalidArgument("tag \"" + t + "\" must be KEY=VALUE");
    tags[t.substr(0, eq)] = t.substr(eq + 1);
  }
  body["tags"] = tags;
  ASSIGN_OR_RETURN(json res, RunTransfer(cc, "/v1/images/pull", body, "pull " + o.reference));
  if (cc.json)
    PrintJson(res);
  else
    std::cout << res["id"].get<std::string>() << "\n";
  return Ok();
}

struct PushOptions {
  std::string image, destination, compression = "gzip";
  int parallel = 3;
  AccessOptions access;
};

Status RunPush(CliContext& cc, const PushOptions& o) {
  ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(o.destination, true));
  ASSIGN_OR_RETURN(json body, AccessJson(o.access, ref.registry));
  body["destination"] = o.destination;
  body["compression"] = o.compression;
  body["parallel"] = o.parallel;
  ASSIGN_OR_RETURN(json res, RunTransfer(cc, "/v1/images/" + ApiClient::Escape(o.image) + "/push",
                                         body, "push " + o.image));
  if (cc.json) {
    PrintJson(res);
  } else {
    if (!cc.quiet)
      std::cerr << "uploaded " << res["blobs_uploaded"] << " blobs, " << res["blobs_skipped"]
                << " already in the registry\n";
    std::cout << res["reference"].get<std::string>() << "\n";
  }
  return Ok();
}

Result<std::string> ReadSecret(bool from_stdin) {
  std::string pw;
  if (from_stdin) {
    std::getline(std::cin, pw);
    return pw;
  }
  if (!::isatty(STDIN_FILENO))
    return Error::InvalidArgument("no terminal to ask for the password; use --password-stdin");
  std::cerr << "Password: " << std::flush;
  termios old{};
  ::tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::getline(std::cin, pw);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::cerr << "\n";
  return pw;
}

std::string HostOf(std::string registry) {
  for (std::string_view scheme : {"https://", "http://"})
    if (registry.starts_with(scheme)) registry = registry.substr(scheme.size());
  return registry.substr(0, registry.find('/'));
}

struct LoginOptions {
  std::string registry, username;
  bool password_stdin = false;
  AccessOptions access;
};

Status RunLogin(CliContext& cc, const LoginOptions& o) {
  std::string host = HostOf(o.registry);
  if (host.empty()) return Error::InvalidArgument("name the registry to log in to");
  std::string user = o.username;
  if (user.empty()) {
    if (o.password_stdin || !::isatty(STDIN_FILENO))
      return Error::InvalidArgument("give the user name with --username");
    std::cerr << "Username: " << std::flush;
    std::getline(std::cin, user);
  }
  ASSIGN_OR_RETURN(std::string password, ReadSecret(o.password_stdin));
  if (user.empty() || password.empty())
    return Error::InvalidArgument("user name and password must not be empty");
  AccessOptions transport = o.access;
  json body = {{"registry", host},
               {"tls_verify", transport.tls_verify == "true"},
               {"plain_http", transport.plain_http},
               {"auth", {{"username", user}, {"password", password}}}};
  if (!transport.ca_file.empty()) {
    auto pem = ReadFile(transport.ca_file);
    if (!pem) return std::move(pem).error().Context("--ca-file");
    body["ca_pem"] = *pem;
  }
  ASSIGN_OR_RETURN(json res, cc.api().Post("/v1/registry/login", body));
  (void)res;
  std::string path = AuthFilePath(o.access);
  ASSIGN_OR_RETURN(json file, ReadAuthFile(path));
  file["auths"][host] = {{"auth", registry::Base64Encode(user + ":" + password)}};
  TRY(MakeDirs(Dirname(path), 0700));
  TRY(WriteFileAtomic(path, file.dump(2) + "\n", 0600));
  if (!cc.quiet) std::cerr << "Login succeeded; credentials saved in " << path << "\n";
  return Ok();
}

Status RunLogout(CliContext& cc, const std::string& registry, const AccessOptions& o) {
  std::string host = HostOf(registry);
  std::string path = AuthFilePath(o);
  ASSIGN_OR_RETURN(json file, ReadAuthFile(path));
  if (!file["auths"].contains(host))
    return Error::NotFound("not logged in to " + host + " (no entry in " + path + ")");
  file["auths"].erase(host);
  TRY(WriteFileAtomic(path, file.dump(2) + "\n", 0600));
  if (!cc.quiet) std::cerr << "Removed the credentials for " << host << " from " << path << "\n";
  return Ok();
}

}  // namespace

void AddRegistryVerbs(CLI::App& app, CLI::App& image, CliContext& cc) {
  auto pull = std::make_shared<PullOptions>();
  auto* p = image.add_subcommand(
      "pull",
      "Pull an image from an OCI registry (REGISTRY/REPO[:TAG][@DIGEST]); every blob is verified "
      "before the image appears. An interrupted pull resumes where it stopped. Prints the id.");
  p->add_option("reference", pull->reference, "e.g. localhost:5000/web:v1")->required();
  p->add_option("--name", pull->name, "Name of the new image (default: REPO-TAG)");
  p->add_option("--tag", pull->tags, "Tag KEY=VALUE to set on the image (repeatable)");
  p->add_option("--parallel", pull->parallel, "Blobs downloaded at once")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  AddAccessOptions(p, pull->access);
  p->callback([&cc, pull] { cc.action = [&cc, pull] { return RunPull(cc, *pull); }; });

  auto push = std::make_shared<PushOptions>();
  auto* u = image.add_subcommand(
      "push",
      "Push an image to an OCI registry. Only blobs the registry lacks are sent; plain layers are "
      "compressed on the way. Prints the pushed reference with its manifest digest.");
  u->add_option("image", push->image, "Image id or name")->required();
  u->add_option("destination", push->destination, "REGISTRY/REPO[:TAG], e.g. localhost:5000/web:v1")
      ->required();
  u->add_option("--compression", push->compression,
                "Layer compression: gzip (widest support), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}))
      ->capture_default_str();
  u->add_option("--parallel", push->parallel, "Blobs uploaded at once")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  AddAccessOptions(u, push->access);
  u->callback([&cc, push] { cc.action = [&cc, push] { return RunPush(cc, *push); }; });

  auto login = std::make_shared<LoginOptions>();
  auto* l = app.add_subcommand(
      "login", "Check credentials with a registry and save them (0600) for pull and push");
  l->add_option("registry", login->registry, "Registry host[:port]")->required();
  l->add_option("-u,--username", login->username, "User name (asked when not given)");
  l->add_flag("--password-stdin", login->password_stdin, "Read the password from stdin");
  AddAccessOptions(l, login->access);
  l->callback([&cc, login] { cc.action = [&cc, login] { return RunLogin(cc, *login); }; });

  auto logout_registry = std::make_shared<std::string>();
  auto logout_access = std::make_shared<AccessOptions>();
  auto* o = app.add_subcommand("logout", "Forget the saved credentials for a registry");
  o->add_option("registry", *logout_registry, "Registry host[:port]")->required();
  o->add_option("--authfile", logout_access->authfile, "Credentials file");
  o->callback([&cc, logout_registry, logout_access] {
    cc.action = [&cc, logout_registry, logout_access] {
      return RunLogout(cc, *logout_registry, *logout_access);
    };
  });
}

}  // namespace kiln::cli
