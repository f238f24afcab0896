// ONNX Runtime side of bench/compare: times an exported BERT encoder (bench/torch_bench.py
// --export-onnx) with onnxruntime-node, graph optimisation "all", 2 intra-op threads.
//   node bench/ort/ort_bench.js --onnx /tmp/base.onnx --batch 8 --seq 128 --iters 10 --json
'use strict';
const ort = require('onnxruntime-node');

function args() {
  const a = {batch: 8, seq: 128, iters: 10, warmup: 2, threads: 2, vocab: 30522, json: false};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; ++i) {
    const k = v[i].replace(/^--/, '');
    if (k === 'json') a.json = true;
    else a[k] = k === 'onnx' || k === 'model' ? v[++i] : Number(v[++i]);
  }
  return a;
}

function median(x) {
  const s = [...x].sort((p, q) => p - q);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

function peakRssMb() {
  try {
    const st = require('fs').readFileSync('/proc/self/status', 'utf8');
    const m = st.match(/VmHWM:\s+(\d+) kB/);
    if (m) return Number(m[1]) / 1024;
  } catch (e) { /* not Linux */ }
  return process.resourceUsage().maxRSS / 1024;
}

async function main() {
  const a = args();
  const session = await ort.InferenceSession.create(a.onnx, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const n = a.batch * a.seq;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n);
  let s = 12345;
  for (let i = 0; i < n; ++i) {
    s = (s * 1103515245 + 12345) % 2147483648;
    ids[i] = BigInt(1000 + (s % (a.vocab - 1000)));
    mask[i] = 1n;
  }
  const feeds = {
    input_ids: new ort.Tensor('int64', ids, [a.batch, a.seq]),
    attention_mask: new ort.Tensor('int64', mask, [a.batch, a.seq]),
  };
  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const lat = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < a.iters; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cu = process.cpuUsage(c0);
  const med = median(lat);
  const r = {
    runtime: 'onnxruntime-node ' + (ort.env.versions ? ort.env.versions.common : ''),
    batch: a.batch, seq: a.seq, threads: a.threads, latency_ms_median: med,
    latency_ms_min: Math.min(...lat), latency_ms_max: Math.max(...lat),
    tokens_per_s: n / (med / 1e3), peak_rss_mb: peakRssMb(),
    cpu_s: (cu.user + cu.system) / 1e6, latencies_ms: lat,
  };
  console.log(`ort b${a.batch} s${a.seq}: median ${med.toFixed(2)} ms, ` +
              `${r.tokens_per_s.toFixed(0)} tokens/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`);
  if (a.json) console.log(JSON.stringify(r));
}

main().catch((e) => { console.error(e); process.exit(1); });
