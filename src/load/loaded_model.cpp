#include "load/loaded_model_impl.h"

#include <utility>

namespace bitnet {

LoadedModel::LoadedModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadedModel::~LoadedModel() = default;
LoadedModel::LoadedModel(LoadedModel&&) noexcept = default;
LoadedModel& LoadedModel::operator=(LoadedModel&&) noexcept = default;

const ModelStructureInfo& LoadedModel::info() const noexcept { return impl_->info; }
const std::vector<TensorView>& LoadedModel::tensors() const noexcept { return impl_->tensors; }
std::span<std::byte> LoadedModel::kv_cache() noexcept { return impl_->kv.bytes(); }
std::span<std::byte> LoadedModel::activations() noexcept { return impl_->arena.bytes(); }
const DetailedMemoryRequirements& LoadedModel::plan() const noexcept { return impl_->plan; }

}  // namespace bitnet
