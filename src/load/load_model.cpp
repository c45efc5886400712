#include "load/load_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "core/checked.h"
#include "load/loaded_model_impl.h"
#include "load/progress.h"
#include "measure/proc_status.h"

namespace bitnet::detail {
namespace {

std::string mib(std::uint64_t b) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
  return buf;
}

// The plan's segments whose anonymous parts the loader commits, and the region each goes to.
// (system_overhead is the process itself and the runtime's code: nothing to allocate.)
using RegionOf = AnonRegion LoadedModel::Impl::*;
struct CommitSegment {
  std::string_view name;
  MemorySegment DetailedMemoryRequirements::*segment;
  RegionOf region;
};
// clang-format off
constexpr CommitSegment kCommitSegments[] = {
  {"kv_cache",              &DetailedMemoryRequirements::kv_cache,              &LoadedModel::Impl::kv},
  {"activations",           &DetailedMemoryRequirements::activations,           &LoadedModel::Impl::arena},
  {"quantization_overhead", &DetailedMemoryRequirements::quantization_overhead, &LoadedModel::Impl::extra},
};
// clang-format on

// A part the native loader cannot hold (device or pinned memory): refuse rather than pretend.
Status check_host_only(const DetailedMemoryRequirements& plan) {
  for (const MemorySegment* s : {&plan.model_weights, &plan.kv_cache, &plan.activations, &plan.quantization_overhead}) {
    for (const MemoryPart& p : s->parts) {
      if ((p.kind == MemoryKind::kDevice || p.kind == MemoryKind::kPinned) && p.bytes > 0)
        return Error{Errc::kUnavailable,
                     "the native loader keeps everything in host memory, but the plan puts " + mib(p.bytes) + " of " +
                         p.name + " in " + std::string(memory_kind_name(p.kind)) + " memory on " + p.device,
                     kNoOffset, p.name, "validate with --device cpu (GPU plans are checked against llama.cpp)"};
    }
  }
  return Ok{};
}

Result<std::uint64_t> sum_anonymous(const MemorySegment& s) {
  std::uint64_t total = 0;
  for (const MemoryPart& p : s.parts) {
    if (p.kind != MemoryKind::kAnonymous || p.bytes == 0) continue;
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t padded, checked_pad(total, kPartAlign));
    BITNET_ASSIGN_OR_RETURN(total, checked_add(padded, p.bytes, "planned buffers"));
  }
  return total;
}

Status read_tensors(const ModelStructureInfo& info, AnonRegion& dst, std::vector<std::uint64_t>& where,
                    ProgressBar& bar) {
  const int fd = ::open(info.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Error{Errc::kIo, "cannot open the model file: " + std::string(std::strerror(e)), kNoOffset, info.path,
                 "check that the file still exists and is readable"};
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  constexpr std::uint64_t kChunk = std::uint64_t{16} << 20;
  std::uint64_t at = 0;
  where.clear();
  where.reserve(info.tensors.size());
  for (const TensorInfo& t : info.tensors) {
    where.push_back(at);
    std::uint64_t done = 0;
    while (done < t.nbytes) {
      const std::uint64_t n = std::min(kChunk, t.nbytes - done);
      const std::uint64_t off = info.header_bytes + t.offset + done;
      const ssize_t r = ::pread(fd, dst.bytes().data() + at + done, n, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        const int e = r < 0 ? errno : 0;
        ::close(fd);
        return Error{Errc::kIo, r < 0 ? "cannot read the model file: " + std::string(std::strerror(e))
                                      : std::string("the model file ends inside a tensor"),
                     off, t.name, "check the file (it may have changed since it was opened)"};
      }
      done += static_cast<std::uint64_t>(r);
      bar.advance(static_cast<std::uint64_t>(r));
    }
    // The copy is ours now: drop the page cache, so that a container is not charged twice.
    ::posix_fadvise(fd, static_cast<off_t>(info.header_bytes + t.offset), static_cast<off_t>(t.nbytes),
                    POSIX_FADV_DONTNEED);
    at = pad_to(at + t.nbytes, kCpuBufferAlign);
  }
  ::close(fd);
  return Ok{};
}

MeasuredMemory sample() {
  auto m = read_self_status();
  return m ? *m : MeasuredMemory{};
}

}  // namespace

