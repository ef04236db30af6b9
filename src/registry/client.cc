#include "registry/client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sha256.h"
#include "registry/reference.h"

namespace kiln::registry {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxBufferedBody = 4 << 20;  // manifests, tokens and error documents are small
constexpr int kAttempts = 4;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The state one transfer's callbacks share.
struct Transfer {
  const Sink* sink = nullptr;
  uint64_t range_from = 0;
  bool range_ignored = false;
  Response* res = nullptr;
  Status sink_status;
  // request body
  const std::string* bytes = nullptr;
  int fd = -1;
  uint64_t offset = 0, size = 0, sent = 0;
  int read_errno = 0;
  const ProgressFn* progress = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100 Continue)
    t->res->headers.clear();
    auto sp = line.find(' ');
    t->res->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos)
    t->res->headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  return size * n;
}

size_t OnWrite(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  long status = t->res->status;
  if (t->sink && status >= 200 && status < 300) {
    if (t->range_from > 0 && status != 206) {
      t->range_ignored = true;
      return 0;  // abort: the caller asks again from byte 0
    }
    t->sink_status = (*t->sink)(data, len);
    return t->sink_status ? len : 0;
  }
  if (t->res->body.size() + len > kMaxBufferedBody) return 0;
  t->res->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t want = std::min<uint64_t>(size * n, t->size - t->sent);
  if (want == 0) return 0;
  if (t->bytes) {
    std::memcpy(buf, t->bytes->data() + t->sent, want);
  } else {
    ssize_t got = ::pread(t->fd, buf, want, static_cast<off_t>(t->offset + t->sent));
    if (got <= 0) {
      t->read_errno = got < 0 ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    want = static_cast<size_t>(got);
  }
  t->sent += want;
  return want;
}

int OnProgress(void* p, curl_off_t, curl_off_t, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(p);
  if (t->progress && *t->progress) (*t->progress)(t->offset + static_cast<uint64_t>(ulnow));
  return 0;
}

bool IsTransient(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool IsTlsFailure(CURLcode rc) {
  return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
         rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE;
}

void Backoff(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
}

std::string MediaTypeOf(const std::string& content_type) {
  return Trim(content_type.substr(0, content_type.find(';')));
}

// Marks an Error as worth retrying: transport failures and 5xx/429 answers.
constexpr std::string_view kTransientTag = "(transient) ";

}  // namespace

Client::Client(std::string host, Credentials creds, TransportOptions opts)
    : host_(std::move(host)), creds_(std::move(creds)), opts_(std::move(opts)) {}

Client::~Client() {
  for (void* h : handles_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* Client::AcquireHandle() {
  {
    std::lock_guard lock(mu_);
    if (!handles_.empty()) {
      void* h = handles_.back();
      handles_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void Client::ReleaseHandle(void* h) {
  std::lock_guard lock(mu_);
  handles_.push_back(h);
}

std::string Client::Url(const std::string& path_or_url) const {
  if (path_or_url.starts_with("http://") || path_or_url.starts_with("https://")) return path_or_url;
  return scheme_ + "://" + host_ + path_or_url;
}

Result<Response> Client::Perform(const Request& req, const std::string& auth_header) {
  CURL* c = static_cast<CURL*>(AcquireHandle());
  if (!c) return Error::Internal("curl_easy_init failed");
  curl_easy_reset(c);
  Response res;
  Transfer t;
  t.sink = req.sink;
  t.res = &res;
  t.progress = &req.progress;
  std::string url = Url(req.url);
  for (const auto& h : req.headers)
    if (h.starts_with("Range: bytes=")) t.range_from = std::stoull(h.substr(13));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, opts_.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, opts_.tls_verify ? 2L : 0L);
  curl_blob ca{};
  if (!opts_.ca_pem.empty()) {
    ca.data = const_cast<char*>(opts_.ca_pem.data());
    ca.len = opts_.ca_pem.size();
    ca.flags = CURL_BLOB_NOCOPY;
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  // Uploads answer with a Location to use next, so only reads follow redirects (blob GETs are
  // often redirected to object storage; curl drops the Authorization header on a host change).
  bool read_only = req.method == "GET" || req.method == "HEAD";
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, read_only ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);

  bool has_body = req.body.bytes || req.body.fd >= 0;
  if (has_body) {
    t.bytes = req.body.bytes;
    t.fd = req.body.fd;
    t.offset = req.body.offset;
    t.size = req.body.bytes ? req.body.bytes->size() : req.body.size;
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.size));
    if (!has_body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  } else if (req.method == "PUT" || req.method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.size));
    if (!has_body) {
      curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(c, CURLOPT_READDATA, &t);
    }
    if (req.method == "PATCH") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  if (!auth_header.empty()) headers = curl_slist_append(headers, auth_header.c_str());
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  ReleaseHandle(c);

  if (rc == CURLE_WRITE_ERROR && t.range_ignored) {
    res.status = 200;
    res.headers["x-kiln-range-ignored"] = "1";
    return res;
  }
  if (rc == CURLE_WRITE_ERROR && !t.sink_status) return std::move(t.sink_status).error();
  if (rc == CURLE_ABORTED_BY_CALLBACK && t.read_errno)
    return Error::Sys(t.read_errno, "read upload body");
  if (rc != CURLE_OK) {
    std::string what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    std::string msg = "registry " + host_ + ": " + req.method + " " + url + ": " + what;
    if (IsTlsFailure(rc))
      msg += " (for a private CA pass --ca-file; --tls-verify=false skips the check)";
    Error e(ErrorCode::kIO, IsTransient(rc) ? std::string(kTransientTag) + msg : msg);
    return e;
  }
  return res;
}

Error Client::ResponseError(const Response& r, const std::string& what) const {
  std::string detail;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() &&
      j["errors"][0].is_object()) {
    const json& e = j["errors"][0];
    if (e.contains("message") && e["message"].is_string()) detail = e["message"];
    if (e.contains("code") && e["code"].is_string())
      detail = e["code"].get<std::string>() + (detail.empty() ? "" : ": " + detail);
  }
  std::string msg = "registry " + host_ + ": " + what + ": HTTP " + std::to_string(r.status) +
                    (detail.empty() ? "" : " (" + detail + ")");
  if (r.status == 401)
    return Error::PermissionDenied(
        msg + (creds_.empty() ? "; log in first: kiln login " + host_
                              : "; the registry did not accept the credentials for \"" +
                                    creds_.username + "\""));
  if (r.status == 403) return Error::PermissionDenied(msg + "; access denied");
  if (r.status == 404) return Error::NotFound(msg);
  if (r.status == 400) return Error::InvalidArgument(msg);
  return Error(ErrorCode::kIO, msg);
}

Status Client::ApplyChallenge(const std::string& header) {
  if (header.empty())
    return Error::PermissionDenied("registry " + host_ +
                                   " answered 401 without saying how to authenticate");
  ASSIGN_OR_RETURN(auto challenges, ParseChallenges(header));
  std::lock_guard lock(mu_);
  for (const auto& c : challenges)
    if (c.scheme == "bearer") {
      auth_scheme_ = "bearer";
      challenge_params_ = c.params;
      return Ok();
    }
  for (const auto& c : challenges)
    if (c.scheme == "basic") {
      auth_scheme_ = "basic";
      challenge_params_ = c.params;
      return Ok();
    }
  return Error::Unsupported("registry " + host_ +
                            " asks for an unsupported auth scheme: " + challenges.front().scheme);
}

Result<std::string> Client::FetchToken(const std::string& scope) {
  std::string realm, service;
  {
    std::lock_guard lock(mu_);
    realm = challenge_params_["realm"];
    service = challenge_params_["service"];
  }
  if (!realm.starts_with("https://") && !realm.starts_with("http://"))
    return Error::InvalidArgument("registry " + host_ + " names a bad token realm \"" + realm +
                                  "\"");
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  std::vector<std::string> params;
  if (!service.empty()) params.push_back("service=" + Escape(service));
  for (size_t i = 0; i < scope.size();) {
    size_t j = scope.find(' ', i);
    if (j == std::string::npos) j = scope.size();
    if (j > i) params.push_back("scope=" + Escape(scope.substr(i, j - i)));
    i = j + 1;
  }
  for (size_t i = 0; i < params.size(); ++i) url += (i ? "&" : "") + params[i];
  Request req;
  req.url = url;
  std::string auth;
  if (!creds_.empty())
    auth = "Authorization: Basic " + Base64Encode(creds_.username + ":" + creds_.password);
  Result<Response> r = Error::Internal("no attempt");
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    r = Perform(req, auth);
    bool transient = (!r && r.error().message().starts_with(kTransientTag)) ||
                     (r && (r->status >= 500 || r->status == 429));
    if (!transient || attempt + 1 == kAttempts) break;
    Backoff(attempt);
  }
  if (!r) return std::move(r).error().Context("get a token");
  if (r->status == 401 || r->status == 403)
    return Error::PermissionDenied(
        "registry " + host_ + ": the token service refused " +
        (creds_.empty() ? std::string("anonymous access; log in first: kiln login ") + host_
                        : "the credentials for \"" + creds_.username + "\""));
  if (r->status != 200) return ResponseError(*r, "get a token");
  json j = json::parse(r->body, nullptr, false);
  std::string token;
  if (j.is_object() && j.contains("token") && j["token"].is_string()) token = j["token"];
  if (token.empty() && j.is_object() && j.contains("access_token") && j["access_token"].is_string())
    token = j["access_token"];
  if (token.empty())
    return Error::InvalidArgument("registry " + host_ + ": the token service sent no token");
  return token;
}

Result<std::string> Client::AuthHeader(const std::string& scope, bool refresh) {
  std::string scheme;
  {
    std::lock_guard lock(mu_);
    scheme = auth_scheme_;
    if (scheme == "bearer" && !refresh) {
      auto it = tokens_.find(scope);
      if (it != tokens_.end()) return "Authorization: Bearer " + it->second;
    }
  }
  if (scheme == "basic")
    return creds_.empty()
               ? std::string()
               : "Authorization: Basic " + Base64Encode(creds_.username + ":" + creds_.password);
  if (scheme != "bearer") return std::string();
  ASSIGN_OR_RETURN(std::string token, FetchToken(scope));
  std::lock_guard lock(mu_);
  tokens_[scope] = token;
  return "Authorization: Bearer " + token;
}

Result<Response> Client::Send(const Request& req) {
  std::string scope;
  if (!req.repo.empty()) scope = "repository:" + req.repo + (req.push ? ":pull,push" : ":pull");
  for (const auto& h : req.headers)
    if (h.starts_with("X-Kiln-Extra-Scope: ")) scope += " " + h.substr(20);
  bool challenged = false;
  for (int attempt = 0;;) {
    ASSIGN_OR_RETURN(std::string auth, AuthHeader(scope, false));
    auto r = Perform(req, auth);
    if (!r) {
      bool transient = r.error().message().starts_with(kTransientTag);
      if (!transient || req.sink || ++attempt == kAttempts) {
        Error e = std::move(r).error();
        if (transient)
          return Error(e.code(), e.message().substr(kTransientTag.size()), e.sys_errno());
        return e;
      }
      LogWarn(r.error().message().substr(kTransientTag.size()) + "; retrying");
      Backoff(attempt - 1);
      continue;
    }
    if (r->status == 401 && !challenged) {
      challenged = true;
      TRY(ApplyChallenge(r->Header("www-authenticate")));
      std::lock_guard lock(mu_);
      tokens_.erase(scope);
      continue;
    }
    if ((r->status >= 500 || r->status == 429) && ++attempt < kAttempts) {
      LogWarn("registry " + host_ + ": " + req.method + " " + req.url + ": HTTP " +
              std::to_string(r->status) + "; retrying");
      Backoff(attempt - 1);
      continue;
    }
    return r;
  }
}

Status Client::Ping() {
  {
    std::lock_guard lock(mu_);
    if (!scheme_.empty()) return Ok();
  }
  Reference host_ref;
  host_ref.registry = host_;
  scheme_ = opts_.plain_http ? "http" : "https";
  Request req;
  req.url = "/v2/";
  auto r = Perform(req, "");
  if (!r && !opts_.plain_http && host_ref.IsLoopback()) {
    // A loopback registry without TLS; if plain HTTP does not answer as a registry either, the
    // TLS failure is the one worth reporting.
    scheme_ = "http";
    auto plain = Perform(req, "");
    if (plain && (plain->status == 200 || plain->status == 401))
      r = std::move(plain);
    else
      scheme_ = "https";
  }
  if (!r) {
    Error e = std::move(r).error();
    std::string m = e.message();
    if (m.starts_with(kTransientTag)) m = m.substr(kTransientTag.size());
    scheme_.clear();
    return Error(e.code(), "cannot reach " + m);
  }
  if (r->status == 401) return ApplyChallenge(r->Header("www-authenticate"));
  if (r->status != 200)
    return Error::InvalidArgument("registry " + host_ +
                                  " does not answer as an OCI registry (GET " + Url("/v2/") +
                                  ": HTTP " + std::to_string(r->status) + ")");
  return Ok();
}

Status Client::Login() {
  TRY(Ping());
  std::string scheme;
  {
    std::lock_guard lock(mu_);
    scheme = auth_scheme_;
  }
  if (scheme == "bearer") {
    auto token = FetchToken("");
    if (!token) return std::move(token).error();
    return Ok();
  }
  Request req;
  req.url = "/v2/";
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (r.status == 200) return Ok();
  return ResponseError(r, "log in");
}

Result<FetchedManifest> Client::GetManifest(const std::string& repo, const std::string& ref) {
  TRY(Ping());
  Request req;
  req.url = "/v2/" + repo + "/manifests/" + ref;
  req.repo = repo;
  req.headers = {
      "Accept: application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.oci.image.index.v1+json, "
      "application/vnd.docker.distribution.manifest.v2+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json"};
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (r.status != 200) return ResponseError(r, "get manifest " + repo + ":" + ref);
  FetchedManifest m;
  m.bytes = std::move(r.body);
  m.digest = DigestOf(m.bytes);
  m.media_type = MediaTypeOf(r.Header("content-type"));
  json j = json::parse(m.bytes, nullptr, false);
  if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string())
    m.media_type = j["mediaType"];
  if (ref.starts_with("sha256:") && ref != m.digest)
    return Error::Corruption("registry " + host_ + " sent a manifest for " + ref +
                             " whose content hashes to " + m.digest);
  std::string said = r.Header("docker-content-digest");
  if (!said.empty() && said.starts_with("sha256:") && said != m.digest)
    return Error::Corruption("registry " + host_ + " says manifest " + repo + ":" + ref + " is " +
                             said + " but its content hashes to " + m.digest);
  return m;
}

