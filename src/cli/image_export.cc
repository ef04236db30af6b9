// kiln image export IMAGE -o FILE.tar | --format dir -o DIR: an OCI image layout.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "base/fs.h"
#include "cli/cli_context.h"
#include "cli/progress.h"
#include "cli/tar_streams.h"
#include "layer/tree_writer.h"

namespace kiln::cli {
namespace {

struct ExportOptions {
  std::string image, output, format = "tar", ref;
};

Status ExportToFile(CliContext& cc, const std::string& path, const ExportOptions& o) {
  // Write next to the target and rename at the end: a failed export leaves no partial file.
  std::string tmp = o.output + ".kiln-partial";
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  Progress progress("export " + o.image, !cc.quiet);
  Status st = cc.api().Download(
      path, [&](const char* d, size_t n) { return WriteFull(fd.get(), d, n); }, &progress);
  if (st) st = FsyncFd(fd.get(), tmp);
  if (st && ::rename(tmp.c_str(), o.output.c_str()) != 0)
    st = Error::Sys(errno, "rename to " + o.output);
  if (!st) ::unlink(tmp.c_str());
  return st;
}

Status ExportToDir(CliContext& cc, const std::string& path, const ExportOptions& o) {
  if (auto exists = Exists(o.output); exists && *exists) {
    ASSIGN_OR_RETURN(auto entries, ListDir(o.output));
    if (!entries.empty()) return Error::AlreadyExists("directory " + o.output + " is not empty");
  }
  TRY(MakeDirs(o.output, 0755));
  Progress progress("export " + o.image, !cc.quiet);
  return DownloadConsumed(
      cc, path, [&](int fd) { return ExtractPlainTree(fd, o.output); }, &progress);
}

Status RunExport(CliContext& cc, const ExportOptions& o) {
  std::string path = "/v1/images/" + ApiClient::Escape(o.image) + "/export";
  if (!o.ref.empty()) path += "?ref=" + ApiClient::Escape(o.ref);
  Status st = o.format == "dir" ? ExportToDir(cc, path, o) : ExportToFile(cc, path, o);
  if (!st) return std::move(st).error().Context("export " + o.image);
  if (!cc.quiet && !cc.json) std::cerr << "exported " << o.image << " to " << o.output << "\n";
  if (cc.json) PrintJson({{"image", o.image}, {"output", o.output}, {"format", o.format}});
  return Ok();
}

}  // namespace

void AddImageExport(CLI::App& image, CliContext& cc) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = image.add_subcommand(
      "export",
      "Write an image as an OCI image layout: a tar file (default) or a directory. "
      "skopeo, umoci and podman read it (oci-archive:FILE or oci:DIR:REF).");
  cmd->add_option("image", o->image, "Image name or id")->required();
  cmd->add_option("-o,--output", o->output, "Output file (tar) or directory (dir)")->required();
  cmd->add_option("--format", o->format, "tar or dir")
      ->check(CLI::IsMember({"tar", "dir"}))
      ->capture_default_str();
  cmd->add_option("--ref", o->ref, "Ref name inside the layout (default: the image name)");
  cmd->callback([&cc, o] { cc.action = [&cc, o] { return RunExport(cc, *o); }; });
}

}  // namespace kiln::cli
