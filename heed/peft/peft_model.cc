#include "heed/peft/peft_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>

#include "heed/autograd/node.h"
#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/io/safetensors.h"
#include "heed/models/bert_heads.h"
#include "heed/models/bert_pretrained.h"
#include "heed/nn/transformer_encoder_layer.h"
#include "heed/ops/linear.h"
#include "heed/ops/elementwise.h"
#include "heed/ops/reduce.h"
#include "heed/peft/adalora.h"
#include "heed/peft/bottleneck.h"
#include "heed/peft/ia3.h"
#include "heed/peft/lora.h"
#include "heed/peft/prefix_tuning.h"

namespace heed::peft {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kBasePrefix = "base_model.model";
constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

// "a.default.weight" -> "a.weight": PEFT removes ".<adapter>" from saved keys.
std::string strip_adapter(const std::string& key, const std::string& adapter) {
  const std::string seg = "." + adapter;
  std::string out;
  size_t i = 0;
  while (i < key.size()) {
    if (key.compare(i, seg.size(), seg) == 0 &&
        (i + seg.size() == key.size() || key[i + seg.size()] == '.')) {
      i += seg.size();
      continue;
    }
    out += key[i++];
  }
  return out;
}

// The layer index in a module name ("bert.encoder.layer.3.attention.self.query" -> 3).
int64_t layer_index(const std::string& name) {
  static const std::regex re(R"((?:^|\.)(?:layer|layers|h|blocks)\.(\d+)(?:\.|$))");
  std::smatch m;
  if (std::regex_search(name, m, re)) return std::stoll(m[1].str());
  return -1;
}

bool layer_selected(const PeftConfig& c, const std::string& name) {
  if (c.layers_to_transform.empty()) return true;
  const int64_t l = layer_index(name);
  return std::find(c.layers_to_transform.begin(), c.layers_to_transform.end(), l) !=
         c.layers_to_transform.end();
}

// PEFT's pattern lookup for rank_pattern / alpha_pattern keys: the key matches the end
// of the module name at a "." boundary (a regex, as PEFT's re.match(rf".*\.{key}$")).
template <class V>
const V* pattern_value(const std::map<std::string, V>& pat, const std::string& name) {
  for (const auto& [k, v] : pat)
    if (name == k || regex_full_match(name, "(?:.*\\.)?(?:" + k + ")")) return &v;
  return nullptr;
}

std::string shape_str(const Tensor& t) { return fmt::format("{}", t.shape()); }

}  // namespace

struct PeftModel::Adapter {
  std::string name;
  PeftConfig cfg;
  struct LinearUnit {
    std::string module;  // base-relative module name
    nn::Linear* linear = nullptr;
    std::shared_ptr<const nn::LinearHook> hook;
    std::shared_ptr<LoraLinear> lora;
    std::shared_ptr<AdaLoraLinear> ada;
    std::shared_ptr<IA3Linear> ia3;
  };
  std::vector<LinearUnit> linears;
  std::shared_ptr<PrefixEncoder> prefix;
  std::vector<nn::MultiHeadAttention*> attentions;
  std::vector<std::shared_ptr<const nn::AttentionPrefixHook>> prefix_hooks;
  struct SublayerUnit {
    nn::TransformerEncoderLayer* layer = nullptr;
    std::shared_ptr<BottleneckAdapter> attn, ffn;
  };
  std::vector<SublayerUnit> sublayers;
  // The adapter's own tensors: (in-memory name, tensor).
  std::vector<std::pair<std::string, Tensor>> params;
  // modules_to_save: base-relative parameter name -> this adapter's copy (kept here while
  // another adapter is active; the base module holds the active adapter's values).
  std::vector<std::pair<std::string, Tensor>> saved_modules;
  std::unique_ptr<RankAllocator> allocator;
};

PeftModel::PeftModel(std::shared_ptr<models::BertPreTrainedModel> base) : base_(std::move(base)) {
  HEED_CHECK(base_ != nullptr, "PeftModel: no base model");
  register_module(kBasePrefix, base_);
  base_->requires_grad(false);
  if (base_->generator()) set_generator(base_->generator());
}

