// Browser tests of heed's pages (heed/viz), in headless Debian Chromium via playwright-core.
// run.sh writes the pages with make_fixture_pages into HEED_PAGES_DIR first.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {launch, open} from './browser.mjs';

const dir = process.env.HEED_PAGES_DIR;
assert.ok(dir, 'HEED_PAGES_DIR must name the folder make_fixture_pages wrote');
const pagePath = name => path.join(dir, name);
const dataOf = name => JSON.parse(fs.readFileSync(pagePath(name.replace('.html', '.json')), 'utf8'));

let ctx;
before(async () => { ctx = await launch(); });
after(async () => { await ctx.close(); });

async function withPage(name, fn) {
  const r = await open(ctx, pagePath(name));
  try {
    await fn(r.page);
    assert.deepEqual(r.requests, [], `${name} made network requests`);
    assert.deepEqual(r.errors, [], `${name} logged console errors`);
  } finally {
    await r.page.close();
  }
}

const lineCount = page => page.locator('#head-svg line').count();

// ------------------------------------------------------------------ every page, every view
for (const name of ['attention.html', 'attention_pair.html', 'attention_cross.html']) {
  test(`${name}: loads offline, every view and filter draws without errors`, async () => {
    await withPage(name, async page => {
      const filters = await page.locator('#filter option').evaluateAll(os => os.map(o => o.value));
      for (const f of filters.length ? filters : [null]) {
        if (f) await page.selectOption('#filter', f);
        for (const hide of [false, true]) {
          await page.setChecked('#hide-special', hide);
          for (const tab of ['head', 'model', 'neuron']) {
            if (await page.locator(`#tab-${tab}`).isDisabled()) continue;
            await page.click(`#tab-${tab}`);
          }
        }
        await page.setChecked('#hide-special', false);
      }
    });
  });
}

test('report.html: loads offline with no console errors', async () => {
  await withPage('report.html', async page => {
    assert.ok(await page.locator('#charts .chart').count() > 0);
  });
});

// ------------------------------------------------------------------ model view
for (const name of ['attention.html', 'attention_pair.html', 'attention_cross.html']) {
  test(`${name}: model view draws one cell per layer x head`, async () => {
    const data = dataOf(name);
    await withPage(name, async page => {
      await page.click('#tab-model');
      const filters = await page.locator('#filter option').evaluateAll(os => os.map(o => o.value));
      for (const f of filters.length ? filters : [data.default_filter]) {
        if (filters.length) await page.selectOption('#filter', f);
        const attn = data.attention[f].attn;
        const expected = attn.length * attn[0].length;
        assert.equal(await page.locator('#model-grid canvas.cell').count(), expected, `filter ${f}`);
        // Each cell holds its (rows x cols) map.
        const size = await page.locator('#model-grid canvas.cell').first().evaluate(c => [c.height, c.width]);
        assert.deepEqual(size, [attn[0][0].length, attn[0][0][0].length]);
      }
    });
  });
}

test('attention.html: clicking a model-view cell enlarges it', async () => {
  await withPage('attention.html', async page => {
    await page.click('#tab-model');
    const cell = page.locator('#model-grid canvas.cell[data-layer="2"][data-head="3"]');
    const small = await cell.boundingBox();
    assert.equal(await page.locator('#detail.open').count(), 0);
    await cell.click();
    await page.waitForSelector('#detail.open #detail-canvas');
    const big = await page.locator('#detail-canvas').boundingBox();
    assert.ok(big.width > 1.5 * small.width && big.height > 1.5 * small.height,
              `enlarged ${JSON.stringify(big)} vs cell ${JSON.stringify(small)}`);
    assert.match(await page.locator('#detail h3').textContent(), /Layer 2, head 3/);
    // Hover inside the enlarged map shows a weight.
    await page.mouse.move(big.x + big.width * 0.5, big.y + big.height * 0.5);
    assert.match(await page.locator('#tooltip').textContent(), /weight/);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#detail.open').count(), 0);
  });
});

