#include "load/loaded_model_impl.h"

#include <map>
#include <mutex>
#include <utility>

namespace bitnet {
namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<const ModelStructureInfo*, const LoadedModel::Impl*>& registry() {
  static std::map<const ModelStructureInfo*, const LoadedModel::Impl*> r;
  return r;
}
}  // namespace

LoadedModel::Impl::Impl() {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[&info] = this;
}
LoadedModel::Impl::~Impl() {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(&info);
}

const LoadedModel::Impl& detail::impl_of(const LoadedModel& model) {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  return *registry().at(&model.info());
}

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
