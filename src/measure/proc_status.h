// Process memory from /proc: VmRSS, VmHWM, RssAnon, RssFile, RssShmem (/proc/self/status) and PSS
// (/proc/self/smaps_rollup). Parsers take text so that tests can feed them fixtures.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "bitnet/error.h"
#include "bitnet/measure.h"

namespace bitnet::detail {

// /proc/<pid>/status text -> the rss fields of MeasuredMemory (bytes). kMalformed when VmRSS is absent.
Result<MeasuredMemory> parse_proc_status(std::string_view text);
// /proc/<pid>/smaps_rollup text -> Pss in bytes; nullopt when the line is absent.
std::optional<std::uint64_t> parse_smaps_rollup_pss(std::string_view text);

// This process, now (status only; cheap: one small read). PSS and GPU are left empty.
Result<MeasuredMemory> read_self_status();

// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs, Linux >= 4.0).
Status reset_peak_rss();

}  // namespace bitnet::detail
