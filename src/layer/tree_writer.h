// layer: writing a directory tree as a tar stream (pax, with xattrs and hardlinks), in sorted
// order so the same tree always gives the same bytes apart from mtimes it carries.
#pragma once

#include <functional>
#include <string>

#include "base/error.h"

namespace kiln {

struct TreeWriteStats {
  uint64_t entries = 0;
  uint64_t skipped_sockets = 0;
};

// Writes the tree under dir (not following symlinks) to fd as an uncompressed tar. Paths in the
// archive are relative to dir ("etc/passwd"); the root itself is not an entry.
Result<TreeWriteStats> WriteTreeAsTar(const std::string& dir, int fd);

// Extracts a tar of plain directories and regular files (an OCI image layout) into dir, which
// must exist. Anything else, or any unsafe path, is refused.
Status ExtractPlainTree(int in_fd, const std::string& dir);

}  // namespace kiln
