#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace kiln::cli {

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

Progress::Progress(std::string l, bool on)
    : label(std::move(l)),
      enabled(on && ::isatty(STDERR_FILENO)),
      start(std::chrono::steady_clock::now()),
      last(start) {}

Progress::~Progress() {
  Finish();
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn && now - last < std::chrono::milliseconds(100)) return;
  last = now;
  double secs = std::chrono::duration<double>(now - start).count();
  std::string rate = secs > 0.2 ? HumanBytes(static_cast<uint64_t>(done / secs)) + "/s" : "";
  if (total > 0 && done <= total) {
    int width = 30, filled = static_cast<int>(width * done / total);
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %3d%% %s / %s %s\033[K", label.c_str(), bar.c_str(),
                 static_cast<int>(100 * done / total), HumanBytes(done).c_str(),
                 HumanBytes(total).c_str(), rate.c_str());
  } else {
    std::fprintf(stderr, "\r%s %s %s\033[K", label.c_str(), HumanBytes(done).c_str(), rate.c_str());
  }
  drawn = true;
}

void Progress::Finish() {
  if (enabled && drawn) std::fprintf(stderr, "\r\033[K");
  drawn = false;
}

MultiProgress::MultiProgress(bool on) : enabled_(on && ::isatty(STDERR_FILENO)) {}

void MultiProgress::Update(const std::string& id, const std::string& status, uint64_t done,
                           uint64_t total) {
  if (!enabled_) return;
  bool changed = false;
  auto it = std::find_if(lines_.begin(), lines_.end(), [&](const Line& l) { return l.id == id; });
  if (it == lines_.end()) {
    lines_.push_back({id, status, done, total});
    changed = true;
  } else {
    changed = it->status != status;
    *it = {id, status, done, total};
  }
  auto now = std::chrono::steady_clock::now();
  if (!changed && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  Draw();
}

void MultiProgress::Draw() {
  if (drawn_ > 0) std::fprintf(stderr, "\033[%zuA", drawn_);
  for (const auto& l : lines_) {
    std::string bar;
    if (l.total > 0) {
      int width = 24, filled = static_cast<int>(width * std::min(l.done, l.total) / l.total);
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
            HumanBytes(l.done) + " / " + HumanBytes(l.total);
    }
    std::fprintf(stderr, "\r%s  %-12s %s\033[K\n", l.id.c_str(), l.status.c_str(), bar.c_str());
  }
  drawn_ = lines_.size();
}

void MultiProgress::Finish() {
  if (enabled_ && !lines_.empty()) Draw();
  lines_.clear();
  drawn_ = 0;
}

}  // namespace kiln::cli
