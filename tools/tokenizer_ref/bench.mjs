// Throughput of transformers.js' BertTokenizer on text files (one text per line):
//   node bench.mjs MODELS_DIR MODEL_NAME FILE...
import fs from 'node:fs';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [modelsDir, modelName, ...files] = process.argv.slice(2);
env.allowRemoteModels = false;
env.localModelPath = modelsDir;
const tokenizer = await AutoTokenizer.from_pretrained(modelName, { local_files_only: true });
let bytes = 0;
const lines = [];
for (const f of files) {
  const data = fs.readFileSync(f);
  bytes += data.length;
  for (const line of data.toString('utf8').split('\n')) lines.push(line);
}
const t0 = process.hrtime.bigint();
let tokens = 0;
for (const line of lines) tokens += tokenizer(line, { return_tensor: false }).input_ids.length;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`transformers.js: ${(bytes / 1e6).toFixed(1)} MB in ${s.toFixed(2)} s = ${(bytes / 1e6 / s).toFixed(2)} MB/s, ${lines.length} lines, ${tokens} tokens`);
