// base: a small leveled logger writing one line per event to stderr (journald picks it up).
#pragma once

#include <string_view>

namespace kiln {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view m) {
  Log(LogLevel::kInfo, m);
}
inline void LogWarn(std::string_view m) {
  Log(LogLevel::kWarn, m);
}
inline void LogError(std::string_view m) {
  Log(LogLevel::kError, m);
}
inline void LogDebug(std::string_view m) {
  Log(LogLevel::kDebug, m);
}

}  // namespace kiln
