// Training checkpoints: one directory per step, <out_dir>/checkpoint-<step, 8 digits>/,
// holding model.safetensors, optimizer.safetensors, trainer_state.json and, written
// last, the marker COMPLETE. The files are written into a hidden temporary directory
// that is renamed into place only after the marker is on disk (each file fsynced, then
// the directories), so a crash or Ctrl-C mid-save never leaves a checkpoint that looks
// complete. Resume-latest logic ignores directories without the marker, and says so.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "heed/tensor/tensor.h"

namespace heed::train {

inline constexpr const char* kCheckpointModelFile = "model.safetensors";
inline constexpr const char* kCheckpointOptimizerFile = "optimizer.safetensors";
inline constexpr const char* kCheckpointStateFile = "trainer_state.json";
inline constexpr const char* kCheckpointMarker = "COMPLETE";

struct CheckpointContents {
  std::vector<std::pair<std::string, Tensor>> model;      // state_dict (HF keys)
  std::vector<std::pair<std::string, Tensor>> optimizer;  // "exp_avg.<param>", "exp_avg_sq.<param>"
  int64_t optimizer_step = 0;                             // written as safetensors metadata "step"
  std::string trainer_state_json;
};

std::string checkpoint_dir_name(int64_t step);  // "checkpoint-00000100"

// Writes a checkpoint atomically and returns its final path. If a complete checkpoint of
// this step already exists it is kept (training is deterministic: it holds the same state).
std::string save_checkpoint(const std::string& out_dir, int64_t step, const CheckpointContents& c);

bool is_complete_checkpoint(const std::string& dir);

struct CheckpointScan {
  std::string latest;  // path of the complete checkpoint with the highest step ("" if none)
  int64_t latest_step = -1;
  std::vector<std::pair<int64_t, std::string>> complete;  // ascending step
  std::vector<std::string> incomplete;                    // no COMPLETE marker: ignored
  std::string message;  // names each ignored directory and why; empty when none
};
CheckpointScan scan_checkpoints(const std::string& out_dir);

// Deletes all but the newest keep_last_n complete checkpoints (0 keeps all).
void prune_checkpoints(const std::string& out_dir, int64_t keep_last_n);

}  // namespace heed::train
