// Writes the pages the browser tests open, from synthetic data (tests/viz/synthetic.h):
//   OUT/attention.html       one sentence, 4 layers x 6 heads, with queries and keys
//   OUT/attention_pair.html  a sentence pair (BertViz's aa/bb/ab/ba filters), 3 x 4
//   OUT/attention_cross.html encoder-decoder (encoder, decoder, cross), 2 x 4
//   OUT/run/                 a 1000-step run: metrics.jsonl, config.json, run_config.json, eval.json
//   OUT/report.html          the report of OUT/run
// each with its .json beside it. Usage: make_fixture_pages OUT
#include <cstdio>
#include <filesystem>

#include "heed/base/fs.h"
#include "tests/viz/synthetic.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  namespace vt = heed::viz::testing;
  const std::string out = argv[1];
  std::filesystem::create_directories(out + "/run");
  heed::viz::write_page(heed::viz::attention_page(vt::sentence_input()), out + "/attention.html");
  heed::viz::write_page(heed::viz::attention_page(vt::pair_input()), out + "/attention_pair.html");
  heed::viz::write_page(heed::viz::attention_page(vt::cross_input()), out + "/attention_cross.html");
  heed::write_file_atomic(out + "/run/metrics.jsonl", vt::synthetic_metrics(1000));
  heed::write_file_atomic(out + "/run/config.json", vt::synthetic_config().dump(2));
  heed::write_file_atomic(out + "/run/run_config.json", vt::synthetic_run_config().dump(2));
  heed::write_file_atomic(out + "/run/eval.json", vt::synthetic_eval().dump(2));
  heed::viz::write_page(heed::viz::report_page(heed::viz::load_run_dir(out + "/run")), out + "/report.html");
  std::printf("wrote attention.html, attention_pair.html, attention_cross.html, report.html to %s\n", out.c_str());
  return 0;
}
