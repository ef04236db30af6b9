// Fuzzes the OCI image-spec parsers: manifest, index, config (and the descriptors inside them).
// Input: one JSON document, as a registry or an archive would hand it over.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/image_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  if (auto m = kiln::oci::ParseManifest(doc)) {
    // A manifest that parses must serialize again.
    (void)kiln::oci::SerializeManifest(m->config, m->layers, m->annotations);
  }
  (void)kiln::oci::ParseIndex(doc);
  (void)kiln::oci::ParseConfig(doc);
  return 0;
}