PeftModel::~PeftModel() = default;

PeftModel::Adapter& PeftModel::adapter(const std::string& name) {
  const std::string& n = name.empty() ? active_ : name;
  auto it = adapters_.find(n);
  HEED_CHECK(it != adapters_.end(), "PeftModel: no adapter named \"{}\" (loaded: [{}])", n,
             fmt::join(adapter_names(), ", "));
  return *it->second;
}

const PeftModel::Adapter& PeftModel::adapter(const std::string& name) const {
  return const_cast<PeftModel*>(this)->adapter(name);
}

std::vector<std::string> PeftModel::adapter_names() const {
  std::vector<std::string> out;
  for (const auto& [n, a] : adapters_) out.push_back(n);
  return out;
}

const PeftConfig& PeftModel::adapter_config(const std::string& name) const { return adapter(name).cfg; }

void PeftModel::build_units(Adapter& a, uint64_t seed, const std::map<std::string, Tensor>* saved,
                            const std::string& where) {
  const PeftConfig& c = a.cfg;
  Generator gen(seed);
  auto saved_at = [&](const std::string& key) -> const Tensor* {
    if (!saved) return nullptr;
    auto it = saved->find(key);
    HEED_CHECK(it != saved->end(), "{}: key \"{}\" is missing", where, key);
    return &it->second;
  };
  const auto modules = base_->named_modules();
  const std::string mts_list = fmt::format("{}", fmt::join(c.modules_to_save, ", "));
  auto in_modules_to_save = [&](const std::string& name) {
    for (const auto& m : c.modules_to_save)
      if (name == m || name.ends_with("." + m)) return true;
    return false;
  };

  if (c.type == PeftType::Lora || c.type == PeftType::AdaLora || c.type == PeftType::IA3) {
    std::vector<std::string> linear_names;
    for (const auto& [name, mod] : modules) {
      auto* lin = dynamic_cast<nn::Linear*>(mod);
      if (!lin) continue;
      linear_names.push_back(name);
      if (!c.target_modules.matches(name) || c.exclude_modules.matches(name) ||
          !layer_selected(c, name) || in_modules_to_save(name))
        continue;
      HEED_CHECK(!lin->hook(), "PeftModel: {} is already adapted by another active adapter", name);
      Adapter::LinearUnit u;
      u.module = name;
      u.linear = lin;
      const std::string mem = std::string(kBasePrefix) + "." + name;
      if (c.type == PeftType::Lora) {
        LoraOptions o{.r = c.r, .alpha = c.lora_alpha, .dropout = c.lora_dropout,
                      .use_rslora = c.use_rslora,
                      .gaussian_init = c.fields.value("init_lora_weights", json(true)) == "gaussian"};
        if (const auto* rr = pattern_value(c.rank_pattern, name)) o.r = *rr;
        if (const auto* aa = pattern_value(c.alpha_pattern, name)) o.alpha = *aa;
        if (const Tensor* A = saved_at(mem + ".lora_A.weight")) {
          HEED_CHECK(A->ndim() == 2 && A->size(1) == lin->config().in && A->size(0) > 0,
                     "{}: {}.lora_A.weight has shape {}, expected (r, {})", where, mem, shape_str(*A),
                     lin->config().in);
          o.r = A->size(0);
        }
        u.lora = std::make_shared<LoraLinear>(*lin, a.name, o, gen);
        register_module(mem, u.lora);
        u.hook = u.lora;
      } else if (c.type == PeftType::AdaLora) {
        AdaLoraOptions o{.r = c.init_r, .alpha = c.lora_alpha, .dropout = c.lora_dropout,
                         .ranknum = double(c.init_r)};
        if (const Tensor* A = saved_at(mem + ".lora_A")) {
          HEED_CHECK(A->ndim() == 2 && A->size(1) == lin->config().in && A->size(0) <= c.init_r,
                     "{}: {}.lora_A has shape {}, expected (r <= init_r = {}, {})", where, mem,
                     shape_str(*A), c.init_r, lin->config().in);
          o.r = A->size(0);
        }
        u.ada = std::make_shared<AdaLoraLinear>(*lin, a.name, o, gen);
        register_module(mem, u.ada);
        u.hook = u.ada;
      } else {
        const bool ff = c.feedforward_modules.matches_feedforward(name);
        u.ia3 = std::make_shared<IA3Linear>(*lin, a.name, ff, c.init_ia3_weights, gen);
        register_module(mem, u.ia3);
        u.hook = u.ia3;
      }
      a.linears.push_back(u);
    }
    HEED_CHECK(!a.linears.empty(),
               "PeftModel: target_modules {} matched no Linear layer of the model (its Linear "
               "layers are named like {}{})",
               c.to_json()["target_modules"].dump(),
               linear_names.empty() ? "(none)" : linear_names.front(),
               linear_names.size() > 1 ? ", " + linear_names[1] + ", ..." : "");
  }

  if (c.type == PeftType::PrefixTuning) {
    for (const auto& [name, mod] : modules)
      if (auto* att = dynamic_cast<nn::MultiHeadAttention*>(mod)) a.attentions.push_back(att);
    HEED_CHECK(int64_t(a.attentions.size()) == c.num_layers,
               "prefix tuning: num_layers is {} but the model has {} attention layers", c.num_layers,
               a.attentions.size());
    PrefixShape s{.virtual_tokens = c.num_virtual_tokens, .layers = c.num_layers,
                  .heads = c.num_attention_heads, .hidden = c.token_dim,
                  .projection = c.prefix_projection && !saved,
                  .encoder_hidden = c.encoder_hidden_size};
    a.prefix = std::make_shared<PrefixEncoder>(s, gen);
    register_module("prompt_encoder." + a.name, a.prefix);
    if (const Tensor* p = saved_at("prompt_embeddings")) {
      HEED_CHECK(p->shape() == Shape({s.virtual_tokens, s.layers * 2 * s.hidden}),
                 "{}: prompt_embeddings has shape {}, expected (num_virtual_tokens {}, num_layers * 2 "
                 "* token_dim = {})",
                 where, shape_str(*p), s.virtual_tokens, s.layers * 2 * s.hidden);
      a.prefix->load_prompts(*p);
    }
    a.prefix_hooks = a.prefix->layer_hooks();
  }

  if (c.type == PeftType::Bottleneck) {
    for (const auto& [name, mod] : modules) {
      auto* layer = dynamic_cast<nn::TransformerEncoderLayer*>(mod);
      if (!layer || !layer_selected(c, name)) continue;
      Adapter::SublayerUnit u;
      u.layer = layer;
      const int64_t C = base_->config().hidden_size;
      const std::string mem = std::string(kBasePrefix) + "." + name;
      if (c.placement == "houlsby") {
        u.attn = std::make_shared<BottleneckAdapter>(C, c.reduction_factor, c.non_linearity, a.name, gen);
        register_module(mem + ".attention.output", u.attn);
      }
      u.ffn = std::make_shared<BottleneckAdapter>(C, c.reduction_factor, c.non_linearity, a.name, gen);
      register_module(mem + ".output", u.ffn);
      a.sublayers.push_back(u);
    }
    HEED_CHECK(!a.sublayers.empty(), "bottleneck adapter: the model has no encoder layer to adapt");
  }

  // The adapter's own tensors, by in-memory name.
  for (auto& [n, t] : named_parameters()) {
    const std::string seg = "." + a.name;
    bool mine = false;
    for (size_t p = n.find(seg); p != std::string::npos; p = n.find(seg, p + 1))
      if (p + seg.size() == n.size() || n[p + seg.size()] == '.') mine = true;
    if (mine && !n.starts_with(std::string(kBasePrefix) + ".") && !n.starts_with("prompt_encoder."))
      mine = false;
    if (mine) a.params.emplace_back(n, t);
  }
  if (saved && c.type != PeftType::PrefixTuning) {
    for (auto& [n, t] : a.params) {
      const std::string key = strip_adapter(n, a.name);
      const Tensor* s = saved_at(key);
      HEED_CHECK(s->shape() == t.shape(), "{}: {} has shape {} but the model needs {}", where, key,
                 shape_str(*s), shape_str(t));
      t.copy_(*s);
    }
  }

  // modules_to_save: the listed modules' parameters (base-relative names).
  std::set<std::string> found;
  for (const auto& [pn, t] : base_->named_parameters()) {
    // PEFT wraps every module whose name ends with a listed name, with all its
    // descendants: "pooler" covers bert.pooler.dense.weight. Check every ancestor.
    auto under = [&](const std::string& m) {
      for (size_t dot = pn.find('.'); dot != std::string::npos; dot = pn.find('.', dot + 1)) {
        const std::string mod = pn.substr(0, dot);
        if (mod == m || mod.ends_with("." + m)) return true;
      }
      return false;
    };
    for (const auto& m : c.modules_to_save)
      if (under(m)) {
        found.insert(m);
        Tensor copy = t.clone();
        if (saved) {
          const std::string key = (is_prompt_learning(c.type) ? std::string("base_model") : std::string(kBasePrefix)) + "." + pn;
          const Tensor* s = saved_at(key);
          HEED_CHECK(s->shape() == t.shape(),
                     "{}: {} has shape {} but the model's {} is {} (was the adapter trained for "
                     "another number of labels?)",
                     where, key, shape_str(*s), pn, shape_str(t));
          copy.copy_(*s);
        }
        a.saved_modules.emplace_back(pn, copy);
      }
  }
  // Names the model lacks are skipped, as PEFT does (its configs may list "score", the
  // head's name in other architectures).

  if (c.type == PeftType::AdaLora) {
    std::vector<std::shared_ptr<AdaLoraLinear>> units;
    for (auto& u : a.linears) units.push_back(u.ada);
    a.allocator = std::make_unique<RankAllocator>(
        units, RankSchedule{.init_r = c.init_r, .target_r = c.target_r, .tinit = c.tinit,
                            .tfinal = c.tfinal, .deltaT = c.deltaT, .total_step = c.total_step,
                            .beta1 = c.beta1, .beta2 = c.beta2});
  }
  if (saved) {
    // Every saved key must have been used.
    std::set<std::string> used;
    for (auto& [n, t] : a.params) used.insert(strip_adapter(n, a.name));
    if (c.type == PeftType::PrefixTuning) used.insert("prompt_embeddings");
    for (auto& [pn, t] : a.saved_modules)
      used.insert((is_prompt_learning(c.type) ? std::string("base_model") : std::string(kBasePrefix)) + "." + pn);
    std::vector<std::string> extra;
    for (const auto& [k, t] : *saved)
      if (!used.count(k)) extra.push_back(k);
    // bias="all"/"lora_only" adapters carry trained biases of the base model.
    std::vector<std::string> unknown;
    for (const auto& k : extra) {
      if (c.bias != "none" && k.ends_with(".bias") && k.starts_with(std::string(kBasePrefix) + ".")) {
        std::string pn = k.substr(std::string(kBasePrefix).size() + 1);
        const size_t bl = pn.find(".base_layer.");
        if (bl != std::string::npos) pn.erase(bl, std::string(".base_layer").size());
        bool ok = false;
        for (auto& [n, t] : base_->named_parameters())
          if (n == pn) {
            HEED_CHECK(t.shape() == saved->at(k).shape(), "{}: {} has shape {}, the model's {} is {}",
                       where, k, shape_str(saved->at(k)), n, shape_str(t));
            a.saved_modules.emplace_back(n, saved->at(k).to(DType::F32).clone());
            ok = true;
          }
        if (ok) continue;
      }
      unknown.push_back(k);
    }
    HEED_CHECK(unknown.empty(), "{}: unexpected keys for a {} adapter: [{}]", where,
               peft_type_name(c.type), fmt::join(unknown, ", "));
  }
}

