// base: streaming SHA-256 (OpenSSL) and the "sha256:<hex>" digest form OCI uses.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.h"

namespace kiln {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Lowercase hex of the digest; the hasher cannot be updated afterwards.
  std::string HexDigest();

  static std::string Hex(std::string_view data);

 private:
  EVP_MD_CTX* ctx_;
};

// "sha256:" + hex of data.
std::string DigestOf(std::string_view data);
// Checks the "sha256:<64 lowercase hex>" form; other algorithms are Unsupported.
Status ValidateDigest(std::string_view digest);
// The hex part of a valid digest.
std::string DigestHex(std::string_view digest);
// Hashes a file's content; returns "sha256:<hex>".
Result<std::string> DigestFile(const std::string& path);

}  // namespace kiln
