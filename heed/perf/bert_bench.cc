#include "heed/perf/bert_bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "heed/autograd/engine.h"
#include "heed/autograd/node.h"
#include "heed/base/fs.h"
#include "heed/base/parallel.h"
#include "heed/models/bert_heads.h"
#include "heed/ops/cross_entropy.h"
#include "heed/ops/autocast.h"
#include "heed/ops/elementwise.h"
#include "heed/peft/peft_model.h"
#include "heed/train/optimizer.h"

namespace heed::perf {

models::BertConfig bench_config(const std::string& name) {
  models::BertConfig c;  // defaults are bert-base-uncased's
  if (name == "base") return c;
  if (name == "mini") {  // google/bert_uncased_L-4_H-256_A-4
    c.num_hidden_layers = 4;
    c.hidden_size = 256;
    c.num_attention_heads = 4;
    c.intermediate_size = 1024;
    return c;
  }
  return models::BertConfig::from_file(name + "/config.json");
}

double bert_flops(const models::BertConfig& cfg, int64_t B, int64_t T, BenchMode mode) {
  const double M = double(B * T), C = double(cfg.hidden_size), F = double(cfg.intermediate_size);
  const double V = double(cfg.vocab_size), L = double(cfg.num_hidden_layers);
  const double encoder = L * (2 * M * (4 * C * C + 2 * C * F) + 4 * double(B) * T * T * C);
  if (mode == BenchMode::Infer) return encoder;
  // Forward + backward of the encoder (backward ~2x forward; with a frozen base the
  // weight gradients are skipped, so PEFT steps do less work than this counts).
  if (mode == BenchMode::Finetune) return 3 * encoder;
  return 3 * (encoder + 2 * M * C * C + 2 * M * C * V);
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

namespace {

double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Random ids in [1000, V) (no special tokens), one sequence length, no padding.
std::vector<int64_t> random_ids(int64_t n, int64_t V, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  const int64_t lo = std::min<int64_t>(1000, V / 2);
  for (auto& id : ids) id = lo + int64_t(g.uniform() * float(V - lo - 1));
  return ids;
}

template <class F>
void time_iters(const BertBenchOptions& o, BertBenchResult& r, F&& step) {
  for (int i = 0; i < o.warmup; ++i) step();
  const double c0 = cpu_seconds();
  for (int i = 0; i < o.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const auto t1 = std::chrono::steady_clock::now();
    r.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  r.cpu_s = cpu_seconds() - c0;
}

}  // namespace

BertBenchResult run_bert_bench(const BertBenchOptions& o) {
  HEED_CHECK(o.batch > 0 && o.seq > 0 && o.iters > 0,
             "bench: batch {}, seq {} and iters {} must be positive", o.batch, o.seq, o.iters);
  if (o.threads > 0) set_num_threads(o.threads);
  const models::BertConfig cfg = bench_config(o.model_config);
  HEED_CHECK(o.seq <= cfg.max_position_embeddings, "bench: --seq {} exceeds max_position_embeddings {}",
             o.seq, cfg.max_position_embeddings);
  const int64_t B = o.batch, T = o.seq, M = B * T;
  const std::vector<int64_t> ids = random_ids(M, cfg.vocab_size, o.seed + 1);
  BertBenchResult r;
  r.threads = num_threads();
  const bool bf16 = o.precision == infer::Precision::BF16;  // training: mixed precision

  if (o.mode == BenchMode::Infer) {
    infer::BertEngine engine(cfg, infer::random_bert_weights(cfg, o.seed),
                             {.precision = o.precision, .pooler = false,
                              .attention_bf16 = o.attention_bf16});
    r.attention = engine.attention_in_bf16() ? "bf16" : "f32";
    std::vector<float> hidden(size_t(M * cfg.hidden_size));
    time_iters(o, r, [&] {
      engine.forward(hidden.data(), nullptr, ids.data(), nullptr, nullptr, B, T);
    });
  } else if (o.mode == BenchMode::Finetune) {
    HEED_CHECK(o.precision != infer::Precision::Int8,
               "bench: fine-tuning runs in f32 or bf16 (mixed precision), not int8");
    Generator init(o.seed);
    models::BertConfig c = cfg;
    c.num_labels = 2;
    c.id2label.clear();
    c.label2id.clear();
    std::shared_ptr<models::BertPreTrainedModel> model(
        models::make_bert(c, models::BertHead::SequenceClassification, init));
    std::unique_ptr<peft::PeftModel> pm;
    nn::Module* root = model.get();
    if (!o.peft.empty()) {
      nlohmann::json over = nlohmann::json::object();
      if (!o.peft_config.empty()) over = nlohmann::json::parse(read_file(o.peft_config));
      over["task_type"] = "SEQ_CLS";
      pm = std::make_unique<peft::PeftModel>(model);
      pm->add_adapter("default", peft::PeftConfig::make(peft::parse_peft_type(o.peft), over), o.seed + 5);
      root = pm.get();
    }
    root->train();
    root->set_generator(std::make_shared<Generator>(o.seed + 2));
    train::AdamW opt(train::decay_groups(root->named_parameters(), 0.01f), {.lr = 1e-4f});
    for (auto& [n, t] : root->named_parameters()) {
      r.total_params += t.numel();
      if (t.requires_grad()) r.trainable_params += t.numel();
    }
    models::BertInputs in;
    in.input_ids = Tensor::from_vector(ids, Shape{B, T});
    std::vector<int64_t> y(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) y[size_t(b)] = b % 2;
    const Tensor labels = Tensor::from_vector(y, Shape{B});
    time_iters(o, r, [&] {
      opt.zero_grad();
      ops::Autocast autocast(bf16 ? ops::MatmulPrecision::BF16 : ops::MatmulPrecision::F32);
      const models::BertOutput out = pm ? pm->forward(in) : model->forward(in);
      Tensor loss = ops::cross_entropy(out.logits, labels);
      if (pm)
        if (const Tensor reg = pm->regularization_loss(); reg.defined()) loss = ops::add(loss, reg);
      autograd::backward(loss);
      opt.step();
    });
  } else {
    HEED_CHECK(o.precision != infer::Precision::Int8,
               "bench: training runs in f32 or bf16 (mixed precision), not int8");
    Generator init(o.seed);
    auto model = models::make_bert(cfg, models::BertHead::MaskedLM, init);
    model->train();
    model->set_generator(std::make_shared<Generator>(o.seed + 2));
    train::AdamW opt(train::decay_groups(model->named_parameters(), 0.01f), {.lr = 1e-4f});
    r.total_params = r.trainable_params = model->num_parameters();
    models::BertInputs in;
    in.input_ids = Tensor::from_vector(ids, Shape{B, T});
    in.labels = Tensor::from_vector(random_ids(M, cfg.vocab_size, o.seed + 3), Shape{B, T});
    in.fused_mlm_loss = o.fused_head;
    time_iters(o, r, [&] {
      opt.zero_grad();
      ops::Autocast autocast(bf16 ? ops::MatmulPrecision::BF16 : ops::MatmulPrecision::F32);
      const models::BertOutput out = model->forward(in);  // loss (), logits unless fused
      autograd::backward(out.loss);
      opt.step();
    });
  }
  std::vector<double> s = r.latencies_ms;
  std::sort(s.begin(), s.end());
  r.latency_ms_median = s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
  r.latency_ms_min = s.front();
  r.latency_ms_max = s.back();
  r.tokens_per_s = double(M) / (r.latency_ms_median / 1e3);
  r.gflop = bert_flops(cfg, B, T, o.mode) / 1e9;
  r.gflops = r.gflop / (r.latency_ms_median / 1e3);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

std::string format_bench(const BertBenchOptions& o, const BertBenchResult& r, bool json) {
  const char* mode = o.mode == BenchMode::Infer   ? "infer"
                     : o.mode == BenchMode::Train ? "train"
                                                  : "finetune";
  const std::string_view prec = infer::precision_name(o.precision);
  const char* head = o.mode != BenchMode::Train ? "" : o.fused_head ? "fused" : "unfused";
  std::string s = fmt::format(
      "heed bench: model {} mode {} dtype {} batch {} seq {} threads {} iters {}{}{}\n"
      "  latency median {:.2f} ms (min {:.2f}, max {:.2f})\n"
      "  tokens/s {:.0f}\n"
      "  {:.1f} GFLOP per iteration -> {:.1f} GFLOP/s\n"
      "  peak RSS {:.0f} MB; CPU time {:.2f} s over {} timed iterations\n"
      "{}",
      o.model_config, mode, prec, o.batch, o.seq, r.threads, o.iters,
      *head ? fmt::format(" mlm-head {}", head) : std::string(),
      o.mode == BenchMode::Infer ? fmt::format(" attention {}", r.attention) : std::string(),
      r.latency_ms_median,
      r.latency_ms_min, r.latency_ms_max, r.tokens_per_s, r.gflop, r.gflops, r.peak_rss_mb,
      r.cpu_s, o.iters,
      o.mode == BenchMode::Infer
          ? std::string()
          : fmt::format("  trainable parameters {} of {} ({}){}\n", r.trainable_params, r.total_params,
                        o.peft.empty() ? "full" : o.peft,
                        r.total_params > 0 ? fmt::format(", {:.2f}%", 100.0 * double(r.trainable_params) / double(r.total_params)) : ""));
  if (json) {
    std::string lat;
    for (double v : r.latencies_ms) {
      if (!lat.empty()) lat.push_back(',');
      lat.append(fmt::format("{:.3f}", v));
    }
    s += fmt::format(
        "{{\"model\":\"{}\",\"mode\":\"{}\",\"dtype\":\"{}\",\"batch\":{},\"seq\":{},"
        "\"threads\":{},\"latency_ms_median\":{:.3f},\"latency_ms_min\":{:.3f},"
        "\"latency_ms_max\":{:.3f},\"tokens_per_s\":{:.1f},\"gflop\":{:.3f},\"gflops\":{:.2f},"
        "\"peak_rss_mb\":{:.1f},\"cpu_s\":{:.3f},\"peft\":\"{}\",\"trainable_params\":{},"
        "\"total_params\":{},\"mlm_head\":\"{}\",\"attention\":\"{}\",\"latencies_ms\":[{}]}}\n",
        o.model_config, mode, prec, o.batch, o.seq, r.threads, r.latency_ms_median,
        r.latency_ms_min, r.latency_ms_max, r.tokens_per_s, r.gflop, r.gflops, r.peak_rss_mb,
        r.cpu_s, o.peft, r.trainable_params, r.total_params,
        head, r.attention, lat);
  }
  return s;
}

}  // namespace heed::perf