void PeftModel::add_adapter(const std::string& name, PeftConfig cfg, uint64_t seed) {
  HEED_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "PeftModel: adapter name \"{}\" must be non-empty and hold no '.'", name);
  HEED_CHECK(!adapters_.count(name), "PeftModel: an adapter named \"{}\" exists already", name);
  HEED_CHECK(!merged_, "PeftModel: unmerge before adding an adapter");
  cfg.complete_for(base_->config());
  uninstall();
  auto a = std::make_unique<Adapter>();
  a->name = name;
  a->cfg = std::move(cfg);
  build_units(*a, seed, nullptr, "PeftModel");
  adapters_[name] = std::move(a);
  if (generator()) set_generator(generator());
  train(is_training());
  set_adapter(name);
}

void PeftModel::load_adapter(const std::string& dir, const std::string& name) {
  HEED_CHECK(fs::is_directory(dir), "{}: not an adapter directory", dir);
  HEED_CHECK(!adapters_.count(name), "PeftModel: an adapter named \"{}\" exists already", name);
  HEED_CHECK(!merged_, "PeftModel: unmerge before loading an adapter");
  const std::string cpath = (fs::path(dir) / kConfigFile).string();
  PeftConfig cfg = PeftConfig::from_file(cpath);
  cfg.complete_for(base_->config());
  const std::string wpath = (fs::path(dir) / kWeightsFile).string();
  HEED_CHECK(fs::is_regular_file(wpath), "{}: missing (heed reads adapters in safetensors format)",
             wpath);
  const io::SafetensorsFile f = io::load_safetensors(wpath);
  std::map<std::string, Tensor> saved;
  for (const auto& n : f.names) saved[n] = f.at_f32(n);
  // AdaLoRA saved with a rank pattern: the tensors are already cut to the kept ranks.
  uninstall();
  auto a = std::make_unique<Adapter>();
  a->name = name;
  a->cfg = std::move(cfg);
  build_units(*a, 0, &saved, wpath);
  adapters_[name] = std::move(a);
  if (generator()) set_generator(generator());
  train(is_training());
  set_adapter(name);
}

