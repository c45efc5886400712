// bitnet-models: the production model loader (api.md §1).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "bitnet/error.h"
#include "bitnet/measure.h"
#include "bitnet/memory.h"
#include "bitnet/model_info.h"
#include "bitnet/types.h"

namespace bitnet {

struct ProductionLoadConfig {
  TypeMap type_map = TypeMap::kAuto;  // --type-map
  bool header_only = false;           // --header-only: the file holds only the header
};

class ProductionModelLoader {
 public:
  // Opens and analyses the model once; a clear Error for missing, unsupported or malformed files.
  static Result<ProductionModelLoader> open(const std::string& path, ProductionLoadConfig config = {});
  static ProductionModelLoader open_or_throw(const std::string& path, ProductionLoadConfig config = {});

  const ModelStructureInfo& model_info() const noexcept;

  // The old call, now model-derived: default runtime settings on `device` ("cpu", "cuda", "cuda:N", "gpu").
  Result<MemoryRequirements> get_memory_requirements(std::string_view device) const;

  // Every segment, with parts, peak and recommendations. Reuses the analysis done at open.
  Result<DetailedMemoryRequirements> get_detailed_memory_requirements(
      const MemoryAnalysisConfig& config) const;

  // Maps (or reads) the weights and commits the planned KV cache and activation arena; refuses,
  // before any large allocation, a plan that the machine cannot hold (unless options.force).
  Result<LoadedModel> load(const LoadOptions& options = {}) const;

  ~ProductionModelLoader();
  ProductionModelLoader(ProductionModelLoader&&) noexcept;
  ProductionModelLoader& operator=(ProductionModelLoader&&) noexcept;

  struct Impl;

 private:
  explicit ProductionModelLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitnet
