// `bitnet-mem plot`: memory per segment against context (stacked areas), the per-device peaks as
// lines, and each device budget as a horizontal line. The sampled values travel inside the SVG
// (<metadata id="bitnet-data">, JSON) so that a test can compare them with `estimate --json`.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <new>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bitnet/loader.h"
#include "bitnet/plan.h"

namespace bitnet {
namespace {

using Json = nlohmann::ordered_json;

struct SegmentView {
  const char* name;
  const char* color;
  const MemorySegment DetailedMemoryRequirements::*seg;
};
// clang-format off
constexpr SegmentView kSegments[] = {
  {"model_weights",         "#4e79a7", &DetailedMemoryRequirements::model_weights},
  {"quantization_overhead", "#76b7b2", &DetailedMemoryRequirements::quantization_overhead},
  {"kv_cache",              "#f28e2b", &DetailedMemoryRequirements::kv_cache},
  {"activations",           "#e15759", &DetailedMemoryRequirements::activations},
  {"system_overhead",       "#bab0ac", &DetailedMemoryRequirements::system_overhead},
};
// clang-format on

Json seg_json(const MemorySegment& s) {
  Json j;
  j["cpu_bytes"] = s.cpu_bytes;
  j["gpu_bytes"] = s.gpu_bytes ? Json(*s.gpu_bytes) : Json(nullptr);
  j["shared_bytes"] = s.shared_bytes;
  return j;
}

std::uint64_t seg_sum(const MemorySegment& s) { return s.cpu_bytes + s.shared_bytes + s.gpu_bytes.value_or(0); }

std::string xml_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string human(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", bytes / (1024.0 * 1024 * 1024));
  return fmt::format("{:.0f} MiB", bytes / (1024.0 * 1024));
}

}  // namespace

Result<std::string> render_memory_plot(const ProductionModelLoader& model, const RuntimeConfig& config,
                                       const Inventory* inventory, std::uint64_t reserve,
                                       const PlotOptions& options) {
  try {
    const ModelStructureInfo& info = model.model_info();
    const std::uint32_t lo = std::max(1u, options.n_ctx_min);
    const std::uint32_t hi = options.n_ctx_max != 0 ? options.n_ctx_max : std::max(lo, info.n_ctx_train);
    if (options.n_points < 2 || hi < lo)
      return Error{Errc::kInvalidArgument, "the plot needs at least 2 points and n_ctx_max >= n_ctx_min",
                   kNoOffset, "--points", "pass --points 2 or more and a larger --ctx-max"};
    // Geometric samples, as the runtime resolves them (padded), without repeats.
    std::set<std::uint32_t> requested;
    for (std::uint32_t i = 0; i < options.n_points; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(options.n_points - 1);
      requested.insert(static_cast<std::uint32_t>(std::llround(lo * std::pow(static_cast<double>(hi) / lo, t))));
    }
    struct Sample {
      std::uint32_t n_ctx;
      DetailedMemoryRequirements d;
    };
    std::vector<Sample> samples;
    std::set<std::uint32_t> seen;
    for (std::uint32_t c : requested) {
      MemoryAnalysisConfig a;
      a.runtime = config;
      a.runtime.n_ctx = c;
      a.device = config.device;
      a.suggestions = false;
      if (inventory != nullptr && !inventory->gpus.empty()) a.gpu_name = inventory->gpus.front().name;
      if (inventory != nullptr)
        for (const GpuInventory& g : inventory->gpus) a.gpu_names.push_back(g.name);
      BITNET_ASSIGN_OR_RETURN(DetailedMemoryRequirements d, model.get_detailed_memory_requirements(a));
      if (!seen.insert(d.config.n_ctx).second) continue;
      samples.push_back({d.config.n_ctx, std::move(d)});
    }

    struct Budget {
      std::string device;
      std::uint64_t bytes;
    };
    std::vector<Budget> budgets;
    if (inventory != nullptr) {
      const std::uint64_t h = inventory->host.usable_bytes();
      budgets.push_back({"cpu", h > reserve ? h - reserve : 0});
      for (const GpuInventory& g : inventory->gpus) {
        const std::uint64_t u = g.usable_bytes();
        budgets.push_back({"cuda:" + std::to_string(g.index), u > reserve ? u - reserve : 0});
      }
    }

    // Data first: the same numbers the picture shows.
    Json data;
    data["model"] = info.path;
    data["device"] = samples.front().d.config.device;  // "cuda:0,cuda:1" for a split
    data["runtime"] = config.runtime;
    data["units"] = "bytes";
    Json js = Json::array();
    for (const Sample& s : samples) {
      Json j;
      j["n_ctx"] = s.n_ctx;
      Json segs;
      for (const SegmentView& v : kSegments) segs[v.name] = seg_json(s.d.*v.seg);
      j["segments"] = segs;
      j["total"] = seg_json(s.d.total);
      j["peak_usage"] = seg_json(s.d.peak_usage);
      if (s.d.devices.size() > 1) {  // a split: each GPU's peak
        Json dj = Json::object();
        for (const DeviceUsage& u : s.d.devices) dj[u.device] = u.peak_bytes;
        j["gpu_peaks"] = dj;
      }
      js.push_back(j);
    }
    data["samples"] = js;
    Json jb = Json::array();
    for (const Budget& b : budgets) jb.push_back(Json{{"device", b.device}, {"budget_bytes", b.bytes}});
    data["budgets"] = jb;
    data["reserve_bytes"] = reserve;
    std::string payload = data.dump();
    for (std::size_t p = 0; (p = payload.find("]]>", p)) != std::string::npos; p += 12)
      payload.replace(p, 3, "]]]]><![CDATA[>");

    // Geometry.
    const double W = options.width, H = options.height;
    const double ml = 80, mr = 190, mt = 40, mb = 60;
    const double pw = W - ml - mr, ph = H - mt - mb;
    double ymax = 1;
    for (const Sample& s : samples) {
      ymax = std::max(ymax, static_cast<double>(seg_sum(s.d.total)));
      ymax = std::max(ymax, static_cast<double>(s.d.peak_usage.cpu_bytes + s.d.peak_usage.shared_bytes));
    }
    for (const Budget& b : budgets) ymax = std::max(ymax, static_cast<double>(b.bytes));
    ymax *= 1.08;
    const double x0 = std::log(static_cast<double>(samples.front().n_ctx));
    const double x1 = std::log(static_cast<double>(std::max(samples.back().n_ctx, samples.front().n_ctx + 1)));
    auto X = [&](std::uint32_t c) { return ml + (std::log(static_cast<double>(c)) - x0) / (x1 - x0) * pw; };
    auto Y = [&](double b) { return mt + ph - b / ymax * ph; };

    std::string svg;
    svg += fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n",
        options.width, options.height);
    svg += "<title>" + xml_escape("Memory against context: " + info.path) + "</title>\n";
    svg += "<desc>Stacked memory per segment (host + device, bytes reserved) against the context size, "
           "per-device peaks as lines, and device budgets (after the reserve) as horizontal lines. "
           "Sampled values: metadata#bitnet-data (JSON).</desc>\n";
    svg += "<metadata id=\"bitnet-data\"><![CDATA[" + payload + "]]></metadata>\n";
    svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", W, H);
    svg += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"15\">{}</text>\n", ml,
                       xml_escape(fmt::format("{} — {} ({}), memory vs context", info.architecture,
                                              samples.front().d.config.device, config.runtime)));
    // Stacked areas.
    std::vector<double> base(samples.size(), 0.0);
    for (const SegmentView& v : kSegments) {
      std::vector<double> top(samples.size());
      for (std::size_t i = 0; i < samples.size(); ++i)
        top[i] = base[i] + static_cast<double>(seg_sum(samples[i].d.*v.seg));
      std::string pts;
      for (std::size_t i = 0; i < samples.size(); ++i) pts += fmt::format("{:.1f},{:.1f} ", X(samples[i].n_ctx), Y(top[i]));
      for (std::size_t i = samples.size(); i-- > 0;) pts += fmt::format("{:.1f},{:.1f} ", X(samples[i].n_ctx), Y(base[i]));
      svg += fmt::format("<polygon class=\"segment\" data-segment=\"{}\" points=\"{}\" fill=\"{}\" fill-opacity=\"0.85\" stroke=\"none\"/>\n",
                         v.name, pts, v.color);
      base = std::move(top);
    }
    // Peaks per device.
    auto polyline = [&](const std::string& id, const std::string& color, auto value) {
      std::string pts;
      for (const Sample& s : samples) pts += fmt::format("{:.1f},{:.1f} ", X(s.n_ctx), Y(static_cast<double>(value(s.d))));
      svg += fmt::format("<polyline class=\"peak\" data-device=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                         id, pts, color);
    };
    polyline("cpu", "#222222", [](const DetailedMemoryRequirements& d) { return d.peak_usage.cpu_bytes + d.peak_usage.shared_bytes; });
    if (samples.front().d.devices.size() > 1) {  // a split: one line per GPU, against its own budget
      constexpr const char* kGpuColors[] = {"#59a14f", "#4e79a7", "#f28e2b", "#e15759"};
      for (std::size_t j = 0; j < samples.front().d.devices.size(); ++j)
        polyline(samples.front().d.devices[j].device, kGpuColors[j % std::size(kGpuColors)],
                 [j](const DetailedMemoryRequirements& d) { return j < d.devices.size() ? d.devices[j].peak_bytes : 0; });
    } else if (samples.front().d.peak_usage.gpu_bytes) {
      polyline(config.device.to_string(), "#59a14f", [](const DetailedMemoryRequirements& d) { return d.peak_usage.gpu_bytes.value_or(0); });
    }
    // Budgets.
    for (const Budget& b : budgets) {
      const double y = Y(static_cast<double>(b.bytes));
      svg += fmt::format("<line class=\"budget\" data-device=\"{}\" data-bytes=\"{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
                         "stroke=\"#b07aa1\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n",
                         b.device, b.bytes, ml, y, ml + pw, y);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#b07aa1\">{} budget {}</text>\n", ml + pw - 150, y - 4,
                         xml_escape(b.device), human(static_cast<double>(b.bytes)));
    }
    // Axes and ticks.
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", ml, mt, mt + ph);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", ml, mt + ph, ml + pw);
    for (int i = 0; i <= 5; ++i) {
      const double b = ymax * i / 5.0;
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", ml - 6, Y(b) + 4, human(b));
    }
    const std::size_t step = std::max<std::size_t>(1, samples.size() / 6);
    for (std::size_t i = 0; i < samples.size(); i += step)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(samples[i].n_ctx), mt + ph + 18,
                         samples[i].n_ctx);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">context (cells, log scale)</text>\n", ml + pw / 2, H - 14);
    // Legend.
    double ly = mt + 10;
    for (const SegmentView& v : kSegments) {
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
                         ml + pw + 16, ly, v.color, ml + pw + 34, ly + 11, v.name);
      ly += 20;
    }
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#222222\" stroke-width=\"2\"/><text x=\"{3:.1f}\" y=\"{4:.1f}\">peak host (RSS)</text>\n",
                       ml + pw + 16, ly + 6, ml + pw + 28, ml + pw + 34, ly + 10);
    ly += 20;
    if (samples.front().d.peak_usage.gpu_bytes) {
      svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#59a14f\" stroke-width=\"2\"/><text x=\"{3:.1f}\" y=\"{4:.1f}\">peak GPU</text>\n",
                         ml + pw + 16, ly + 6, ml + pw + 28, ml + pw + 34, ly + 10);
      ly += 20;
    }
    svg += "</svg>\n";
    return svg;
  } catch (const std::bad_alloc&) {
    return Error{Errc::kResourceLimit, "out of memory while plotting", kNoOffset, {}, {}};
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("internal error while plotting: ") + e.what(), kNoOffset, {}, {}};
  }
}

}  // namespace bitnet
