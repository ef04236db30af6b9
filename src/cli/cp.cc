// kiln cp SRC DEST: copy files and directories between the host and a running instance, keeping
// modes, owners and links. One side is INSTANCE:PATH. Paths inside the instance resolve as they
// would inside it: a symlink there never leads out of its root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

#include "base/fs.h"
#include "base/ids.h"
#include "cli/cli_context.h"
#include "cli/tar_streams.h"
#include "layer/tree_writer.h"
#include "rootfs/layer_unpacker.h"

namespace kiln::cli {
namespace {

struct Endpoint {
  std::string instance;  // empty: the host
  std::string path;
};

Endpoint Parse(const std::string& arg) {
  auto colon = arg.find(':');
  if (colon == std::string::npos || arg.front() == '/' || arg.front() == '.') return {"", arg};
  std::string who = arg.substr(0, colon);
  if (!ValidateName(who, "instance") && !IsId(who, "i-")) return {"", arg};
  return {who, arg.substr(colon + 1)};
}

std::string Trim(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

Status CopyIn(CliContext& cc, const std::string& src, const Endpoint& dst) {
  std::string s = Trim(src);
  TRY_CTX(Lstat(s), "source");
  std::string name = Basename(s);
  std::string path = "/v1/instances/" + ApiClient::Escape(dst.instance) +
                     "/files?path=" + ApiClient::Escape(dst.path.empty() ? "/" : dst.path) +
                     "&name=" + ApiClient::Escape(name);
  auto res = UploadProduced(
      cc, path,
      [&](int fd) -> Status {
        auto w = WriteEntryAsTar(Dirname(s), name,
                                 [fd](const void* d, size_t n) { return WriteFull(fd, d, n); });
        if (!w) return std::move(w).error().Context("read " + s);
        return Ok();
      },
      nullptr);
  if (!res) return std::move(res).error();
  return Ok();
}

Status CopyOut(CliContext& cc, const Endpoint& src, const std::string& dst) {
  std::string from = Trim(src.path);
  std::string name = Basename(from);
  std::string path =
      "/v1/instances/" + ApiClient::Escape(src.instance) + "/files?path=" + ApiClient::Escape(from);
  std::string dest = Trim(dst);
  auto unpack_into = [&](int dirfd) {
    return DownloadConsumed(
        cc, path,
        [dirfd](int fd) -> Status {
          FdSource in(fd);
          auto r = UnpackTarAt(&in, dirfd);
          if (!r) return std::move(r).error();
          return Ok();
        },
        nullptr);
  };
  struct stat st;
  if (::stat(dest.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(dest, O_RDONLY | O_DIRECTORY));
    return unpack_into(dir.get());
  }
  // dest names the copy itself: unpack beside it, then rename into place.
  ASSIGN_OR_RETURN(TempDir tmp, TempDir::Make(Dirname(dest), ".kiln-cp-"));
  ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(tmp.path(), O_RDONLY | O_DIRECTORY));
  TRY(unpack_into(dir.get()));
  if (::rename(JoinPath(tmp.path(), name).c_str(), dest.c_str()) != 0)
    return Error::Sys(errno, "place " + dest);
  return Ok();
}

}  // namespace

void AddCp(CLI::App& app, CliContext& cc) {
  struct Opts {
    std::string src, dst;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "cp", "Copy files or directories between the host and a running instance (INSTANCE:PATH)");
  cmd->add_option("source", o->src, "HOSTPATH or INSTANCE:PATH")->required();
  cmd->add_option("destination", o->dst, "INSTANCE:PATH or HOSTPATH")->required();
  cmd->callback([&cc, o] {
    cc.action = [&cc, o]() -> Status {
      Endpoint s = Parse(o->src), d = Parse(o->dst);
      if (s.instance.empty() == d.instance.empty())
        return Error::InvalidArgument(
            "one side of kiln cp must be INSTANCE:PATH and the other a host path");
      Status st = d.instance.empty() ? CopyOut(cc, s, o->dst) : CopyIn(cc, o->src, d);
      if (!st) return std::move(st).error().Context("cp " + o->src + " " + o->dst);
      return Ok();
    };
  });
}

}  // namespace kiln::cli
