// rootfs: overlay mounts of an image's unpacked layers with a private upper dir.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace kiln {

// lowers: top layer first (overlayfs order). Unsupported when the option string would exceed
// what one mount call takes (the layer stack is too deep: flatten the image).
Status MountOverlay(const std::vector<std::string>& lowers, const std::string& upper,
                    const std::string& work, const std::string& target);
// Unmounts target; a target that is not mounted is fine.
Status Unmount(const std::string& target);
bool IsMountPoint(const std::string& path);
// Mount points at or below dir, from /proc/self/mountinfo, deepest first.
std::vector<std::string> MountsUnder(const std::string& dir);

}  // namespace kiln
