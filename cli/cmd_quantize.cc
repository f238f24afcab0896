// heed quantize: write a weight-only int8 copy of a model directory (encoder Linear
// weights as I8 with per-output-channel F32 scales; see heed/infer/quantize.h). `heed
// eval` / `heed predict` load it (dequantized to f32; --dtype int8 runs the int8 engine).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "heed/infer/quantize.h"

namespace heed::cli {

namespace {

struct QuantizeCli {
  std::string model, out;
  infer::QuantizeOptions o;
};

void run_quantize(const QuantizeCli& c) {
  const infer::QuantizeReport r = infer::quantize_checkpoint(c.model, c.out, c.o);
  fmt::print("quantize: {} -> {} ({})\n", c.model, c.out, c.o.dtype);
  fmt::print("  {} weight matrices as int8 (per-channel scales), {} tensors kept\n",
             r.quantized_tensors, r.kept_tensors);
  fmt::print("  max |dequantized - original| weight error: {:.3g}\n", r.max_abs_error);
  fmt::print("  weights: {:.2f} MB -> {:.2f} MB (ratio {:.3f})\n", double(r.bytes_in) / 1e6,
             double(r.bytes_out) / 1e6, r.bytes_in > 0 ? double(r.bytes_out) / double(r.bytes_in) : 0.0);
  if (!r.copied_files.empty()) fmt::print("  copied: {}\n", fmt::join(r.copied_files, ", "));
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto c = std::make_shared<QuantizeCli>();
  CLI::App* sub = app.add_subcommand(
      "quantize", "Write an int8 copy of a model directory (encoder Linear weights per-channel "
                  "int8, the rest f32) that `heed eval` / `heed predict` load");
  sub->add_option("--model", c->model, "Model directory (config.json, model.safetensors, tokenizer)")
      ->required()->check(CLI::ExistingDirectory);
  sub->add_option("--out", c->out, "Output directory")->required();
  sub->add_option("--dtype", c->o.dtype, "Weight type (int8)")->capture_default_str();
  sub->callback([c] { run_quantize(*c); });
}

}  // namespace heed::cli
