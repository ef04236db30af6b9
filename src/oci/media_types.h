// oci: the media types kiln reads and writes (OCI image-spec v1.1, plus Docker's v2 schema 2
// equivalents, which docker/podman archives and older registries use).
#pragma once

#include <string_view>

namespace kiln::oci {

inline constexpr std::string_view kIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kAnnotationCreated = "org.opencontainers.image.created";
inline constexpr std::string_view kAnnotationDescription = "org.opencontainers.image.description";

inline bool IsLayerMediaType(std::string_view m) {
  return m == kLayerTar || m == kLayerGzip || m == kLayerZstd || m == kDockerLayerGzip;
}
inline bool IsManifestMediaType(std::string_view m) {
  return m == kManifest || m == kDockerManifest;
}
inline bool IsIndexMediaType(std::string_view m) {
  return m == kIndex || m == kDockerManifestList;
}
inline bool IsConfigMediaType(std::string_view m) {
  return m == kConfig || m == kDockerConfig;
}

}  // namespace kiln::oci
