#include "rootfs/overlay.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "base/fs.h"

namespace kiln {
namespace {
constexpr size_t kMaxMountOptions = 4000;  // a page, less room for the kernel's own
}  // namespace

Status MountOverlay(const std::vector<std::string>& lowers, const std::string& upper,
                    const std::string& work, const std::string& target) {
  if (lowers.empty()) return Error::InvalidArgument("overlay needs at least one lower dir");
  // Renames of lower dirs become copies instead of redirect xattrs, and no metadata-only copy-ups:
  // the upper dir then holds exactly what changed, in a form an OCI layer can carry.
  const std::string tail =
      ",upperdir=" + upper + ",workdir=" + work + ",redirect_dir=off,metacopy=off,index=off";
  auto options = [&](const std::vector<std::string>& dirs) {
    std::string o = "lowerdir=";
    for (size_t i = 0; i < dirs.size(); ++i) o += (i ? ":" : "") + dirs[i];
    return o + tail;
  };
  std::string opts = options(lowers);
  // One mount call takes a page of options. Deep stacks name their layers by short
  // /proc/self/fd/N paths of fds held open for the call, which fits a few hundred layers.
  std::vector<UniqueFd> held;
  if (opts.size() >= kMaxMountOptions) {
    std::vector<std::string> short_paths;
    for (const auto& l : lowers) {
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(l, O_PATH | O_DIRECTORY));
      short_paths.push_back("/proc/self/fd/" + std::to_string(fd.get()));
      held.push_back(std::move(fd));
    }
    opts = options(short_paths);
  }
  if (opts.size() >= kMaxMountOptions)
    return Error::Unsupported("image has too many layers (" + std::to_string(lowers.size()) +
                              ") for one overlay mount; create a flattened image");
  if (::mount("overlay", target.c_str(), "overlay", 0, opts.c_str()) != 0)
    return Error::Sys(errno,
                      "mount overlay (" + std::to_string(lowers.size()) + " layers) on " + target);
  return Ok();
}

Status Unmount(const std::string& target) {
  if (::umount2(target.c_str(), 0) == 0 || errno == EINVAL || errno == ENOENT) return Ok();
  if (errno == EBUSY && ::umount2(target.c_str(), MNT_DETACH) == 0) return Ok();
  return Error::Sys(errno, "unmount " + target);
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, mnt;
    in >> id >> parent >> devno >> root >> mnt;
    // mountinfo escapes spaces as \040; kiln's paths have none, but unescape for safety.
    for (size_t p; (p = mnt.find("\\040")) != std::string::npos;) mnt.replace(p, 4, " ");
    if (mnt == dir || mnt.starts_with(dir + "/")) out.push_back(mnt);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

bool IsMountPoint(const std::string& path) {
  for (const auto& m : MountsUnder(path))
    if (m == path) return true;
  return false;
}

}  // namespace kiln
