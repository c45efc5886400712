// llamacpp-driver: loads a GGUF model with the real llama.cpp (the prebuilt libraries that
// node-llama-cpp ships), runs the workload of shared/groundtruth/README.md and prints one JSON
// document on stdout: llama.cpp's own buffer breakdown and the process's RSS at each phase.
//
//   baseline      backends loaded (ggml_backend_load_all_from_path), llama_backend_init
//   after_load    llama_model_load_from_file, n_gpu_layers = 0
//   after_ctx     llama_init_from_model
//   after_ubatch  one full ubatch at positions 0.. of sequence 0, logits for its last token only
//   (fill)        sequence 0 decoded ubatch by ubatch up to n_ubatch + 3 cells before the end of its
//                 context; then the peak counter is reset (clear_refs), as the ground truth did
//   after_final_ubatch  one more full ubatch ending 3 cells before the end of the context
//   after_decode  three single-token decodes ending at the last position
//
// Built by tests/llamacpp/CMakeLists.txt against the headers of the llama.cpp source bundled in
// node-llama-cpp (include/, ggml/include/, src/llama-ext.h for llama_get_memory_breakdown).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama-ext.h"
#include "llama.h"

namespace {

struct Args {
  std::string model, lib_dir;
  std::uint32_t n_ctx = 4096, n_batch = 512, n_ubatch = 512, n_seq = 1;
  int flash_attn = 1;  // 0 off, 1 on, -1 auto
  std::string type_k = "f16", type_v = "f16";
  bool mmap = true, kv_unified = false, fill = true, verbose = false;
  int threads = 2;
};

struct Rss {
  std::uint64_t rss = 0, hwm = 0, anon = 0, file = 0, shmem = 0;
};

std::uint64_t kb_field(const std::string& text, const char* key) {
  const std::string k = std::string("\n") + key + ":";
  const std::size_t p = text.find(k);
  if (p == std::string::npos) return 0;
  return std::strtoull(text.c_str() + p + k.size(), nullptr, 10) * 1024;
}

Rss sample() {
  std::ifstream in("/proc/self/status");
  std::stringstream ss;
  ss << "\n" << in.rdbuf();
  const std::string t = ss.str();
  return {kb_field(t, "VmRSS"), kb_field(t, "VmHWM"), kb_field(t, "RssAnon"), kb_field(t, "RssFile"),
          kb_field(t, "RssShmem")};
}

// ggml's large host buffers (ggml_aligned_malloc -> posix_memalign, interposed here: the compute
// buffer, the KV cache, repacked weights) and how many of their pages are resident (mincore):
// reported as "host_buffers" so that the test can check the estimate's resident compute buffer.
struct Big {
  void* p;
  std::size_t n;
};
Big g_big[64];
int g_n_big = 0;

}  // namespace

extern "C" int posix_memalign(void** out, std::size_t align, std::size_t n) {
  using Fn = int (*)(void**, std::size_t, std::size_t);
  static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "posix_memalign"));
  const int r = real(out, align, n);
  if (r == 0 && n >= (256u << 10) && g_n_big < 64) g_big[g_n_big++] = {*out, n};
  return r;
}

namespace {

// {"size": bytes asked for, "resident": resident bytes of the pages it spans} per live buffer;
// LLAMACPP_DRIVER_SMAPS=1 also prints each buffer's resident runs (offsets) on stderr.
std::string host_buffers_json() {
  const std::size_t pg = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const bool verbose = std::getenv("LLAMACPP_DRIVER_SMAPS") != nullptr;
  std::string out = "[";
  for (int i = 0; i < g_n_big; ++i) {
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(g_big[i].p);
    const std::uintptr_t lo = a & ~(pg - 1), hi = (a + g_big[i].n + pg - 1) & ~(pg - 1);
    std::vector<unsigned char> v((hi - lo) / pg);
    if (::mincore(reinterpret_cast<void*>(lo), hi - lo, v.data()) != 0) continue;  // freed, unmapped
    std::size_t res = 0;
    std::string runs;
    for (std::size_t k = 0; k < v.size();) {
      if (!(v[k] & 1)) {
        ++k;
        continue;
      }
      std::size_t e = k;
      while (e < v.size() && (v[e] & 1)) ++e;
      res += (e - k) * pg;
      runs += " [" + std::to_string(static_cast<long long>(lo + k * pg) - static_cast<long long>(a)) + "," +
              std::to_string(static_cast<long long>(lo + e * pg) - static_cast<long long>(a)) + ")";
      k = e;
    }
    if (verbose) std::fprintf(stderr, "buffer size %zu resident %zu runs%s\n", g_big[i].n, res, runs.c_str());
    out += (out.size() > 1 ? ", " : "") + std::string("{\"size\": ") + std::to_string(g_big[i].n) +
           ", \"resident\": " + std::to_string(res) + "}";
  }
  return out + "]";
}

// LLAMACPP_DRIVER_SMAPS=1: every anonymous mapping of 256 KiB or more with its resident bytes,
// on stderr (which buffer is how resident; a diagnostic for the residency model, memory-model.md).
void dump_anon_mappings(const char* phase) {
  if (std::getenv("LLAMACPP_DRIVER_SMAPS") == nullptr) return;
  std::ifstream in("/proc/self/smaps");
  std::string line, head;
  std::uint64_t size = 0;
  bool anon = false;
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 17) {
      head = line;
      std::istringstream hs(line);
      std::string range, perms, off, dev, inode, name;
      hs >> range >> perms >> off >> dev >> inode >> name;
      anon = inode == "0" && (name.empty() || name == "[heap]");
    } else if (line.rfind("Size:", 0) == 0) {
      size = std::strtoull(line.c_str() + 5, nullptr, 10) * 1024;
    } else if (line.rfind("Rss:", 0) == 0 && anon && size >= (64u << 10)) {
      std::fprintf(stderr, "smaps %s size %llu rss %llu  %s\n", phase, static_cast<unsigned long long>(size),
                   static_cast<unsigned long long>(std::strtoull(line.c_str() + 4, nullptr, 10) * 1024), head.c_str());
    }
  }
}