void PeftModel::uninstall() {
  if (!active_.empty() && adapters_.count(active_)) {
    Adapter& a = *adapters_.at(active_);
    // Keep the active adapter's head weights with it.
    std::map<std::string, Tensor> live;
    for (auto& [n, t] : base_->named_parameters()) live[n] = t;
    for (auto& [pn, copy] : a.saved_modules) copy.copy_(live.at(pn));
  }
  for (const auto& [n, mod] : base_->named_modules()) {
    if (auto* lin = dynamic_cast<nn::Linear*>(mod)) lin->set_hook(nullptr);
    if (auto* att = dynamic_cast<nn::MultiHeadAttention*>(mod)) att->set_prefix_hook(nullptr);
    if (auto* layer = dynamic_cast<nn::TransformerEncoderLayer*>(mod)) layer->set_sublayer_hooks(nullptr, nullptr);
  }
}

void PeftModel::install(Adapter& a) {
  for (auto& u : a.linears) u.linear->set_hook(u.hook);
  for (size_t l = 0; l < a.attentions.size(); ++l) a.attentions[l]->set_prefix_hook(a.prefix_hooks[l]);
  for (auto& u : a.sublayers) u.layer->set_sublayer_hooks(u.attn, u.ffn);
  std::map<std::string, Tensor> live;
  for (auto& [n, t] : base_->named_parameters()) live[n] = t;
  for (auto& [pn, copy] : a.saved_modules) live.at(pn).copy_(copy);
}