// ------------------------------------------------------------------ head view
test('attention.html: hovering a token isolates its lines', async () => {
  await withPage('attention.html', async page => {
    const all = await lineCount(page);
    assert.ok(all > 0);
    await page.hover('#head-svg text[data-side="left"][data-index="2"]');
    const rows = await page.locator('#head-svg line').evaluateAll(ls => ls.map(l => l.dataset.row));
    assert.ok(rows.length > 0 && rows.length < all, `${rows.length} lines on hover, ${all} before`);
    assert.ok(rows.every(r => r === '2'), 'only the hovered token\'s lines are drawn');
    // Per-head blocks appear beside the attended tokens.
    assert.ok(await page.locator('#head-svg g.blocks rect').count() > 0);
    await page.hover('#head-svg text[data-side="right"][data-index="4"]');
    const cols = await page.locator('#head-svg line').evaluateAll(ls => ls.map(l => l.dataset.col));
    assert.ok(cols.length > 0 && cols.every(c => c === '4'));
    await page.mouse.move(5, 5);
    assert.equal(await lineCount(page), all);
  });
});

test('attention.html: head checkboxes and layer selector choose the lines', async () => {
  const data = dataOf('attention.html');
  await withPage('attention.html', async page => {
    await page.click('#heads button:text("none")');
    assert.equal(await lineCount(page), 0);
    await page.check('#heads input[data-head="4"]');
    const heads = await page.locator('#head-svg line').evaluateAll(ls => ls.map(l => l.dataset.head));
    assert.ok(heads.length > 0 && heads.every(x => x === '4'));
    // Opacity is the weight: compare one line with the data, in layer 3.
    await page.selectOption('#layer', '3');
    const line = page.locator('#head-svg line[data-row="1"]').first();
    const [col, opacity] = await line.evaluate(l => [+l.dataset.col, +l.getAttribute('stroke-opacity')]);
    assert.ok(Math.abs(opacity - data.attention.all.attn[3][4][1][col]) < 1e-3);
  });
});

test('attention.html: hiding special tokens renormalises each row', async () => {
  await withPage('attention.html', async page => {
    await page.click('#heads button:text("none")');
    await page.check('#heads input[data-head="0"]');
    await page.check('#hide-special');
    const toks = await page.locator('#head-svg text[data-side="left"]').allTextContents();
    assert.ok(!toks.includes('[CLS]') && !toks.includes('[SEP]') && toks.length === 7);
    await page.hover('#head-svg text[data-side="left"][data-index="3"]');
    const sum = await page.locator('#head-svg line').evaluateAll(ls => ls.reduce((a, l) => a + +l.getAttribute('stroke-opacity'), 0));
    assert.ok(Math.abs(sum - 1) < 0.04, `row sums to ${sum} (lines under 0.005 are not drawn)`);
  });
});

// ------------------------------------------------------------------ neuron view
test('attention.html: neuron view softmax(q.k/sqrt(d)) reproduces the weights', async () => {
  await withPage('attention.html', async page => {
    await page.click('#tab-neuron');
    for (const hide of [false, true]) {
      await page.setChecked('#hide-special', hide);
      await page.selectOption('#neuron-head', '2');
      await page.click('#neuron-queries div[data-index="3"]');
      const rows = await page.locator('#neuron-table tr[data-key]').evaluateAll(trs => trs.map(tr =>
        [+tr.querySelector('.softmax').textContent, +tr.querySelector('.model').textContent]));
      assert.equal(rows.length, hide ? 7 : 9);
      for (const [soft, model] of rows) assert.ok(Math.abs(soft - model) < 2e-4, `${soft} vs ${model}`);
      assert.ok(Math.abs(rows.reduce((a, r) => a + r[0], 0) - 1) < 2e-3);
    }
    // The query strip has D cells; each key row has a key strip and a product strip.
    assert.equal(await page.locator('#neuron-table tr').nth(1).locator('.vec span').count(), 8);
  });
});

test('attention_pair.html: BertViz sentence filters slice the tokens', async () => {
  await withPage('attention_pair.html', async page => {
    const opts = await page.locator('#filter option').evaluateAll(os => os.map(o => o.value));
    assert.deepEqual(opts, ['all', 'aa', 'bb', 'ab', 'ba']);
    await page.selectOption('#filter', 'ab');
    assert.equal(await page.locator('#head-svg text[data-side="left"]').count(), 9);
    assert.equal(await page.locator('#head-svg text[data-side="right"]').count(), 6);
  });
});

test('attention_cross.html: cross-attention joins target to source tokens', async () => {
  await withPage('attention_cross.html', async page => {
    await page.selectOption('#filter', 'cross');
    assert.equal(await page.locator('#head-svg text[data-side="left"]').count(), 5);
    assert.equal(await page.locator('#head-svg text[data-side="right"]').count(), 7);
    assert.ok(await page.locator('#tab-neuron').isDisabled());
  });
});