Status Client::PutManifest(const std::string& repo, const std::string& ref,
                           const std::string& media_type, const std::string& bytes) {
  TRY(Ping());
  Request req;
  req.method = "PUT";
  req.url = "/v2/" + repo + "/manifests/" + ref;
  req.repo = repo;
  req.push = true;
  req.headers = {"Content-Type: " + media_type};
  req.body.bytes = &bytes;
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (r.status != 201 && r.status != 200 && r.status != 202)
    return ResponseError(r, "put manifest " + repo + ":" + ref);
  return Ok();
}

Result<bool> Client::BlobExists(const std::string& repo, const std::string& digest) {
  TRY(Ping());
  Request req;
  req.method = "HEAD";
  req.url = "/v2/" + repo + "/blobs/" + digest;
  req.repo = repo;
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return ResponseError(r, "check blob " + digest);
}

Result<bool> Client::GetBlob(const std::string& repo, const std::string& digest, uint64_t offset,
                             const Sink& sink) {
  TRY(Ping());
  Request req;
  req.url = "/v2/" + repo + "/blobs/" + digest;
  req.repo = repo;
  req.sink = &sink;
  if (offset > 0) req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-");
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (!r.Header("x-kiln-range-ignored").empty()) return false;
  if (r.status == 200 || r.status == 206) return true;
  if (r.status == 416 && offset > 0) return false;  // our partial copy is longer than the blob
  return ResponseError(r, "get blob " + digest);
}