void PeftModel::set_trainable(Adapter& a) {
  for (auto& [n, t] : named_parameters()) t.set_requires_grad(false);
  for (auto& [n, t] : a.params) t.set_requires_grad(true);
  std::map<std::string, Tensor> live;
  for (auto& [n, t] : base_->named_parameters()) live[n] = t;
  for (auto& [pn, copy] : a.saved_modules) live.at(pn).set_requires_grad(true);
  if (a.cfg.bias == "all") {
    for (auto& [n, t] : live)
      if (n.find("bias") != std::string::npos) t.set_requires_grad(true);
  } else if (a.cfg.bias == "lora_only") {
    for (auto& u : a.linears)
      if (u.linear->bias().defined()) live.at(u.module + ".bias").set_requires_grad(true);
  }
}

void PeftModel::set_adapter(const std::string& name) {
  HEED_CHECK(!merged_, "PeftModel: unmerge before switching adapters");
  Adapter& a = adapter(name);
  uninstall();  // whichever adapter is installed, this one included
  active_ = a.name;
  install(a);
  set_trainable(a);
}

models::BertOutput PeftModel::forward(const models::BertInputs& in) const {
  HEED_CHECK(!active_.empty(), "PeftModel: no adapter is loaded");
  const Adapter& a = adapter(active_);
  std::optional<PrefixEncoder::ForwardScope> prompts_once;
  if (a.prefix) prompts_once.emplace(*a.prefix);
  if (a.prefix && !in.position_ids.defined() && in.input_ids.defined() && in.input_ids.ndim() == 2) {
    models::BertInputs shifted = in;
    const int64_t P = a.cfg.num_virtual_tokens, T = in.input_ids.size(1);
    HEED_CHECK(P + T <= base_->config().max_position_embeddings,
               "prefix tuning: {} virtual tokens + sequence length {} exceed max_position_embeddings "
               "{} (HF's BERT numbers positions after the prefix); shorten the input",
               P, T, base_->config().max_position_embeddings);
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = P + t;
    shifted.position_ids = Tensor::from_vector(pos, Shape{1, T});
    return base_->forward(shifted);
  }
  return base_->forward(in);
}

