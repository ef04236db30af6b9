// registry: a client of one registry's OCI distribution API (/v2/), over libcurl.
//
// It finds out the scheme (https; loopback registries fall back to plain http), answers the
// registry's auth challenges (Basic, or Bearer tokens from the realm it names, cached per
// scope), retries transient failures (connection errors, 5xx, 429) with backoff, and maps the
// registry's answers to kiln errors: 401/403 -> PermissionDenied, 404 -> NotFound.
// Safe to use from several threads at once: each request takes its own curl handle from a pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "registry/auth.h"

namespace kiln::registry {

struct TransportOptions {
  bool tls_verify = true;
  std::string ca_pem;       // extra trusted CA certificates (PEM) for a private registry
  bool plain_http = false;  // use http:// (loopback registries fall back to it on their own)
};

using Sink = std::function<Status(const char* data, size_t n)>;
using ProgressFn = std::function<void(uint64_t done)>;

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                            // empty when the request streamed to a sink
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct FetchedManifest {
  std::string media_type;
  std::string digest;  // of the bytes, checked against what the registry and the ref say
  std::string bytes;
};

class Client {
 public:
  Client(std::string host, Credentials creds, TransportOptions opts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // GET /v2/: settles the scheme and learns how the registry authenticates.
  Status Ping();
  // Checks that the credentials are accepted (a token is issued, or /v2/ answers 200).
  Status Login();

  Result<FetchedManifest> GetManifest(const std::string& repo, const std::string& ref);
  Status PutManifest(const std::string& repo, const std::string& ref, const std::string& media_type,
                     const std::string& bytes);
  // Whether the repository has the blob (HEAD).
  Result<bool> BlobExists(const std::string& repo, const std::string& digest);
  // Streams the blob from byte `offset` into sink. Returns false when the registry ignored the
  // range and is sending from byte 0 (nothing was written; ask again from 0).
  Result<bool> GetBlob(const std::string& repo, const std::string& digest, uint64_t offset,
                       const Sink& sink);
  // Asks the registry to link a blob another repository has (cross-repository mount).
  // True when mounted; false when the registry wants it uploaded instead.
  Result<bool> MountBlob(const std::string& repo, const std::string& digest,
                         const std::string& from_repo);
  // Uploads size bytes of fd from offset 0 as blob `digest`: one PUT for small blobs, PATCH
  // chunks for large ones. Retries from the start of the failed chunk's session.
  Status UploadBlob(const std::string& repo, const std::string& digest, int fd, uint64_t size,
                    const ProgressFn& progress);

  const std::string& host() const { return host_; }
  void set_chunk_size(uint64_t n) { chunk_size_ = n; }

 private:
  struct Body {
    const std::string* bytes = nullptr;
    int fd = -1;
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  struct Request {
    std::string method = "GET";
    std::string url;  // absolute, or a path below the registry's base
    std::string repo;
    bool push = false;  // the scope needs push access
    std::vector<std::string> headers;
    Body body;
    const Sink* sink = nullptr;  // stream the body of a 2xx response here
    ProgressFn progress;         // upload progress
  };

  Result<Response> Send(const Request& req);
  Result<Response> Perform(const Request& req, const std::string& auth_header);
  Result<std::string> AuthHeader(const std::string& scope, bool refresh);
  Result<std::string> FetchToken(const std::string& scope);
  Status ApplyChallenge(const std::string& header);
  std::string Url(const std::string& path_or_url) const;
  Error ResponseError(const Response& r, const std::string& what) const;
  void* AcquireHandle();
  void ReleaseHandle(void* h);

  std::string host_;
  Credentials creds_;
  TransportOptions opts_;
  uint64_t chunk_size_ = 32 << 20;

  std::mutex mu_;
  std::string scheme_;  // "https" or "http", set by Ping
  std::string auth_scheme_;
  std::map<std::string, std::string> challenge_params_;
  std::map<std::string, std::string> tokens_;  // scope -> bearer token
  std::vector<void*> handles_;
};

}  // namespace kiln::registry
