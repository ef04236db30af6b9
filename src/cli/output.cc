#include <cstdio>
#include <ctime>
#include <iostream>

#include "cli/cli_context.h"

namespace kiln::cli {

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2) << "\n";
}

std::string Age(const std::string& t) {
  struct tm tm = {};
  if (strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return t;
  long long secs = static_cast<long long>(std::time(nullptr) - timegm(&tm));
  if (secs < 0) secs = 0;
  auto fmt = [](long long n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  if (secs < 60) return fmt(secs, "second");
  if (secs < 3600) return fmt(secs / 60, "minute");
  if (secs < 86400) return fmt(secs / 3600, "hour");
  return fmt(secs / 86400, "day");
}

}  // namespace kiln::cli
