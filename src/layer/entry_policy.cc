#include "layer/entry_policy.h"

#include <vector>

namespace kiln {
namespace {

Error Refuse(std::string_view path, std::string_view why) {
  return Error::InvalidArgument("unsafe archive entry \"" + std::string(path) +
                                "\": " + std::string(why));
}

// Splits a relative path into components, resolving "." and refusing "..".
Result<std::vector<std::string_view>> Components(std::string_view p, std::string_view shown) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i, j - i);
    if (c == "..") return Refuse(shown, "path contains \"..\"");
    if (!c.empty() && c != ".") out.push_back(c);
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string_view>& parts) {
  std::string s;
  for (auto c : parts) {
    if (!s.empty()) s += '/';
    s += c;
  }
  return s;
}

}  // namespace

Result<std::string> NormalizeEntryPath(std::string_view path) {
  if (path.empty()) return Refuse(path, "empty name");
  if (path.front() == '/') return Refuse(path, "absolute path");
  if (path.find('\0') != std::string_view::npos) return Refuse(path, "NUL in name");
  ASSIGN_OR_RETURN(auto parts, Components(path, path));
  return Join(parts);
}

bool IsAllowedDevice(EntryType type, unsigned major, unsigned minor) {
  if (type != EntryType::kChar) return false;
  if (major == 1) return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9;
  if (major == 5) return minor == 0 || minor == 1 || minor == 2;
  return false;
}

Result<std::string> EntryPolicy::Check(const TarEntryInfo& e) {
  ASSIGN_OR_RETURN(std::string path, NormalizeEntryPath(e.path));
  if (path.empty() && e.type != EntryType::kDir)
    return Refuse(e.path, "the root must be a directory");

  // Written through a symlink this archive created earlier (symlink-then-write).
  for (size_t pos = path.find('/'); pos != std::string::npos; pos = path.find('/', pos + 1))
    if (symlinks_.count(path.substr(0, pos)))
      return Refuse(e.path, "parent \"" + path.substr(0, pos) + "\" is a symlink");

  std::string_view base = path;
  if (auto slash = path.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
  if (base.starts_with(".wh.") && (base == ".wh.." || base == ".wh..."))
    return Refuse(e.path, "whiteout of \".\" or \"..\"");

  switch (e.type) {
    case EntryType::kSymlink: {
      if (e.link_target.empty()) return Refuse(e.path, "symlink with an empty target");
      if (e.link_target.front() != '/') {
        // Relative targets resolve from the link's directory and must stay inside the root.
        // Absolute ones resolve against the image root when the instance runs, so they are fine.
        std::vector<std::string_view> dir;
        std::string_view d = path;
        while (!d.empty()) {
          size_t j = d.find('/');
          if (j == std::string_view::npos) break;
          dir.push_back(d.substr(0, j));
          d.remove_prefix(j + 1);
        }
        std::string_view t = e.link_target;
        size_t i = 0;
        while (i <= t.size()) {
          size_t j = t.find('/', i);
          if (j == std::string_view::npos) j = t.size();
          std::string_view c = t.substr(i, j - i);
          if (c == "..") {
            if (dir.empty())
              return Refuse(e.path,
                            "symlink target \"" + e.link_target + "\" points outside the root");
            dir.pop_back();
          } else if (!c.empty() && c != ".") {
            dir.push_back(c);
          }
          i = j + 1;
        }
      }
      symlinks_.insert(path);
      linkable_.erase(path);
      return path;
    }
    case EntryType::kHardlink: {
      auto target = NormalizeEntryPath(e.link_target);
      if (!target || target->empty())
        return Refuse(e.path, "hardlink target \"" + e.link_target + "\" points outside the root");
      const std::string& t = *target;
      for (size_t pos = t.find('/');; pos = t.find('/', pos + 1)) {
        if (symlinks_.count(pos == std::string::npos ? t : t.substr(0, pos)))
          return Refuse(e.path, "hardlink target \"" + e.link_target + "\" goes through a symlink");
        if (pos == std::string::npos) break;
      }
      if (!linkable_.count(t))
        return Refuse(e.path, "hardlink target \"" + e.link_target +
                                  "\" is not an earlier file of this layer");
      break;
    }
    case EntryType::kChar:
    case EntryType::kBlock:
      if (!IsAllowedDevice(e.type, e.dev_major, e.dev_minor))
        return Refuse(e.path, "device node " + std::to_string(e.dev_major) + ":" +
                                  std::to_string(e.dev_minor) + " is not allowed in images");
      break;
    default:
      break;
  }
  symlinks_.erase(path);  // a later entry replaces an earlier symlink of the same name
  if (e.type == EntryType::kDir)
    linkable_.erase(path);
  else
    linkable_.insert(path);
  return path;
}

}  // namespace kiln
