#include "heed/tasks/text_peft.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/models/bert_pretrained.h"
#include "heed/peft/peft_model.h"

namespace heed::tasks {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kTokenizerFileNames[] = {"vocab.txt", "tokenizer.json",
                                               "tokenizer_config.json", "special_tokens_map.json",
                                               "added_tokens.json"};
}  // namespace

json HeadConfig::to_json() const {
  json id2label = json::object(), label2id = json::object();
  for (size_t i = 0; i < labels.size(); ++i) {
    id2label[std::to_string(i)] = labels[i];
    label2id[labels[i]] = int64_t(i);
  }
  return {{"num_labels", num_labels},
          {"id2label", id2label},
          {"label2id", label2id},
          {"problem_type", problem_type}};
}

HeadConfig read_head_config(const std::string& dir, int64_t num_labels) {
  HeadConfig h;
  h.num_labels = num_labels;
  const std::string path = (fs::path(dir) / kHeadConfigFile).string();
  if (fs::is_regular_file(path)) {
    json j;
    try {
      j = json::parse(read_file(path));
      if (j.contains("num_labels")) h.num_labels = j.at("num_labels").get<int64_t>();
      if (j.contains("problem_type") && j.at("problem_type").is_string())
        h.problem_type = j.at("problem_type").get<std::string>();
      HEED_CHECK(num_labels <= 0 || h.num_labels == num_labels,
                 "{}: num_labels {} but the adapter's classifier has {} outputs", path,
                 h.num_labels, num_labels);
      h.labels.resize(size_t(std::max<int64_t>(h.num_labels, 0)));
      if (j.contains("id2label"))
        for (const auto& [k, v] : j.at("id2label").items()) {
          const int64_t id = std::stoll(k);
          HEED_CHECK(id >= 0 && id < h.num_labels, "{}: id2label has id {} of {} labels", path, id,
                     h.num_labels);
          h.labels[size_t(id)] = v.get<std::string>();
        }
    } catch (const json::exception& e) {
      HEED_FAIL("{}: {}", path, e.what());
    } catch (const std::invalid_argument&) {
      HEED_FAIL("{}: id2label keys must be integers", path);
    }
  } else {
    h.labels.resize(size_t(std::max<int64_t>(num_labels, 0)));
  }
  for (size_t i = 0; i < h.labels.size(); ++i)
    if (h.labels[i].empty()) h.labels[i] = "LABEL_" + std::to_string(i);
  return h;
}

void write_head_config(const std::string& dir, const HeadConfig& h) {
  write_file_atomic((fs::path(dir) / kHeadConfigFile).string(), h.to_json().dump(2) + "\n");
}

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  for (const char* name : kTokenizerFileNames) {
    const fs::path src = fs::path(from) / name;
    if (fs::is_regular_file(src))
      write_file_atomic((fs::path(to) / name).string(), read_file(src.string()));
  }
}

MergeResult merge_adapter(const std::string& base_dir, const std::string& adapter_dir,
                          const std::string& out_dir) {
  HEED_CHECK(fs::is_directory(base_dir), "merge: {}: not a model directory", base_dir);
  HEED_CHECK(fs::is_directory(adapter_dir), "merge: {}: not an adapter directory", adapter_dir);
  std::error_code ec;
  HEED_CHECK(!fs::exists(out_dir, ec) || (!fs::equivalent(out_dir, base_dir, ec) &&
                                          !fs::equivalent(out_dir, adapter_dir, ec)),
             "merge: --out {} is the base model or the adapter directory; write the merged model "
             "elsewhere",
             out_dir);
  const std::string cpath = (fs::path(adapter_dir) / "adapter_config.json").string();
  HEED_CHECK(fs::is_regular_file(cpath), "merge: {}: missing (not a PEFT adapter directory)", cpath);
  const peft::PeftConfig cfg = peft::PeftConfig::from_file(cpath);
  HEED_CHECK(cfg.type == peft::PeftType::Lora || cfg.type == peft::PeftType::AdaLora ||
                 cfg.type == peft::PeftType::IA3,
             "merge: {}: a {} adapter cannot be merged into the base weights (LoRA, AdaLoRA and "
             "IA3 can); use it unmerged with --model {} --adapter {}",
             adapter_dir, peft::peft_type_name(cfg.type), base_dir, adapter_dir);
  std::unique_ptr<peft::PeftModel> pm = peft::peft_from_pretrained(base_dir, adapter_dir);
  pm->merge();
  models::BertPreTrainedModel& m = pm->base();
  models::BertConfig& mc = m.mutable_config();
  MergeResult r{.peft_type = std::string(peft::peft_type_name(cfg.type)),
                .num_labels = mc.num_labels};
  if (cfg.task_type == "SEQ_CLS" || cfg.task_type == "TOKEN_CLS") {
    const HeadConfig h = read_head_config(adapter_dir, mc.num_labels);
    mc.id2label.clear();
    mc.label2id.clear();
    for (size_t i = 0; i < h.labels.size(); ++i) {
      mc.id2label[int64_t(i)] = h.labels[i];
      mc.label2id[h.labels[i]] = int64_t(i);
    }
    if (!h.problem_type.empty()) mc.problem_type = h.problem_type;
  }
  fs::create_directories(out_dir);
  models::bert_save_pretrained(m, out_dir);
  copy_tokenizer_files(base_dir, out_dir);
  return r;
}

}  // namespace heed::tasks
