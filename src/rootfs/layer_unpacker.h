// rootfs: unpacking an OCI layer into a directory that overlayfs can use as a lower dir.
//
// Every path is resolved beneath the destination with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), and every file is created with *at() calls relative to its parent's fd,
// so no entry can write outside the destination whatever the archive holds. OCI whiteouts become
// overlay whiteouts: ".wh.NAME" -> a 0:0 character device NAME, ".wh..wh..opq" -> the
// trusted.overlay.opaque="y" xattr on its directory. Owners, modes (incl. setuid/sticky), mtimes,
// xattrs, hardlinks, fifos and devices are kept.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"
#include "layer/byte_source.h"

namespace kiln {

struct UnpackStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t whiteouts = 0;
};

// Unpacks the tar stream (plain, gzip or zstd) into dest, which must be an existing directory.
Result<UnpackStats> UnpackLayer(ByteSource* in, const std::string& dest);
// The same for a plain tar (kiln cp): into an open directory, with ".wh." names taken literally.
Result<UnpackStats> UnpackTarAt(ByteSource* in, int dirfd);

}  // namespace kiln
