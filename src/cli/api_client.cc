#include "cli/api_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "cli/progress.h"

namespace kiln::cli {
namespace {

using json = nlohmann::json;

size_t CollectBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

int OnProgress(void* p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow) {
  auto* prog = static_cast<Progress*>(p);
  if (ulnow > 0 && dlnow == 0)
    prog->Update(static_cast<uint64_t>(ulnow), static_cast<uint64_t>(ultotal));
  else
    prog->Update(static_cast<uint64_t>(dlnow), static_cast<uint64_t>(dltotal));
  return 0;
}

Error TransportError(CURLcode rc, const std::string& socket, const char* detail) {
  std::string msg = detail && *detail ? detail : curl_easy_strerror(rc);
  if (rc == CURLE_COULDNT_CONNECT)
    return Error(ErrorCode::kIO, "cannot reach kilnd at " + socket +
                                     " (is it running? set --socket or KILN_SOCKET): " + msg);
  return Error(ErrorCode::kIO, "talking to kilnd: " + msg);
}

}  // namespace

Error ErrorFromResponse(long status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    return Error(ErrorCodeFromName(e.value("code", "Internal")),
                 e.value("message", "unknown error"));
  }
  return Error::Internal("kilnd answered HTTP " + std::to_string(status) + ": " +
                         body.substr(0, 200));
}

ApiClient::ApiClient(std::string socket_path)
    : curl_(curl_easy_init()), socket_(std::move(socket_path)) {}

ApiClient::~ApiClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string ApiClient::Escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

Result<json> ApiClient::Request(const std::string& method, const std::string& path,
                                const std::string* body) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  std::string response;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, ("http://kilnd" + path).c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) return TransportError(rc, socket_, errbuf);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) return ErrorFromResponse(status, response);
  json j = json::parse(response, nullptr, false);
  if (j.is_discarded()) return Error::Internal("kilnd sent a response that is not JSON");
  return j;
}

Result<json> ApiClient::Get(const std::string& path) {
  return Request("GET", path, nullptr);
}

Result<json> ApiClient::Post(const std::string& path, const json& body) {
  std::string b = body.dump();
  return Request("POST", path, &b);
}

Result<json> ApiClient::Delete(const std::string& path) {
  return Request("DELETE", path, nullptr);
}

namespace {

struct UploadState {
  const ApiClient::Reader* read;
  Error error{ErrorCode::kInternal, ""};
  bool failed = false;
};

size_t ReadForUpload(char* buf, size_t size, size_t n, void* p) {
  auto* s = static_cast<UploadState*>(p);
  auto got = (*s->read)(buf, size * n);
  if (!got) {
    s->error = std::move(got).error();
    s->failed = true;
    return CURL_READFUNC_ABORT;  // never let a half-read source look like a complete upload
  }
  return *got;
}

struct DownloadState {
  const ApiClient::Writer* write;
  CURL* curl;
  std::string error_body;
  long status = 0;
  uint64_t estimate = 0;
  Progress* progress;
  Error error{ErrorCode::kInternal, ""};
  bool failed = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* s = static_cast<DownloadState*>(p);
  std::string line(data, size * n);
  static const std::string kName = "x-kiln-size-estimate:";
  if (line.size() > kName.size()) {
    std::string head = line.substr(0, kName.size());
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (head == kName) s->estimate = std::strtoull(line.c_str() + kName.size(), nullptr, 10);
  }
  return size * n;
}

size_t OnData(char* data, size_t size, size_t n, void* p) {
  auto* s = static_cast<DownloadState*>(p);
  if (s->status == 0) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
  if (s->status != 200) {
    s->error_body.append(data, size * n);
    return size * n;
  }
  Status st = (*s->write)(data, size * n);
  if (!st) {
    s->error = std::move(st).error();
    s->failed = true;
    return 0;
  }
  return size * n;
}

int OnDownloadProgress(void* p, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* s = static_cast<DownloadState*>(p);
  if (s->progress && s->status == 200) {
    uint64_t total = std::max<uint64_t>(s->estimate, static_cast<uint64_t>(dlnow));
    s->progress->Update(static_cast<uint64_t>(dlnow), total);
  }
  return 0;
}

}  // namespace

Result<json> ApiClient::Upload(const std::string& path, const Reader& read, uint64_t total_size,
                               Progress* progress) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  std::string response;
  char errbuf[CURL_ERROR_SIZE] = "";
  UploadState state{&read};
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, ("http://kilnd" + path).c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadForUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &state);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/octet-stream");
  headers = curl_slist_append(headers, "Expect:");
  if (total_size == 0)
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  else
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(total_size));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (progress) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, progress);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (progress) progress->Finish();
  if (state.failed) return std::move(state.error);
  if (rc != CURLE_OK) return TransportError(rc, socket_, errbuf);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) return ErrorFromResponse(status, response);
  json j = json::parse(response, nullptr, false);
  if (j.is_discarded()) return Error::Internal("kilnd sent a response that is not JSON");
  return j;
}

Status ApiClient::Download(const std::string& path, const Writer& write, Progress* progress) {
  return Fetch(path, nullptr, write, progress);
}

Status ApiClient::Stream(const std::string& path, const Reader& read, const Writer& write) {
  return Fetch(path, &read, write, nullptr);
}

Status ApiClient::Fetch(const std::string& path, const Reader* read, const Writer& write,
                        Progress* progress) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  char errbuf[CURL_ERROR_SIZE] = "";
  DownloadState state{&write, c};
  state.progress = progress;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, ("http://kilnd" + path).c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnDownloadProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &state);
  curl_slist* headers = nullptr;
  UploadState upload{read};
  if (read) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadForUpload);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (progress) progress->Finish();
  if (upload.failed) return std::move(upload.error);
  if (state.failed) return std::move(state.error);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &state.status);
  if (state.status >= 300) return ErrorFromResponse(state.status, state.error_body);
  if (rc != CURLE_OK) return TransportError(rc, socket_, errbuf);
  return Ok();
}

Result<json> ApiClient::PostEvents(const std::string& path, const json& body,
                                   const EventFn& on_event) {
  std::string request = body.dump();
  size_t sent = 0;
  Reader read = [&](char* buf, size_t n) -> Result<size_t> {
    size_t k = std::min(n, request.size() - sent);
    std::memcpy(buf, request.data() + sent, k);
    sent += k;
    return k;
  };
  std::string pending;
  std::optional<json> result;
  std::optional<Error> error;
  Writer write = [&](const char* data, size_t n) -> Status {
    pending.append(data, n);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      json line = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!line.is_object()) return Error::Internal("kilnd sent a line that is not JSON");
      if (line.contains("event"))
        on_event(line["event"]);
      else if (line.contains("result"))
        result = line["result"];
      else if (line.contains("error"))
        error = ErrorFromResponse(500, line.dump());
    }
    return Ok();
  };
  TRY(Stream(path, read, write));
  if (error) return *error;
  if (!result) return Error(ErrorCode::kIO, "kilnd ended the stream before the work finished");
  return *result;
}

}  // namespace kiln::cli
