#include "base/sha256.h"

#include <fcntl.h>

#include "base/fs.h"

namespace kiln {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256::Update(const void* data, size_t n) {
  EVP_DigestUpdate(ctx_, data, n);
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string Sha256::Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

std::string DigestOf(std::string_view data) {
  return "sha256:" + Sha256::Hex(data);
}

Status ValidateDigest(std::string_view digest) {
  auto colon = digest.find(':');
  if (colon == std::string_view::npos)
    return Error::InvalidArgument("invalid digest \"" + std::string(digest) + "\"");
  std::string_view algo = digest.substr(0, colon), hex = digest.substr(colon + 1);
  if (algo != "sha256")
    return Error::Unsupported("unsupported digest algorithm \"" + std::string(algo) + "\"");
  if (hex.size() != 64)
    return Error::InvalidArgument("invalid digest \"" + std::string(digest) + "\"");
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return Error::InvalidArgument("invalid digest \"" + std::string(digest) + "\"");
  return Ok();
}

std::string DigestHex(std::string_view digest) {
  auto colon = digest.find(':');
  return std::string(colon == std::string_view::npos ? digest : digest.substr(colon + 1));
}

Result<std::string> DigestFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  Sha256 h;
  static thread_local char buf[1 << 17];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf, sizeof buf));
    if (n == 0) break;
    h.Update(buf, n);
  }
  return "sha256:" + h.HexDigest();
}

}  // namespace kiln
