// Writes a Hugging Face tokenizers-format tokenizer.json + tokenizer_config.json for a
// BERT WordPiece vocab.txt, the way `BertTokenizerFast.save_pretrained` lays them out.
//   node make_tokenizer_json.mjs VOCAB_TXT OUT_DIR (uncased|cased)
import fs from 'node:fs';
import path from 'node:path';

const [vocabPath, outDir, variant] = process.argv.slice(2);
if (!vocabPath || !outDir || !['uncased', 'cased'].includes(variant)) {
  console.error('usage: node make_tokenizer_json.mjs VOCAB_TXT OUT_DIR (uncased|cased)');
  process.exit(2);
}
const lowercase = variant === 'uncased';
const lines = fs.readFileSync(vocabPath, 'utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
const vocab = {};
lines.forEach((tok, i) => { vocab[tok] = i; });
const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const added_tokens = special
  .map((content) => ({ id: vocab[content], content, single_word: false, lstrip: false,
                       rstrip: false, normalized: false, special: true }))
  .sort((a, b) => a.id - b.id);
const tok = (id, type_id) => ({ SpecialToken: { id, type_id } });
const seq = (id, type_id) => ({ Sequence: { id, type_id } });
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens,
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
                strip_accents: lowercase ? null : false, lowercase },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
    pair: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
    },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
           max_input_chars_per_word: 100, vocab },
};
const config = {
  tokenizer_class: 'BertTokenizer',
  do_lower_case: lowercase,
  strip_accents: lowercase ? null : false,
  tokenize_chinese_chars: true,
  clean_up_tokenization_spaces: true,
  unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]',
  mask_token: '[MASK]',
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
