// cli: uploads whose body a producer writes into a pipe (a tar of a directory, say), and downloads
// that a consumer reads from a pipe (an extractor), each on its own thread beside curl.
#pragma once

#include <functional>
#include <string>

#include "cli/cli_context.h"
#include "cli/progress.h"

namespace kiln::cli {

// produce(fd) writes the whole body to fd. A producer failure aborts the upload, so the daemon
// never takes a short stream for a complete one.
Result<nlohmann::json> UploadProduced(CliContext& cc, const std::string& path,
                                      const std::function<Status(int fd)>& produce,
                                      Progress* progress);
// consume(fd) reads the response body from fd until EOF.
Status DownloadConsumed(CliContext& cc, const std::string& path,
                        const std::function<Status(int fd)>& consume, Progress* progress);

}  // namespace kiln::cli