Tensor PeftModel::regularization_loss() const {
  if (active_.empty()) return Tensor();
  const Adapter& a = adapter(active_);
  if (a.cfg.type != PeftType::AdaLora || a.cfg.orth_reg_weight <= 0) return Tensor();
  Tensor total;
  int64_t n = 0;
  for (const auto& u : a.linears) {
    if (u.ada->r() == 0) continue;
    const Tensor o = u.ada->orthogonality();
    total = total.defined() ? ops::add(total, o) : o;
    n += 2;  // PEFT counts lora_A and lora_B separately
  }
  if (!total.defined()) return Tensor();
  return ops::scale(total, float(a.cfg.orth_reg_weight / double(n)));
}

train::StepHook* PeftModel::step_hook() {
  if (active_.empty()) return nullptr;
  return adapter(active_).allocator.get();
}

std::map<std::string, int64_t> PeftModel::adalora_ranks() const {
  std::map<std::string, int64_t> out;
  if (active_.empty()) return out;
  for (const auto& u : adapter(active_).linears)
    if (u.ada) out[u.module] = u.ada->rank();
  return out;
}

int64_t PeftModel::num_trainable_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters())
    if (t.requires_grad()) n += t.numel();
  return n;
}

int64_t PeftModel::num_total_parameters() const { return num_parameters(); }