Result<bool> Client::MountBlob(const std::string& repo, const std::string& digest,
                               const std::string& from_repo) {
  TRY(Ping());
  Request req;
  req.method = "POST";
  req.url =
      "/v2/" + repo + "/blobs/uploads/?mount=" + Escape(digest) + "&from=" + Escape(from_repo);
  req.repo = repo;
  req.push = true;
  req.headers = {"X-Kiln-Extra-Scope: repository:" + from_repo + ":pull"};
  ASSIGN_OR_RETURN(Response r, Send(req));
  if (r.status == 201) return true;
  if (r.status == 202) return false;  // the registry opened an upload instead; it expires
  return ResponseError(r, "mount blob " + digest + " from " + from_repo);
}

Status Client::UploadBlob(const std::string& repo, const std::string& digest, int fd, uint64_t size,
                          const ProgressFn& progress) {
  TRY(Ping());
  auto with_digest = [&](const std::string& location) {
    return location + (location.find('?') == std::string::npos ? "?" : "&") +
           "digest=" + Escape(digest);
  };
  auto absolute = [&](const std::string& location) {
    if (location.starts_with("http://") || location.starts_with("https://")) return location;
    return Url(location.starts_with("/") ? location : "/" + location);
  };
  Status last = Ok();
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      LogWarn("registry " + host_ + ": upload of " + digest + " failed (" + last.error().message() +
              "); starting it again");
      Backoff(attempt);
    }
    last = [&]() -> Status {
      Request start;
      start.method = "POST";
      start.url = "/v2/" + repo + "/blobs/uploads/";
      start.repo = repo;
      start.push = true;
      ASSIGN_OR_RETURN(Response r, Send(start));
      if (r.status != 202) return ResponseError(r, "start upload of " + digest);
      std::string location = r.Header("location");
      if (location.empty())
        return Error(ErrorCode::kIO, "registry " + host_ + " opened an upload without a Location");
      location = absolute(location);
      Request put;
      put.method = "PUT";
      put.repo = repo;
      put.push = true;
      put.progress = progress;
      if (size <= chunk_size_) {  // monolithic: the whole blob in the closing PUT
        put.url = with_digest(location);
        put.headers = {"Content-Type: application/octet-stream"};
        put.body = {nullptr, fd, 0, size};
      } else {
        for (uint64_t off = 0; off < size;) {
          uint64_t n = std::min(chunk_size_, size - off);
          Request patch;
          patch.method = "PATCH";
          patch.url = location;
          patch.repo = repo;
          patch.push = true;
          patch.progress = progress;
          patch.headers = {
              "Content-Type: application/octet-stream",
              "Content-Range: " + std::to_string(off) + "-" + std::to_string(off + n - 1)};
          patch.body = {nullptr, fd, off, n};
          ASSIGN_OR_RETURN(Response pr, Send(patch));
          if (pr.status != 202 && pr.status != 204)
            return ResponseError(pr, "upload chunk of " + digest);
          if (!pr.Header("location").empty()) location = absolute(pr.Header("location"));
          off += n;
        }
        put.url = with_digest(location);
      }
      ASSIGN_OR_RETURN(Response pr, Send(put));
      if (pr.status != 201 && pr.status != 204)
        return ResponseError(pr, "finish upload of " + digest);
      return Ok();
    }();
    if (last || last.error().code() == ErrorCode::kPermissionDenied ||
        last.error().code() == ErrorCode::kInvalidArgument)
      return last;
  }
  return last;
}

}  // namespace kiln::registry
