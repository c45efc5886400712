// ProductionModelLoader::load: ask the estimator for the native plan, then load it (load_model.cpp).
#include <new>

#include "api/loader_impl.h"
#include "bitnet/loader.h"
#include "load/load_model.h"

namespace bitnet {

Result<LoadedModel> ProductionModelLoader::load(const LoadOptions& options) const {
  try {
    MemoryAnalysisConfig cfg = options.analysis;
    cfg.runtime.runtime = "native";  // the loader allocates what the native profile plans
    BITNET_ASSIGN_OR_RETURN(const DetailedMemoryRequirements plan, get_detailed_memory_requirements(cfg));
    return detail::load_model(impl_->info, plan, options);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while planning the load", kNoOffset, impl_->info.path, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error: ") + e.what(), kNoOffset, impl_->info.path, {}};
  }
}

}  // namespace bitnet
