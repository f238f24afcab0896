// heed embed: JSONL {"text": ...} in, the same objects plus "embedding" out. Texts are
// tokenized with the model directory's tokenizer (tokenizer.json or vocab.txt), run
// through the base BertModel in batches, and pooled ([CLS] row or masked mean).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "heed/autograd/node.h"
#include "heed/models/bert_runner.h"
#include "heed/tokenizers/bert_tokenizer.h"

namespace heed::cli {

namespace {

using json = nlohmann::ordered_json;

struct EmbedOptions {
  std::string model, tokenizer, input = "-", output = "-", pooling = "cls";
  int64_t batch = 32, max_length = 0;
  bool normalize = false;
};

struct Pending {
  json object;
  std::string text;
};

// Pads a batch of encodings on the right to its longest and returns the model inputs.
models::BertInputs batch_inputs(const std::vector<tokenizers::Encoding>& enc, int32_t pad_id) {
  const int64_t B = int64_t(enc.size());
  int64_t T = 1;
  for (const auto& e : enc) T = std::max<int64_t>(T, int64_t(e.size()));
  std::vector<int64_t> ids(size_t(B * T), pad_id), tt(size_t(B * T), 0), mask(size_t(B * T), 0);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < enc[size_t(b)].size(); ++t) {
      const size_t i = size_t(b * T) + t;
      ids[i] = enc[size_t(b)].input_ids[t];
      tt[i] = enc[size_t(b)].token_type_ids[t];
      mask[i] = enc[size_t(b)].attention_mask[t];
    }
  models::BertInputs in;
  in.input_ids = Tensor::from_vector(ids, Shape{B, T});
  in.token_type_ids = Tensor::from_vector(tt, Shape{B, T});
  in.attention_mask = Tensor::from_vector(mask, Shape{B, T});
  return in;
}

void run_embed(const EmbedOptions& o) {
  const models::Pooling pooling = models::parse_pooling(o.pooling);
  const auto tok = tokenizers::BertTokenizer::from_pretrained(o.tokenizer.empty() ? o.model : o.tokenizer);
  auto loaded = models::bert_from_pretrained(
      o.model, {.head = models::BertHead::Base, .load = {.quiet = true}});
  for (const auto& m : loaded.report.messages)  // only the loud ones: heads are expected unused
    if (m.rfind("WARNING", 0) == 0) std::fprintf(stderr, "%s\n", m.c_str());
  const models::BertModel& bert = loaded.model->bert();
  const int64_t max_pos = bert.config().max_position_embeddings;
  tokenizers::EncodeOptions eo;
  eo.truncation = tokenizers::Truncation::kLongestFirst;
  eo.max_length = int32_t(o.max_length > 0 ? std::min(o.max_length, max_pos) : max_pos);

  std::ifstream file;
  if (o.input != "-") {
    file.open(o.input);
    HEED_CHECK(file.good(), "embed: cannot open --input {}", o.input);
  }
  std::istream& in = o.input == "-" ? std::cin : file;
  const std::string in_name = o.input == "-" ? "<stdin>" : o.input;
  std::FILE* out = o.output == "-" ? stdout : std::fopen(o.output.c_str(), "w");
  HEED_CHECK(out != nullptr, "embed: cannot write --output {}", o.output);

  autograd::NoGradGuard no_grad;
  std::vector<Pending> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<std::string> texts;
    for (const auto& p : batch) texts.push_back(p.text);
    const models::BertInputs inputs = batch_inputs(tok.encode_batch(texts, eo), tok.pad_token_id());
    const Tensor h = bert.forward(inputs).last_hidden_state;  // (B, T, C)
    const Tensor e = models::pool_embeddings(h, inputs.attention_mask, pooling);  // (B, C)
    const int64_t C = e.size(1);
    const std::vector<float> v = e.to_vector();
    for (size_t b = 0; b < batch.size(); ++b) {
      double norm = 0.0;
      for (int64_t c = 0; c < C; ++c) norm += double(v[b * size_t(C) + size_t(c)]) * v[b * size_t(C) + size_t(c)];
      const float scale = o.normalize && norm > 0.0 ? float(1.0 / std::sqrt(norm)) : 1.0f;
      std::string line = batch[b].object.dump();
      line.pop_back();  // the closing brace; the object has at least "text"
      line += ",\"embedding\":[";
      for (int64_t c = 0; c < C; ++c) {
        if (c) line += ',';
        line += fmt::format("{}", v[b * size_t(C) + size_t(c)] * scale);
      }
      line += "]}\n";
      std::fputs(line.c_str(), out);
    }
    batch.clear();
  };
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& err) {
      HEED_FAIL("embed: {}:{}: malformed JSON: {}", in_name, lineno, err.what());
    }
    HEED_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(),
               "embed: {}:{}: expected a JSON object with a string \"text\" field", in_name, lineno);
    HEED_CHECK(!j.contains("embedding"), "embed: {}:{}: the object already has an \"embedding\"",
               in_name, lineno);
    batch.push_back({j, j["text"].get<std::string>()});
    if (int64_t(batch.size()) >= o.batch) flush();
  }
  flush();
  if (out != stdout) HEED_CHECK(std::fclose(out) == 0, "embed: error writing --output {}", o.output);
}

}  // namespace

void register_embed(CLI::App& app) {
  auto o = std::make_shared<EmbedOptions>();
  CLI::App* sub = app.add_subcommand(
      "embed", "Sentence embeddings: JSONL {\"text\": ...} in, the same objects plus "
               "\"embedding\" out (BERT base model, [CLS] or mean pooling)");
  sub->add_option("--model", o->model, "Model directory in Hugging Face layout")->required();
  sub->add_option("--tokenizer", o->tokenizer,
                  "Tokenizer directory (tokenizer.json or vocab.txt); default: --model");
  sub->add_option("--input", o->input, "JSONL file, - for stdin")->capture_default_str();
  sub->add_option("--output", o->output, "JSONL file, - for stdout")->capture_default_str();
  sub->add_option("--pooling", o->pooling, "cls: the [CLS] row; mean: mean over real tokens")
      ->capture_default_str()
      ->check(CLI::IsMember({"cls", "mean"}));
  sub->add_option("--batch-size", o->batch, "Texts per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--max-length", o->max_length,
                  "Truncate to this many tokens (default and cap: max_position_embeddings)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--normalize", o->normalize, "L2-normalise each embedding");
  sub->callback([o] { run_embed(*o); });
}

}  // namespace heed::cli
