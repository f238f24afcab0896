// Writes OUT/attention_bert.html from a real BERT forward pass: the tiny random-weight
// BertForSequenceClassification golden (tests/golden/bert/seqcls: 2 layers, 4 heads,
// hidden 32, 99-token vocabulary) with a 99-line vocab.txt written beside a copy of it.
// The browser tests check that the neuron view's softmax(q.k/sqrt(d)), from the queries
// and keys bert_attention_input projects, reproduces the attention the model returned.
// Usage: make_bert_page GOLDEN_MODEL_DIR OUT_DIR
#include <cstdio>
#include <filesystem>

#include "heed/base/fs.h"
#include "heed/viz/bert_attention.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GOLDEN_MODEL_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path golden = argv[1], out = argv[2], model = out / "bert_model";
  fs::create_directories(model);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(golden / f, model / f, fs::copy_options::overwrite_existing);
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  int n = 5;
  for (const char* w : {"the", "cat", "sat", "on", "mat", ".", "it", "was", "very", "tired", ","})
    vocab.append(w).append("\n"), ++n;  // append: g++ 12 -Wrestrict misfires on +
  for (; n < 99; ++n) vocab.append("w").append(std::to_string(n)).append("\n");
  heed::write_file_atomic((model / "vocab.txt").string(), vocab);
  try {
    const auto in = heed::viz::bert_attention_input({.model_dir = model.string(),
                                                     .text = "The cat sat on the mat.",
                                                     .text_pair = "It was very tired."});
    heed::viz::write_page(heed::viz::attention_page(in), (out / "attention_bert.html").string());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_bert_page: %s\n", e.what());
    return 1;
  }
  std::printf("wrote %s\n", (out / "attention_bert.html").c_str());
  return 0;
}
