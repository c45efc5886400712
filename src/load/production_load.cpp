// ProductionModelLoader::load: ask the estimator for the native plan, then load it (load_model.cpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
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
    // The analysis read the whole header (metadata, tokenizer arrays: up to ~7 MB for a 128k
    // vocabulary) through the mapping made at open; ModelStructureInfo holds copies of all it needs.
    // Drop those pages from this process's RSS (they stay in the page cache; a later read faults
    // them back), so that the loaded model does not hold the header twice (the load maps the file
    // again).
    const auto header = impl_->file.bytes();
    if (!header.empty()) {
      const auto ps = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
      const auto begin = reinterpret_cast<std::uintptr_t>(header.data()) / ps * ps;
      const auto end = reinterpret_cast<std::uintptr_t>(header.data() + header.size());
      ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
    return detail::load_model(impl_->info, plan, options);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while planning the load", kNoOffset, impl_->info.path, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error: ") + e.what(), kNoOffset, impl_->info.path, {}};
  }
}

}  // namespace bitnet
