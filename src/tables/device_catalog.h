// The device catalog: GPUs and cloud instances a user can name with --target, each row with its
// memory, the per-device CUDA overhead the planner charges, and the source of the numbers.
#pragma once

#include <span>
#include <string_view>

#include "bitnet/plan.h"

namespace bitnet::detail {

std::span<const DeviceTarget> device_catalog_rows() noexcept;

}  // namespace bitnet::detail
