// layer: writing a directory tree as a tar stream (pax, with xattrs and hardlinks), in sorted
// order so the same tree always gives the same bytes apart from mtimes it carries.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "base/error.h"

namespace kiln {

struct TreeWriteStats {
  uint64_t entries = 0;
  uint64_t skipped_sockets = 0;
  uint64_t whiteouts = 0;
  uint64_t bytes = 0;  // file data written
};

struct TreeWriteOptions {
  // dir is an overlayfs upper dir: whiteouts (0:0 char devices) become ".wh.NAME" entries, opaque
  // dirs (trusted.overlay.opaque=y) get ".wh..wh..opq", and trusted.overlay.* xattrs are dropped.
  bool overlay_upper = false;
  // Relative paths left out with everything below them (e.g. instance-specific files).
  std::set<std::string> exclude;
};

using TarSink = std::function<Status(const void* data, size_t n)>;

// Writes the tree under dir (not following symlinks) as an uncompressed pax tar. Paths in the
// archive are relative to dir ("etc/passwd"); the root itself is not an entry. Owners are
// numeric only: names from the host's passwd would be wrong inside an image.
Result<TreeWriteStats> WriteTreeAsTar(const std::string& dir, const TarSink& sink,
                                      const TreeWriteOptions& options = {});
Result<TreeWriteStats> WriteTreeAsTar(const std::string& dir, int fd);
// One entry of dir (a file, link, or a directory with everything below it), named `name` in the
// archive: what kiln cp sends.
Result<TreeWriteStats> WriteEntryAsTar(const std::string& dir, const std::string& name,
                                       const TarSink& sink);

// Extracts a tar of plain directories and regular files (an OCI image layout) into dir, which
// must exist. Anything else, or any unsafe path, is refused.
Status ExtractPlainTree(int in_fd, const std::string& dir);

}  // namespace kiln
