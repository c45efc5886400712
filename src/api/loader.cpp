// ProductionModelLoader: opens and analyses once; estimates reuse the cached analysis.
#include "bitnet/loader.h"

#include <new>
#include <utility>

#include "analysis/model_analysis.h"
#include "estimate/estimate.h"
#include "format/gguf_reader.h"
#include "format/mapped_file.h"
#include "api/loader_impl.h"

namespace bitnet {

Result<ProductionModelLoader> ProductionModelLoader::open(const std::string& path,
                                                          ProductionLoadConfig config) {
  try {
    BITNET_ASSIGN_OR_RETURN(detail::MappedFile file, detail::MappedFile::open(path));
    detail::GgufParseOptions po;
    po.header_only = config.header_only;
    auto parsed = detail::parse_gguf(file.bytes(), po);
    if (!parsed) {
      Error e = std::move(parsed).error();
      e.message = path + ": " + e.message;
      return e;
    }
    detail::AnalysisOptions ao;
    ao.type_map = config.type_map;
    ao.path = path;
    auto info = detail::analyse_gguf(*parsed, ao);
    if (!info) {
      Error e = std::move(info).error();
      e.message = path + ": " + e.message;
      return e;
    }
    // The analysis read the whole header (metadata, tokenizer arrays: up to ~7 MB for a 128k
    // vocabulary) through this mapping; ModelStructureInfo holds copies of all it needs. Drop the
    // pages from this process's RSS (they stay in the page cache; a later read faults them back),
    // so that an opened model costs only its analysis, and a load does not hold the header twice.
    file.drop_resident_pages();
    auto impl = std::make_unique<Impl>();
    impl->file = std::move(file);
    impl->info = std::move(info).value();
    impl->digest = detail::make_digest(impl->info);  // after the move: it points into info
    impl->config = config;
    return ProductionModelLoader(std::move(impl));
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while analysing the model", kNoOffset, path, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error: ") + e.what(), kNoOffset, path,
                 "please report this with the model file's header"};
  }
}

ProductionModelLoader ProductionModelLoader::open_or_throw(const std::string& path,
                                                           ProductionLoadConfig config) {
  auto r = open(path, config);
  if (!r) throw Exception(std::move(r).error());
  return std::move(r).value();
}

ProductionModelLoader::ProductionModelLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProductionModelLoader::~ProductionModelLoader() = default;
ProductionModelLoader::ProductionModelLoader(ProductionModelLoader&&) noexcept = default;
ProductionModelLoader& ProductionModelLoader::operator=(ProductionModelLoader&&) noexcept = default;

const ModelStructureInfo& ProductionModelLoader::model_info() const noexcept { return impl_->info; }

Result<DetailedMemoryRequirements> ProductionModelLoader::get_detailed_memory_requirements(
    const MemoryAnalysisConfig& config) const {
  try {
    return detail::estimate_memory(impl_->info, impl_->digest, config);
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while estimating", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error: ") + e.what(), kNoOffset, {}, {}};
  }
}

Result<MemoryRequirements> ProductionModelLoader::get_memory_requirements(std::string_view device) const {
  BITNET_ASSIGN_OR_RETURN(const Device dev, Device::parse(device));
  MemoryAnalysisConfig cfg;
  cfg.device = dev;
  cfg.runtime.device = dev;
  cfg.suggestions = false;
  BITNET_ASSIGN_OR_RETURN(const DetailedMemoryRequirements d, get_detailed_memory_requirements(cfg));
  MemoryRequirements r;
  // Host memory at the serving peak (anonymous + mapped); GPU memory at its peak.
  r.cpu_memory_mb = bytes_to_mib_ceil(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes);
  if (d.peak_usage.gpu_bytes) r.gpu_memory_mb = bytes_to_mib_ceil(*d.peak_usage.gpu_bytes);
  r.total_mb = bytes_to_mib_ceil(d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes +
                                 d.peak_usage.gpu_bytes.value_or(0));
  r.kv_cache_mb = bytes_to_mib_ceil(d.kv_cache.cpu_bytes + d.kv_cache.gpu_bytes.value_or(0));
  r.activation_mb = bytes_to_mib_ceil(d.activations.cpu_bytes + d.activations.gpu_bytes.value_or(0));
  const std::uint64_t peak_host = d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes;
  r.headroom_mb = bytes_to_mib_ceil(d.recommendations.recommended_system_ram > peak_host
                                        ? d.recommendations.recommended_system_ram - peak_host
                                        : 0);
  return r;
}

}  // namespace bitnet