std::vector<std::pair<std::string, Tensor>> PeftModel::adapter_state_dict(const std::string& name) const {
  const Adapter& a = adapter(name);
  const PeftConfig& c = a.cfg;
  std::vector<std::pair<std::string, Tensor>> out;
  if (c.type == PeftType::PrefixTuning) {
    autograd::NoGradGuard ng;
    out.emplace_back("prompt_embeddings", a.prefix->prompts().contiguous().clone());
  } else if (c.type == PeftType::AdaLora) {
    // PEFT's resize_state_dict_by_rank_pattern: keep only the ranks still in use.
    for (const auto& u : a.linears) {
      const std::string mem = std::string(kBasePrefix) + "." + u.module;
      const std::vector<float> keep = u.ada->importance().rank_mask.to_vector();
      std::vector<int64_t> idx;
      for (size_t i = 0; i < keep.size(); ++i)
        if (keep[i] != 0.0f) idx.push_back(int64_t(i));
      const int64_t r = u.ada->r(), k = int64_t(idx.size());
      const Tensor A = u.ada->lora_A(), B = u.ada->lora_B(), E = u.ada->lora_E();
      const int64_t in = A.size(1), outf = B.size(0);
      Tensor a2 = Tensor::empty(Shape{k, in}), b2 = Tensor::empty(Shape{outf, k}), e2 = Tensor::empty(Shape{k, 1});
      for (int64_t j = 0; j < k; ++j) {
        std::copy_n(A.data<float>() + idx[size_t(j)] * in, in, a2.data<float>() + j * in);
        for (int64_t o = 0; o < outf; ++o) b2.data<float>()[o * k + j] = B.data<float>()[o * r + idx[size_t(j)]];
        e2.data<float>()[j] = E.data<float>()[idx[size_t(j)]];
      }
      out.emplace_back(mem + ".lora_A", a2);
      out.emplace_back(mem + ".lora_B", b2);
      out.emplace_back(mem + ".lora_E", e2);
    }
  } else {
    for (const auto& [n, t] : a.params) out.emplace_back(strip_adapter(n, a.name), t.contiguous());
  }
  // Base-model biases trained with bias="all" / "lora_only" (PEFT's names: a LoRA-wrapped
  // layer's own parameters sit under ".base_layer").
  std::map<std::string, Tensor> live;
  for (auto& [n, t] : base_->named_parameters()) live[n] = t;
  if ((c.type == PeftType::Lora || c.type == PeftType::AdaLora) && c.bias != "none") {
    std::set<std::string> targeted;
    for (const auto& u : a.linears) targeted.insert(u.module);
    for (auto& [n, t] : live) {
      if (n.find("bias") == std::string::npos || !n.ends_with(".bias")) continue;
      const std::string mod = n.substr(0, n.size() - 5);
      const bool is_target = targeted.count(mod) != 0;
      if (c.bias == "lora_only" && !is_target) continue;
      bool in_mts = false;
      for (auto& [pn, copy] : a.saved_modules) in_mts |= pn == n;
      if (in_mts && c.bias == "all") continue;  // saved below as a module to save
      out.emplace_back(std::string(kBasePrefix) + "." + (is_target ? mod + ".base_layer.bias" : n), t.contiguous());
    }
  }
  const bool active = a.name == active_;
  const std::string head_prefix = is_prompt_learning(c.type) ? "base_model" : kBasePrefix;
  std::set<std::string> seen;
  for (const auto& [pn, copy] : a.saved_modules) {
    if (!seen.insert(pn).second) continue;
    out.emplace_back(head_prefix + "." + pn, active ? live.at(pn).contiguous() : copy);
  }
  return out;
}

void PeftModel::save_adapter(const std::string& dir, const std::string& name,
                             const std::string& base_model_name_or_path) const {
  const Adapter& a = adapter(name);
  PeftConfig c = a.cfg;
  c.inference_mode = true;
  if (c.type == PeftType::AdaLora) {
    c.adalora_rank_pattern.clear();
    bool pruned = false;
    for (const auto& u : a.linears) {
      std::vector<bool> keep;
      for (float k : u.ada->importance().rank_mask.to_vector()) keep.push_back(k != 0.0f);
      pruned |= std::find(keep.begin(), keep.end(), false) != keep.end();
      // PEFT's keys: the model's lora_E parameter name without the adapter name.
      c.adalora_rank_pattern[u.module + ".lora_E"] = keep;
    }
    // Not pruned here: keep the pattern the adapter was loaded with (its tensors are
    // already cut to it), or none for an adapter never masked.
    if (!pruned) c.adalora_rank_pattern = a.cfg.adalora_rank_pattern;
  }
  json j = c.to_json();
  if (!base_model_name_or_path.empty()) j["base_model_name_or_path"] = base_model_name_or_path;
  fs::create_directories(dir);
  const auto sd = adapter_state_dict(a.name);
  write_file_atomic((fs::path(dir) / kWeightsFile).string(),
                    io::serialize_safetensors(sd, {{"format", "pt"}}));
  write_file_atomic((fs::path(dir) / kConfigFile).string(), j.dump(2) + "\n");
}

