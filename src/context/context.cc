#include "context/context.h"

#include "base/fs.h"

namespace kiln {

Result<std::unique_ptr<Context>> Context::Open(const std::string& root) {
  auto ctx = std::make_unique<Context>();
  ctx->root = root;
  TRY(MakeDirs(root, 0700));
  ASSIGN_OR_RETURN(BlobStore store, BlobStore::Open(root));
  ctx->store = std::make_unique<BlobStore>(std::move(store));
  ctx->layers = std::make_unique<LayerCache>(JoinPath(root, "layers"), ctx->store.get());
  TRY(ctx->layers->Init());
  ASSIGN_OR_RETURN(ctx->catalog, Catalog::Open(JoinPath(root, "catalog.db")));
  ASSIGN_OR_RETURN(ctx->trash, Trash::Open(JoinPath(root, "trash")));
  return ctx;
}

}  // namespace kiln