Status verify_tensors(const ModelStructureInfo& info, std::uint64_t file_size) {
  if (info.header_only)
    return Error{Errc::kInvalidArgument, "the file holds only the header; there are no weights to load", kNoOffset,
                 info.path, "load the complete model file"};
  if (info.header_bytes > file_size)
    return Error{Errc::kTruncated, "the file ends before its data section", file_size, info.path, {}};
  const std::uint64_t data_bytes = file_size - info.header_bytes;
  const std::uint64_t align = info.alignment == 0 ? 1 : info.alignment;
  std::vector<const TensorInfo*> order;
  order.reserve(info.tensors.size());
  for (const TensorInfo& t : info.tensors) {
    const std::uint64_t abs = info.header_bytes + t.offset;
    if (t.offset % align != 0)
      return Error{Errc::kMalformed,
                   "tensor data is not aligned to " + std::to_string(align) + " bytes (offset " +
                       std::to_string(t.offset) + " in the data section)",
                   abs, t.name, "the file is corrupt or was written by a broken converter; re-convert it"};
    if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset)
      return Error{Errc::kTruncated,
                   "tensor needs " + std::to_string(t.nbytes) + " bytes but the file ends " +
                       std::to_string(t.offset > data_bytes ? 0 : data_bytes - t.offset) + " bytes after its start",
                   abs, t.name, "the file is truncated; download it again"};
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const TensorInfo& p = *order[i - 1];
    const TensorInfo& t = *order[i];
    if (p.offset + p.nbytes > t.offset)
      return Error{Errc::kMalformed, "tensor overlaps the previous tensor " + p.name, info.header_bytes + t.offset,
                   t.name, "the file is corrupt; re-convert it"};
  }
  return Ok{};
}

TensorSpan tensor_span(const ModelStructureInfo& info) {
  TensorSpan s;
  bool first = true;
  for (const TensorInfo& t : info.tensors) {
    const std::uint64_t b = info.header_bytes + t.offset, e = b + t.nbytes;
    if (first || b < s.begin) s.begin = b;
    if (first || e > s.end) s.end = e;
    first = false;
  }
  return s;
}

Result<std::uint64_t> read_weights_bytes(const ModelStructureInfo& info) {
  std::uint64_t total = 0;
  for (const TensorInfo& t : info.tensors) {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t p, checked_pad(t.nbytes, kCpuBufferAlign));
    BITNET_ASSIGN_OR_RETURN(total, checked_add(total, p, "weight buffer"));
  }
  return total;
}

Result<LoadFootprint> load_footprint(const ModelStructureInfo& info, const DetailedMemoryRequirements& plan) {
  LoadFootprint f;
  if (plan.config.mmap) {
    f.mapped = info.file_bytes;
    f.items.emplace_back("model file (mapped)", f.mapped);
  } else {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t w, read_weights_bytes(info));
    f.anonymous += w;
    f.items.emplace_back("weights (read)", w);
  }
  for (const CommitSegment& cs : kCommitSegments) {
    BITNET_ASSIGN_OR_RETURN(const std::uint64_t b, sum_anonymous(plan.*(cs.segment)));
    if (b == 0) continue;
    BITNET_ASSIGN_OR_RETURN(f.anonymous, checked_add(f.anonymous, b, "planned buffers"));
    f.items.emplace_back(std::string(cs.name), b);
  }
  return f;
}

Status preflight(const LoadFootprint& need, const DetailedMemoryRequirements& plan, const HostMemory& host,
                 std::optional<std::uint64_t> limit) {
  const std::uint64_t can = limit ? *limit : host.available();
  if (need.total() <= can) return Ok{};
  std::string what;
  for (const auto& [name, bytes] : need.items) what += (what.empty() ? "" : ", ") + name + " " + mib(bytes);
  const std::string source = limit ? std::string("the limit given") : host.available_source();
  std::string hint;
  int shown = 0;
  for (const OptimizationSuggestion& s : plan.recommendations.optimization_suggestions) {
    if (s.saves_bytes <= 0 || shown == 3) continue;
    hint += std::to_string(++shown) + ") " + s.text + (s.flags.empty() ? "" : " [" + s.flags + "]") + " saves " +
            mib(static_cast<std::uint64_t>(s.saves_bytes)) + "; ";
  }
  if (shown == 0) hint += "1) lower the context size (-c) or use a quantized KV cache (-ctk q8_0 -ctv q8_0 -fa on); ";
  hint += std::to_string(shown == 0 ? 2 : shown + 1) + ") free memory or raise the limit; or pass --force to load anyway";
  return Error{Errc::kResourceLimit,
               "the plan needs " + mib(need.total()) + " (" + what + ") but this machine can give " + mib(can) +
                   " (" + source + "): short by " + mib(need.total() - can),
               kNoOffset, "memory", hint};
}

