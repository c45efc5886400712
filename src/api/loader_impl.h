// ProductionModelLoader's state, shared with the loader (src/load/) that maps and commits buffers.
#pragma once

#include "bitnet/loader.h"
#include "bitnet/model_info.h"
#include "estimate/digest.h"
#include "format/mapped_file.h"

namespace bitnet {

struct ProductionModelLoader::Impl {
  detail::MappedFile file;   // the file as mapped at open (header analysis reads from it)
  ModelStructureInfo info;   // analysed once, cached
  detail::TensorDigest digest;  // what estimates need from info.tensors, grouped once (points into info)
  ProductionLoadConfig config;
};

}  // namespace bitnet
