// ModelStructureInfo helpers (include/bitnet/model_info.h).
#include "bitnet/model_info.h"

namespace bitnet {

const TensorInfo* ModelStructureInfo::find_tensor(std::string_view name) const noexcept {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace bitnet