Result<LoadedModel> load_model(const ModelStructureInfo& info, const DetailedMemoryRequirements& plan,
                               const LoadOptions& options) {
  try {
    auto impl = std::make_unique<LoadedModel::Impl>();
    impl->before_load = sample();
    BITNET_TRY(check_host_only(plan));

    // 1. The file is what the analysis says it is.
    const int fd = ::open(info.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      return Error{Errc::kIo, "cannot open the model file: " + std::string(std::strerror(e)), kNoOffset, info.path,
                   "check the path and the file's permissions"};
    }
    const off_t size = ::lseek(fd, 0, SEEK_END);
    ::close(fd);
    BITNET_TRY(verify_tensors(info, static_cast<std::uint64_t>(size < 0 ? 0 : size)));

    // 2. Pre-flight: refuse before any large allocation.
    BITNET_ASSIGN_OR_RETURN(const LoadFootprint need, load_footprint(info, plan));
    if (!options.force) {
      BITNET_ASSIGN_OR_RETURN(const HostMemory host, probe_host());
      BITNET_TRY(preflight(need, plan, host, options.memory_limit));
    }

    impl->info = info;
    impl->plan = plan;
    impl->mmap = plan.config.mmap;
    ProgressBar bar(options.progress, need.total());

    // 3. Weights: map the whole file read-only (and read it in), or read every tensor into
    //    anonymous memory. (Whole file, not llama.cpp's tensor span: one mapping serves the
    //    metadata and the tensors; the native profile plans the mapped part as the file size.)
    std::vector<std::uint64_t> where;  // no mmap: each tensor's offset in the weight buffer
    const std::string weights_part = impl->mmap ? "CPU_Mapped" : "CPU";
    CommitRecord rec{"model_weights", weights_part, impl->mmap ? MemoryKind::kMapped : MemoryKind::kAnonymous, 0, 0,
                     sample(), {}};
    for (const MemoryPart& p : plan.model_weights.parts)
      if (p.name == weights_part) rec.planned_bytes += p.bytes;
    if (impl->mmap) {
      bar.set_stage("mapping weights");
      BITNET_ASSIGN_OR_RETURN(impl->mapping, FileSpanMapping::map(info.path, 0, info.file_bytes));
      if (options.populate) BITNET_TRY(impl->mapping.populate([&](std::uint64_t n) { bar.advance(n); }));
      if (options.mlock) BITNET_TRY(impl->mapping.lock());
      rec.allocated_bytes = info.file_bytes;
    } else {
      bar.set_stage("reading weights");
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t wbytes, read_weights_bytes(info));
      BITNET_ASSIGN_OR_RETURN(impl->weights, AnonRegion::reserve(wbytes, "the model weights"));
      BITNET_TRY(read_tensors(info, impl->weights, where, bar));
      if (options.mlock) BITNET_TRY(impl->weights.lock());
      rec.allocated_bytes = wbytes;
    }
    rec.after = sample();
    impl->commits.push_back(std::move(rec));

    // 4. The planned buffers, each committed (resident) so that a plan that cannot fit fails now.
    for (const CommitSegment& cs : kCommitSegments) {
      const MemorySegment& seg = plan.*(cs.segment);
      BITNET_ASSIGN_OR_RETURN(const std::uint64_t bytes, sum_anonymous(seg));
      if (bytes == 0) continue;
      AnonRegion& region = (*impl).*(cs.region);
      BITNET_ASSIGN_OR_RETURN(region, AnonRegion::reserve(bytes, std::string(cs.name)));
      std::uint64_t at = 0;
      for (const MemoryPart& p : seg.parts) {
        if (p.kind != MemoryKind::kAnonymous || p.bytes == 0) continue;
        at = pad_to(at, kPartAlign);
        bar.set_stage("committing " + p.name);
        CommitRecord c{std::string(cs.name), p.name, p.kind, p.bytes, p.bytes, sample(), {}};
        BITNET_TRY(region.commit(at, p.bytes, [&](std::uint64_t n) { bar.advance(n); }));
        c.after = sample();
        impl->commits.push_back(std::move(c));
        at += p.bytes;
      }
      if (options.mlock) BITNET_TRY(region.lock());
    }

    // 5. Tensor views over the mapped or read bytes.
    impl->tensors.reserve(info.tensors.size());
    for (std::size_t i = 0; i < info.tensors.size(); ++i) {
      const TensorInfo& t = info.tensors[i];
      const std::byte* base = impl->mmap ? impl->mapping.data() + (info.header_bytes + t.offset)
                                         : impl->weights.bytes().data() + where[i];
      impl->tensors.push_back(TensorView{t.name, t.type, t.n_dims, t.ne, std::span<const std::byte>(base, t.nbytes)});
    }
    bar.finish();
    impl->after_load = sample();
    return LoadedModel(std::move(impl));
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while loading the model", kNoOffset, info.path,
                 "lower the context size (-c) or free memory"};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while loading: ") + e.what(), kNoOffset, info.path,
                 "please report this"};
  }
}

}  // namespace bitnet::detail
