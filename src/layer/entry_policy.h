// layer: the rules a tar entry from outside must pass before kiln accepts it, so that later
// extraction cannot write outside its root (tar-slip, symlink-then-write, hardlinks out).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/error.h"

namespace kiln {

enum class EntryType { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo };

struct TarEntryInfo {
  std::string path;  // as found in the archive
  EntryType type = EntryType::kFile;
  std::string link_target;  // symlink or hardlink target
  unsigned dev_major = 0, dev_minor = 0;
};

// Normalizes an archive path: strips a leading "./" and trailing "/", collapses "//" and "/./".
// Rejects absolute paths, ".." components and empty names. "." (the root itself) is kept as "".
Result<std::string> NormalizeEntryPath(std::string_view path);

// Checks the entries of one archive in order. Remembers the symlinks it has seen so that a later
// entry written through one of them is refused, and the entries a hardlink may point at: a
// hardlink must name an earlier non-directory entry of the same archive (each layer is unpacked
// on its own, so a link into a lower layer could never be made; refusing it at import beats
// failing at the first launch).
class EntryPolicy {
 public:
  // Returns the normalized path, or InvalidArgument naming the entry and the rule it breaks.
  Result<std::string> Check(const TarEntryInfo& e);

 private:
  std::set<std::string> symlinks_;
  std::unordered_set<std::string> linkable_;
};

// Device nodes allowed in images: the harmless pseudo-devices every rootfs has in /dev
// (null, zero, full, random, urandom, tty, console, ptmx). Anything else (disks, memory) is
// refused: an instance must not get a raw host device from an image.
bool IsAllowedDevice(EntryType type, unsigned major, unsigned minor);

}  // namespace kiln
