// measure_process_memory / measure_actual_memory_usage: /proc/self/status, smaps_rollup and NVML.
#include <string>

#include "bitnet/measure.h"
#include "device/nvml.h"
#include "device/probe_linux.h"
#include "measure/proc_status.h"

namespace bitnet {

Result<MeasuredMemory> measure_process_memory() {
  try {
    BITNET_ASSIGN_OR_RETURN(MeasuredMemory m, detail::read_self_status());
    // smaps_rollup (Linux >= 4.14) walks every mapping: slower than status, so only here.
    if (auto text = detail::read_text_file("/proc/self/smaps_rollup"))
      m.pss_bytes = detail::parse_smaps_rollup_pss(*text);
    m.gpu_bytes = detail::gpu_memory_of_self();
    return m;
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while measuring: ") + e.what(), kNoOffset, {}, {}};
  }
}

// The model's memory is the process's: a LoadedModel owns no other process or device. The
// per-buffer attribution lives in validate_model, which samples around each commit.
Result<MeasuredMemory> measure_actual_memory_usage(const LoadedModel& model) {
  static_cast<void>(model);
  return measure_process_memory();
}

}  // namespace bitnet
