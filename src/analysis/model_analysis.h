// Model analysis: a parsed GGUF -> ModelStructureInfo (architecture table, per-layer hparams, tensor
// roles, type-map resolution by byte spans). Knows models, not runtimes.
#pragma once

#include <cstdint>
#include <string>

#include "bitnet/error.h"
#include "bitnet/model_info.h"
#include "bitnet/types.h"
#include "format/gguf_reader.h"

namespace bitnet::detail {

struct AnalysisOptions {
  TypeMap type_map = TypeMap::kAuto;  // --type-map
  std::string path;                   // for messages and ModelStructureInfo::path
};

// Analyses a parsed file. For a header-only file (f.header_only), tensor sizes are the declared
// ones and file_bytes is data_offset + the padded sum of the tensor sizes.
Result<ModelStructureInfo> analyse_gguf(const GgufFile& f, const AnalysisOptions& opts);

}  // namespace bitnet::detail
