// validate_model: load with the native plan, then compare each segment of the plan with what the
// process measured while the loader made that segment resident:
//   model_weights  mmap: RssFile growth while the tensor span was mapped and read in;
//                  no mmap: RssAnon growth while the tensors were read
//   kv_cache, activations, quantization_overhead: RssAnon growth while each part was committed
//   system_overhead: the process's RSS that no buffer explains (its base before the load, code,
//                  heap, the analysis), i.e. RSS after the load minus the growths above
//   total: VmRSS after the load
// The plan's numbers come from the estimator; the actual ones only from /proc. Nothing is compared
// with itself: a wrong span, layout, page rounding or a buffer that never became resident shows.
#include <string>

#include "bitnet/loader.h"
#include "bitnet/measure.h"
#include "load/loaded_model_impl.h"
#include "measure/proc_status.h"
#include "measure/validate.h"

namespace bitnet {

Result<ValidationReport> validate_model(const ProductionModelLoader& loader, const LoadOptions& options,
                                        double tolerance) {
  if (!(tolerance >= 0.0))
    return Error{Errc::kInvalidArgument, "the tolerance must be a non-negative fraction", kNoOffset, "tolerance",
                 "pass e.g. 0.05 for 5 %"};
  try {
    BITNET_ASSIGN_OR_RETURN(LoadedModel model, loader.load(options));
    const LoadedModel::Impl& impl = detail::impl_of(model);
    ValidationReport rep =
        detail::compare_with_measurement(impl.plan, impl.commits, impl.before_load, impl.after_load, tolerance);
    if (auto full = measure_process_memory()) {
      rep.after_load.pss_bytes = full->pss_bytes;
      rep.after_load.gpu_bytes = full->gpu_bytes;
    }
    return rep;
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while validating", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while validating: ") + e.what(), kNoOffset, {}, {}};
  }
}

}  // namespace bitnet
