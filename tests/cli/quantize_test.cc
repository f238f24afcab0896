// heed quantize, and heed eval / predict --dtype, end to end on a tiny random classifier:
// the quantized directory is smaller and evaluates like the original; the engine
// precisions run; bad inputs are clear errors with a non-zero exit.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli/run_heed.h"
#include "tests/tasks/task_test_util.h"

namespace heed::cli_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(QuantizeCommand, QuantizeThenEvalAndPredictWithEachDtype) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_classifier((dir / "clf").string());
  spit(dir / "dev.csv", heed::testing::sentiment_csv(40, 2));
  HeedRun r = run_heed("quantize --model " + q(dir / "clf") + " --out " + q(dir / "q"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("12 weight matrices as int8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ratio"), std::string::npos) << r.out;
  EXPECT_LT(fs::file_size(dir / "q/model.safetensors"), fs::file_size(dir / "clf/model.safetensors"));
  EXPECT_TRUE(json::parse(slurp(dir / "q/config.json")).contains("quantization_config"));

  r = run_heed("eval --model " + q(dir / "clf") + " --data " + q(dir / "dev.csv") + " --json --threads 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const json ref = json::parse(r.out);
  for (const char* model : {"clf", "q"})
    for (const char* dtype : {"", "f32", "bf16", "int8"}) {
      const std::string flag = *dtype ? std::string(" --dtype ") + dtype : "";
      r = run_heed("eval --model " + q(dir / model) + " --data " + q(dir / "dev.csv") +
                   " --json --threads 1" + flag);
      ASSERT_EQ(r.status, 0) << model << flag << ": " << r.err;
      const json e = json::parse(r.out);
      EXPECT_EQ(e.at("num_examples"), 40);
      EXPECT_NEAR(e.at("loss").get<double>(), ref.at("loss").get<double>(), 2e-2) << model << flag;
    }
  r = run_heed("predict --model " + q(dir / "q") + " --data " + q(dir / "dev.csv") +
               " --dtype int8 --threads 1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 40);
}

TEST(QuantizeCommand, BadInputsExitWithAClearError) {
  const fs::path dir = test_dir();
  heed::testing::write_tiny_classifier((dir / "clf").string());
  fs::create_directories(dir / "noweights");
  fs::copy_file(dir / "clf/config.json", dir / "noweights/config.json");
  HeedRun r = run_heed("quantize --model " + q(dir / "noweights") + " --out " + q(dir / "q"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("noweights"), std::string::npos) << r.err;
  r = run_heed("quantize --model " + q(dir / "clf") + " --out " + q(dir / "q") + " --dtype int4");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unsupported --dtype \"int4\""), std::string::npos) << r.err;
  spit(dir / "dev.csv", heed::testing::sentiment_csv(5, 2));
  r = run_heed("eval --model " + q(dir / "clf") + " --data " + q(dir / "dev.csv") + " --dtype fp8");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("fp8"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace heed::cli_test
