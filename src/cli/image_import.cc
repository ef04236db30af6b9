// kiln image import SOURCE --name NAME: rootfs tarball, directory, OCI layout (dir or tar), or a
// docker/podman save archive. Files are streamed as they are; directories are streamed as a tar.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "base/fs.h"
#include "base/ids.h"
#include "cli/cli_context.h"
#include "cli/progress.h"
#include "cli/tar_streams.h"
#include "layer/tree_writer.h"

namespace kiln::cli {
namespace {

struct ImportOptions {
  std::string source, name, description, ref;
  std::vector<std::string> tags;
};

Result<nlohmann::json> UploadFd(CliContext& cc, const std::string& path, int fd, uint64_t size,
                                const std::string& label) {
  Progress progress(label, !cc.quiet);
  return cc.api().Upload(
      path,
      [fd](char* buf, size_t n) -> Result<size_t> {
        for (;;) {
          ssize_t r = ::read(fd, buf, n);
          if (r >= 0) return static_cast<size_t>(r);
          if (errno != EINTR) return Error::Sys(errno, "read source");
        }
      },
      size, &progress);
}

Result<nlohmann::json> UploadDir(CliContext& cc, const std::string& path, const std::string& dir) {
  Progress progress("import " + Basename(dir), !cc.quiet);
  auto res = UploadProduced(
      cc, path,
      [&](int fd) -> Status {
        auto walked = WriteTreeAsTar(dir, fd);
        if (!walked) return std::move(walked).error().Context("read " + dir);
        return Ok();
      },
      &progress);
  return res;
}

Status RunImport(CliContext& cc, const ImportOptions& o) {
  TRY(ValidateName(o.name, "image"));
  // Fail before uploading gigabytes when the name is taken (the daemon checks again).
  auto existing = cc.api().Get("/v1/images/" + ApiClient::Escape(o.name));
  if (existing)
    return Error::AlreadyExists("an image named \"" + o.name + "\" already exists (" +
                                (*existing)["id"].get<std::string>() + ")");
  if (existing.error().code() != ErrorCode::kNotFound) return std::move(existing).error();
  std::string query = "/v1/images/import?name=" + ApiClient::Escape(o.name) +
                      "&description=" + ApiClient::Escape(o.description) +
                      "&source=" + ApiClient::Escape(Basename(o.source));
  if (!o.ref.empty()) query += "&ref=" + ApiClient::Escape(o.ref);
  for (const auto& t : o.tags) {
    if (t.find('=') == std::string::npos)
      return Error::InvalidArgument("tag \"" + t + "\" must be KEY=VALUE");
    query += "&tag=" + ApiClient::Escape(t);
  }
  Result<nlohmann::json> res = Error::Internal("not run");
  if (o.source == "-") {
    res = UploadFd(cc, query, STDIN_FILENO, 0, "import");
  } else {
    struct stat st;
    if (::stat(o.source.c_str(), &st) != 0) return Error::Sys(errno, "source " + o.source);
    if (S_ISDIR(st.st_mode)) {
      res = UploadDir(cc, query, o.source);
    } else {
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(o.source, O_RDONLY));
      res = UploadFd(cc, query, fd.get(), static_cast<uint64_t>(st.st_size),
                     "import " + Basename(o.source));
    }
  }
  if (!res) return std::move(res).error().Context("import " + o.source);
  if (cc.json)
    PrintJson(*res);
  else
    std::cout << (*res)["id"].get<std::string>() << "\n";
  return Ok();
}

}  // namespace

void AddImageImport(CLI::App& image, CliContext& cc) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = image.add_subcommand(
      "import",
      "Import an image from a rootfs tarball (.tar, .tar.gz, .tar.zst), a directory tree, an OCI "
      "image layout (directory or tar) or a docker/podman save archive. Prints the new image id.");
  cmd->add_option("source", o->source, "File or directory to import, or - for stdin")->required();
  cmd->add_option("--name", o->name, "Name of the new image (unique)")->required();
  cmd->add_option("--description", o->description, "Free-text description");
  cmd->add_option("--ref", o->ref,
                  "Which image of an archive holding several (OCI ref name or docker tag)");
  cmd->add_option("--tag", o->tags, "Tag KEY=VALUE to set on the image (repeatable)");
  cmd->callback([&cc, o] { cc.action = [&cc, o] { return RunImport(cc, *o); }; });
}

}  // namespace kiln::cli