void reset_peak() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0) return;
  if (::write(fd, "5", 1) != 1) std::fprintf(stderr, "driver: cannot reset the peak RSS\n");
  ::close(fd);
}

ggml_type parse_type(const std::string& s) {
  static const std::map<std::string, ggml_type> kTypes = {
      {"f32", GGML_TYPE_F32},   {"f16", GGML_TYPE_F16},     {"bf16", GGML_TYPE_BF16},
      {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0},   {"q4_1", GGML_TYPE_Q4_1},
      {"q5_0", GGML_TYPE_Q5_0}, {"q5_1", GGML_TYPE_Q5_1}, {"iq4_nl", GGML_TYPE_IQ4_NL}};
  const auto it = kTypes.find(s);
  if (it == kTypes.end()) {
    std::fprintf(stderr, "driver: unknown KV type %s\n", s.c_str());
    std::exit(2);
  }
  return it->second;
}

bool parse_args(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "driver: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto u32 = [&]() { return static_cast<std::uint32_t>(std::strtoul(next().c_str(), nullptr, 10)); };
    if (k == "--model") a.model = next();
    else if (k == "--lib-dir") a.lib_dir = next();
    else if (k == "-c") a.n_ctx = u32();
    else if (k == "-b") a.n_batch = u32();
    else if (k == "-ub") a.n_ubatch = u32();
    else if (k == "-np") a.n_seq = u32();
    else if (k == "-fa") a.flash_attn = std::atoi(next().c_str());
    else if (k == "-ctk") a.type_k = next();
    else if (k == "-ctv") a.type_v = next();
    else if (k == "--no-mmap") a.mmap = false;
    else if (k == "-kvu") a.kv_unified = true;
    else if (k == "--no-fill") a.fill = false;
    else if (k == "-t") a.threads = std::atoi(next().c_str());
    else if (k == "-v") a.verbose = true;
    else {
      std::fprintf(stderr, "driver: unknown argument %s\n", k.c_str());
      return false;
    }
  }
  return !a.model.empty() && !a.lib_dir.empty();
}

std::string json_rss(const Rss& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "{\"rss\": %llu, \"hwm\": %llu, \"rss_anon\": %llu, \"rss_file\": %llu, \"rss_shmem\": %llu}",
                static_cast<unsigned long long>(r.rss), static_cast<unsigned long long>(r.hwm),
                static_cast<unsigned long long>(r.anon), static_cast<unsigned long long>(r.file),
                static_cast<unsigned long long>(r.shmem));
  return buf;
}

// Which CPU variant ggml chose: the libggml-cpu-*.so mapped into this process.
std::string loaded_cpu_variant() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t p = line.find("libggml-cpu-");
    if (p != std::string::npos) {
      const std::size_t e = line.find(".so", p);
      return line.substr(p + 12, e == std::string::npos ? std::string::npos : e - p - 12);
    }
  }
  return "";
}

