#include "context/trash.h"

#include <errno.h>
#include <stdio.h>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"

namespace kiln {

Result<std::unique_ptr<Trash>> Trash::Open(const std::string& dir) {
  TRY(MakeDirs(dir, 0700));
  std::unique_ptr<Trash> t(new Trash(dir));
  ASSIGN_OR_RETURN(auto leftovers, ListDir(dir));
  for (const auto& name : leftovers) t->queue_.push_back(JoinPath(dir, name));
  if (!leftovers.empty())
    LogInfo("trash: deleting " + std::to_string(leftovers.size()) +
            " tree(s) an earlier kilnd left behind");
  t->worker_ = std::thread([p = t.get()] { p->Run(); });
  return t;
}

Trash::~Trash() {
  stop_ = true;
  {
    std::lock_guard lock(mu_);
    wake_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

Status Trash::Discard(const std::string& path) {
  std::string target = JoinPath(dir_, NewId("t-"));
  if (::rename(path.c_str(), target.c_str()) != 0) {
    if (errno == ENOENT) return Ok();
    if (errno != EXDEV) return Error::Sys(errno, "move " + path + " to the trash");
    return RemoveAll(path);  // another file system: delete it here and now
  }
  std::lock_guard lock(mu_);
  queue_.push_back(target);
  wake_.notify_all();
  return Ok();
}

void Trash::WaitEmpty() {
  std::unique_lock lock(mu_);
  empty_.wait(lock, [&] { return (queue_.empty() && !busy_) || stop_; });
}

void Trash::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return !queue_.empty() || stop_; });
    if (stop_) break;
    std::string path = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status st = RemoveAllUnless(path, stop_);
    if (!st && !stop_) LogWarn("trash: " + st.error().message());
    lock.lock();
    busy_ = false;
    if (queue_.empty()) empty_.notify_all();
  }
  empty_.notify_all();
}

}  // namespace kiln