// ------------------------------------------------------------------ report
// Counted straight from metrics.jsonl, independently of the C++ reader: a record's numeric
// keys (nested ones dotted), "eval_" added in "eval": true records, NaN/Infinity/null and
// unparsable lines skipped, step counters not curves.
function countRecords(text) {
  const counts = {};
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    let rec;
    try { rec = JSON.parse(raw.replace(/\b(-?Infinity|NaN)\b/g, 'null')); } catch { continue; }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) continue;
    const isEval = rec.eval === true;
    const walk = (o, prefix) => {
      for (const [k, v] of Object.entries(o)) {
        const key = prefix ? `${prefix}.${k}` : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) { walk(v, key); continue; }
        if (['eval', 'step', 'global_step', 'epoch'].includes(key)) continue;
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const name = isEval && !key.startsWith('eval_') ? 'eval_' + key : key;
        counts[name] = (counts[name] || 0) + 1;
      }
    };
    walk(rec, '');
  }
  return counts;
}

test('report.html: each curve has one point per logged record', async () => {
  const counts = countRecords(fs.readFileSync(pagePath('run/metrics.jsonl'), 'utf8'));
  assert.equal(counts.loss, 1000);
  assert.equal(counts.eval_loss, 10);
  await withPage('report.html', async page => {
    const curves = await page.locator('polyline.curve').evaluateAll(ps => ps.map(p =>
      [p.dataset.series, p.getAttribute('points').trim().split(/\s+/).length, p.points.numberOfItems]));
    assert.deepEqual(curves.map(c => c[0]).sort(), Object.keys(counts).sort());
    for (const [name, n, items] of curves) {
      assert.equal(n, counts[name], name);
      assert.equal(items, counts[name], name);
    }
  });
});

test('report.html: hovering a chart shows the values at that step', async () => {
  await withPage('report.html', async page => {
    const chart = page.locator('.chart[data-group="loss"] rect.overlay');
    const box = await chart.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const tip = await page.locator('#tooltip').textContent();
    assert.match(tip, /step \d+/);
    assert.match(tip, /loss/);
    assert.match(tip, /eval_loss/);
  });
});

test('report.html: evaluation shows a confusion matrix and per-class table', async () => {
  const ev = JSON.parse(fs.readFileSync(pagePath('run/eval.json'), 'utf8'));
  await withPage('report.html', async page => {
    const K = ev.labels.length;
    assert.equal(await page.locator('#confusion td').count(), K * K);
    assert.equal(await page.locator('#per-class tr').count(), K + 1);
    assert.equal(await page.locator('#confusion tr').nth(1).locator('td').first().textContent(),
                 String(ev.confusion_matrix[0][0]));
    assert.equal(await page.locator('table.config').count(), 2);  // config.json, run_config.json
  });
});

// ------------------------------------------------------------------ a real BERT forward pass
const bertPage = fs.existsSync(pagePath('attention_bert.html'));
test('attention_bert.html: neuron view of a real BERT reproduces its attention', {skip: !bertPage && 'make_bert_page not run'}, async () => {
  const data = dataOf('attention_bert.html');
  const all = data.attention.all;
  await withPage('attention_bert.html', async page => {
    await page.click('#tab-model');
    assert.equal(await page.locator('#model-grid canvas.cell').count(), all.attn.length * all.attn[0].length);
    await page.click('#tab-neuron');
    for (const [layer, head, query] of [[0, 0, 1], [1, 3, 4]]) {
      await page.selectOption('#layer', String(layer));
      await page.selectOption('#neuron-head', String(head));
      await page.click(`#neuron-queries div[data-index="${query}"]`);
      const rows = await page.locator('#neuron-table tr[data-key]').evaluateAll(trs => trs.map(tr =>
        [+tr.querySelector('.softmax').textContent, +tr.querySelector('.model').textContent]));
      assert.equal(rows.length, all.left_text.length);
      for (const [soft, model] of rows) assert.ok(Math.abs(soft - model) < 1e-3, `layer ${layer} head ${head}: ${soft} vs ${model}`);
    }
  });
  assert.equal(all.left_text[0], '[CLS]');
  assert.ok(data.heed.sentence_b_start > 1);
});