// Decodes n tokens of sequence 0 at positions [pos, pos + n), logits for the last one only.
bool decode(llama_context* ctx, llama_batch& batch, int n_vocab, int pos, int n) {
  batch.n_tokens = n;
  for (int i = 0; i < n; ++i) {
    batch.token[i] = static_cast<llama_token>((pos + i) % n_vocab);
    batch.pos[i] = pos + i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = i == n - 1;
  }
  const int32_t r = llama_decode(ctx, batch);
  if (r != 0) std::fprintf(stderr, "driver: llama_decode at %d (+%d) returned %d\n", pos, n, r);
  return r == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: llamacpp-driver --model M.gguf --lib-dir DIR [-c N] [-b N] [-ub N] [-np N] [-fa 0|1|-1]\n"
                 "       [-ctk T] [-ctv T] [--no-mmap] [-kvu] [-t N] [--no-fill] [-v]\n");
    return 2;
  }
  if (!a.verbose) llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  std::map<std::string, Rss> phases;
  std::vector<std::string> order;
  auto mark = [&](const char* name) {
    phases[name] = sample();
    order.push_back(name);
  };
  mark("start");
  ggml_backend_load_all_from_path(a.lib_dir.c_str());
  llama_backend_init();
  mark("baseline");

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.load_mode = a.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  llama_model* model = llama_model_load_from_file(a.model.c_str(), mp);
  if (model == nullptr) {
    std::fprintf(stderr, "driver: cannot load %s\n", a.model.c_str());
    return 1;
  }
  mark("after_load");

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = a.n_ctx;
  cp.n_batch = a.n_batch;
  cp.n_ubatch = a.n_ubatch;
  cp.n_seq_max = a.n_seq;
  cp.n_threads = a.threads;
  cp.n_threads_batch = a.threads;
  cp.flash_attn_type = a.flash_attn < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO
                                        : (a.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED);
  cp.type_k = parse_type(a.type_k);
  cp.type_v = parse_type(a.type_v);
  cp.kv_unified = a.kv_unified;
  cp.swa_full = false;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr) {
    std::fprintf(stderr, "driver: cannot create the context\n");
    return 1;
  }
  mark("after_ctx");
  dump_anon_mappings("after_ctx");

  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  const int n_ctx_seq = static_cast<int>(llama_n_ctx_seq(ctx));
  const int n_ub = static_cast<int>(llama_n_ubatch(ctx));
  llama_batch batch = llama_batch_init(n_ub, 0, 1);
  bool ok = decode(ctx, batch, n_vocab, 0, n_ub);
  mark("after_ubatch");

  bool final_full = false;
  const int final_pos = n_ctx_seq - n_ub - 3;  // the final ubatch, then 3 single tokens end at the last cell
  if (ok && a.fill && final_pos >= n_ub) {
    for (int pos = n_ub; ok && pos < final_pos; pos += n_ub) ok = decode(ctx, batch, n_vocab, pos, std::min(n_ub, final_pos - pos));
    reset_peak();
    ok = ok && decode(ctx, batch, n_vocab, final_pos, n_ub);
    final_full = ok;
    mark("after_final_ubatch");
    for (int i = 0; ok && i < 3; ++i) ok = decode(ctx, batch, n_vocab, n_ctx_seq - 3 + i, 1);
  }
  mark("after_decode");
  dump_anon_mappings("after_decode");
  const std::string host_buffers = host_buffers_json();
  const Rss end = sample();

  std::string out = "{\"driver\": \"llamacpp-driver\", \"cpu_variant\": \"" + loaded_cpu_variant() + "\", ";
  out += "\"ok\": " + std::string(ok ? "true" : "false") + ", ";
  out += "\"breakdown\": {";
  bool first = true;
  std::uint64_t tm = 0, tc = 0, tp = 0;
  for (const auto& [buft, mb] : llama_get_memory_breakdown(ctx)) {
    char buf[384];
    std::snprintf(buf, sizeof buf, "%s\"%s\": {\"model\": %zu, \"context\": %zu, \"compute\": %zu, \"is_host\": %s}",
                  first ? "" : ", ", ggml_backend_buft_name(buft), mb.model, mb.context, mb.compute,
                  ggml_backend_buft_is_host(buft) ? "true" : "false");
    out += buf;
    first = false;
    tm += mb.model;
    tc += mb.context;
    tp += mb.compute;
  }
  char tot[160];
  std::snprintf(tot, sizeof tot, "%s\"_total\": {\"model\": %llu, \"context\": %llu, \"compute\": %llu}}, ", first ? "" : ", ",
                static_cast<unsigned long long>(tm), static_cast<unsigned long long>(tc), static_cast<unsigned long long>(tp));
  out += tot;
  out += "\"rss_phases\": {";
  for (std::size_t i = 0; i < order.size(); ++i) out += (i ? ", \"" : "\"") + order[i] + "\": " + json_rss(phases[order[i]]);
  out += "}, \"peak_rss\": " + std::to_string(end.hwm) + ", ";
  out += "\"host_buffers\": " + host_buffers + ", ";
  out += "\"workload\": {\"final_full_ubatch_at_end\": " + std::string(final_full ? "true" : "false") + "}, ";
  out += "\"ctx_info\": {\"n_ctx\": " + std::to_string(llama_n_ctx(ctx)) + ", \"n_ctx_seq\": " + std::to_string(n_ctx_seq) +
         ", \"n_batch\": " + std::to_string(llama_n_batch(ctx)) + ", \"n_ubatch\": " + std::to_string(n_ub) +
         ", \"n_seq_max\": " + std::to_string(llama_n_seq_max(ctx)) + "}}";
  std::printf("%s\n", out.c_str());

  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return ok ? 0 : 1;
}
