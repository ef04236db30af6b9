#include "cli/tar_streams.h"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "base/fs.h"

namespace kiln::cli {

Result<nlohmann::json> UploadProduced(CliContext& cc, const std::string& path,
                                      const std::function<Status(int fd)>& produce,
                                      Progress* progress) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::Sys(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  Status produced = Error::Internal("not run");
  std::thread producer([&] {
    produced = produce(wr.get());
    wr.reset();
  });
  bool producer_done = false;
  auto result = cc.api().Upload(
      path,
      [&](char* buf, size_t n) -> Result<size_t> {
        for (;;) {
          ssize_t r = ::read(rd.get(), buf, n);
          if (r < 0 && errno == EINTR) continue;
          if (r < 0) return Error::Sys(errno, "read stream");
          if (r == 0 && !producer_done) {
            producer.join();
            producer_done = true;
            if (!produced) return produced.error();
          }
          return static_cast<size_t>(r);
        }
      },
      0, progress);
  rd.reset();  // unblocks a producer still writing after an aborted upload
  if (!producer_done) producer.join();
  if (!result) return result;  // the daemon's answer explains more than our broken pipe
  if (!produced) return std::move(produced).error();
  return result;
}

Status DownloadConsumed(CliContext& cc, const std::string& path,
                        const std::function<Status(int fd)>& consume, Progress* progress) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::Sys(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  Status consumed;
  std::thread consumer([&] {
    consumed = consume(rd.get());
    rd.reset();
  });
  Status st = cc.api().Download(
      path, [&](const char* d, size_t n) { return WriteFull(wr.get(), d, n); }, progress);
  wr.reset();
  consumer.join();
  TRY(st);
  return consumed;
}

}  // namespace kiln::cli
