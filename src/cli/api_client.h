// cli: the HTTP client side of the kiln API (libcurl over the daemon's unix socket).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace kiln::cli {

struct Progress;

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(const std::string& path);

  // Streams a request body from `read` (returns bytes written into buf, 0 at end, or an Error to
  // abort the upload). total_size may be 0 when unknown.
  using Reader = std::function<Result<size_t>(char* buf, size_t n)>;
  Result<nlohmann::json> Upload(const std::string& path, const Reader& read, uint64_t total_size,
                                Progress* progress);
  // Streams a response body into `write`. The estimate header, when the daemon sends one, feeds
  // the progress bar.
  using Writer = std::function<Status(const char* data, size_t n)>;
  Status Download(const std::string& path, const Writer& write, Progress* progress);

  // POST with a streamed body from `read` (chunked) and a streamed 200 response into `write`.
  Status Stream(const std::string& path, const Reader& read, const Writer& write);

  // POSTs a JSON body to a route that answers with JSON lines: each {"event": ...} line goes to
  // on_event, a final {"result": ...} is returned and a final {"error": ...} becomes the Error.
  using EventFn = std::function<void(const nlohmann::json& event)>;
  Result<nlohmann::json> PostEvents(const std::string& path, const nlohmann::json& body,
                                    const EventFn& on_event);

  static std::string Escape(const std::string& s);

 private:
  Result<nlohmann::json> Request(const std::string& method, const std::string& path,
                                 const std::string* body);
  Status Fetch(const std::string& path, const Reader* read, const Writer& write,
               Progress* progress);
  void* curl_;
  std::string socket_;
};

// Turns a daemon error response (status + {"error":{code,message}}) into an Error.
Error ErrorFromResponse(long status, const std::string& body);

}  // namespace kiln::cli
