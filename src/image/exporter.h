// image: writing an image out as an OCI image layout, as a tar stream (oci-archive). The bytes
// of every blob are the stored ones, so digests are preserved end to end.
#pragma once

#include <functional>
#include <string>

#include "catalog/catalog.h"
#include "context/context.h"

namespace kiln {

using ByteSink = std::function<Status(const void* data, size_t n)>;

// Bytes ExportImage will write, close enough for a progress bar.
uint64_t EstimateExportSize(const ImageRecord& im);

// Writes the image as an OCI layout tar to sink. ref names the image inside the layout
// (org.opencontainers.image.ref.name); empty means the image's name.
Status ExportImage(Context& ctx, const ImageRecord& im, const std::string& ref,
                   const ByteSink& sink);

}  // namespace kiln
