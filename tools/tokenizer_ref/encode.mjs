// Encodes every case of a JSONL file with transformers.js' BertTokenizer loaded from a
// local folder (no hub access) and prints one JSON result per line.
//   node encode.mjs MODELS_DIR MODEL_NAME CASES_JSONL > OUT_JSONL
// A case is {"id", "text", "pair"?, "truncation"?, "max_length"?, "padding"?}.
import fs from 'node:fs';
import readline from 'node:readline';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [modelsDir, modelName, casesPath] = process.argv.slice(2);
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = modelsDir;
const tokenizer = await AutoTokenizer.from_pretrained(modelName, { local_files_only: true });

const rl = readline.createInterface({ input: fs.createReadStream(casesPath, 'utf8'), crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line) continue;
  const c = JSON.parse(line);
  const opts = { return_tensor: false };
  if (c.pair !== undefined && c.pair !== null) opts.text_pair = c.pair;
  if (c.truncation) opts.truncation = true;
  if (c.max_length !== undefined && c.max_length !== null) opts.max_length = c.max_length;
  if (c.padding) opts.padding = c.padding;
  const enc = tokenizer(c.text, opts);
  const ids = enc.input_ids;
  out.push(JSON.stringify({
    id: c.id,
    input_ids: ids,
    token_type_ids: enc.token_type_ids,
    attention_mask: enc.attention_mask,
    tokens: ids.map((i) => tokenizer._tokenizer.id_to_token(i)),
    decoded: tokenizer.decode(ids),
  }));
  if (out.length >= 4096) { process.stdout.write(out.join('\n') + '\n'); out.length = 0; }
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