void PeftModel::merge() {
  HEED_CHECK(!merged_, "PeftModel: the adapter is merged already");
  Adapter& a = adapter(active_);
  HEED_CHECK(a.cfg.type == PeftType::Lora || a.cfg.type == PeftType::AdaLora || a.cfg.type == PeftType::IA3,
             "PeftModel: a {} adapter cannot be merged into the weights (LoRA, AdaLoRA and IA3 can)",
             peft_type_name(a.cfg.type));
  autograd::NoGradGuard ng;
  merge_backup_.clear();
  for (auto& u : a.linears) {
    Tensor W = u.linear->weight(), b = u.linear->bias();
    merge_backup_.emplace_back(W, W.clone());
    if (b.defined()) merge_backup_.emplace_back(b, b.clone());
    const int64_t out = W.size(0), in = W.size(1);
    float* w = W.data<float>();
    if (u.lora || u.ada) {
      if (!u.ada || u.ada->r() > 0) {  // an AdaLoRA module pruned to rank 0 adds nothing
        const Tensor d = u.lora ? u.lora->delta_weight() : u.ada->delta_weight();
        const float* pd = d.data<float>();
        for (int64_t i = 0; i < out * in; ++i) w[i] += pd[i];
      }
    } else {
      const std::vector<float> l = u.ia3->vector().to_vector();
      if (u.ia3->feedforward()) {
        for (int64_t o = 0; o < out; ++o)
          for (int64_t i = 0; i < in; ++i) w[o * in + i] *= l[size_t(i)];
      } else {
        for (int64_t o = 0; o < out; ++o)
          for (int64_t i = 0; i < in; ++i) w[o * in + i] *= l[size_t(o)];
        if (b.defined())
          for (int64_t o = 0; o < out; ++o) b.data<float>()[o] *= l[size_t(o)];
      }
    }
    u.linear->set_hook(nullptr);
  }
  merged_ = true;
}

void PeftModel::unmerge() {
  HEED_CHECK(merged_, "PeftModel: nothing is merged");
  for (auto& [live, orig] : merge_backup_) live.copy_(orig);
  merge_backup_.clear();
  merged_ = false;
  Adapter& a = adapter(active_);
  for (auto& u : a.linears) u.linear->set_hook(u.hook);
}

std::unique_ptr<PeftModel> peft_from_pretrained(const std::string& base_dir,
                                                const std::string& adapter_dir,
                                                const std::string& adapter_name) {
  const std::string cpath = (fs::path(adapter_dir) / kConfigFile).string();
  const PeftConfig cfg = PeftConfig::from_file(cpath);
  models::BertFromPretrainedOptions opt;
  opt.load.quiet = true;
  if (cfg.task_type == "SEQ_CLS" || cfg.task_type == "TOKEN_CLS") {
    opt.head = cfg.task_type == "SEQ_CLS" ? models::BertHead::SequenceClassification
                                          : models::BertHead::TokenClassification;
    // The number of labels is the saved classifier's.
    const std::string wpath = (fs::path(adapter_dir) / kWeightsFile).string();
    HEED_CHECK(fs::is_regular_file(wpath), "{}: missing", wpath);
    const io::SafetensorsFile f = io::load_safetensors(wpath);
    const std::string key = std::string(is_prompt_learning(cfg.type) ? "base_model" : kBasePrefix) +
                            ".classifier.weight";
    HEED_CHECK(f.contains(key),
               "{}: the adapter is for task {} but holds no classifier ({}): heed needs the head "
               "saved with the adapter (modules_to_save)",
               wpath, cfg.task_type, key);
    opt.num_labels = f.at(key).size(0);
  } else if (cfg.task_type == "QUESTION_ANS") {
    opt.head = models::BertHead::QuestionAnswering;
  } else {
    opt.head = models::BertHead::Base;
  }
  auto r = models::bert_from_pretrained(base_dir, opt);
  std::shared_ptr<models::BertPreTrainedModel> base(std::move(r.model));
  auto pm = std::make_unique<PeftModel>(base);
  pm->load_adapter(adapter_dir, adapter_name);
  pm->eval();
  return pm;
}

}  // namespace heed::peft
