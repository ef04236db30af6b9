// context: trees kilnd no longer needs (an instance's files after terminate, the upper dir a
// snapshot restore replaced). They are renamed into <root>/trash at once and deleted by one
// background thread, so the request that discards them does not wait for thousands of unlinks.
// What a stop or a crash leaves in the trash is deleted after the next start.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/error.h"

namespace kiln {

class Trash {
 public:
  // Starts the worker; anything already in dir is queued for deletion.
  static Result<std::unique_ptr<Trash>> Open(const std::string& dir);
  ~Trash();  // stops the worker between two entries; the rest waits for the next start
  Trash(const Trash&) = delete;
  Trash& operator=(const Trash&) = delete;

  // Moves path (on the same file system as the trash) out of the way and queues it. A path
  // that is already gone is fine.
  Status Discard(const std::string& path);
  // Waits until everything queued so far is deleted (used by tests).
  void WaitEmpty();

 private:
  explicit Trash(std::string dir) : dir_(std::move(dir)) {}
  void Run();

  std::string dir_;
  std::mutex mu_;
  std::condition_variable wake_, empty_;
  std::deque<std::string> queue_;
  bool busy_ = false;
  std::atomic<bool> stop_{false};
  std::thread worker_;
};

}  // namespace kiln
