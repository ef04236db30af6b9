#include "base/ids.h"

#include <sys/random.h>

#include <ctime>

namespace kiln {

std::string NewId(std::string_view prefix) {
  unsigned char bytes[9];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(prefix);
  for (int i = 0; i < 17; ++i) {
    unsigned char b = bytes[i / 2];
    id += kHex[(i % 2 == 0) ? (b >> 4) : (b & 15)];
  }
  return id;
}

bool IsId(std::string_view s, std::string_view prefix) {
  if (s.size() != prefix.size() + 17 || s.substr(0, prefix.size()) != prefix) return false;
  for (char c : s.substr(prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Status ValidateName(std::string_view name, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return Error::InvalidArgument("invalid " + std::string(what) + " name \"" + std::string(name) +
                                  "\": " + std::string(why));
  };
  if (name.empty()) return bad("must not be empty");
  if (name.size() > 128) return bad("longer than 128 characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return bad("must start with a letter or digit");
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return bad("only letters, digits, '.', '_' and '-' are allowed");
  for (std::string_view p : {"ami-", "i-", "snap-"})
    if (IsId(name, p)) return bad("looks like an id");
  return Ok();
}

std::string FormatTime(long long unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

long long NowSeconds() {
  return static_cast<long long>(std::time(nullptr));
}

}  // namespace kiln
