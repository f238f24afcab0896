// The attention page: head view, model view and neuron view (after BertViz, Vig 2019,
// arXiv:1904.02679). The data is BertViz's neuron_view params (see attention_page.h):
// attention[filter] = {attn: [L][H][rows][cols], left_text, right_text, queries?, keys?}.
// Plain browser JS over page.js's helpers; no libraries.
'use strict';

(function () {
  const D = heedData();
  const X = D.heed || {};
  const filters = X.filters || Object.keys(D.attention).map(k => ({key: k, name: k}));
  const specials = new Set(X.special_tokens || []);
  const state = {
    view: 'head',
    filter: D.default_filter || filters[0].key,
    layer: 0,
    heads: null,        // Set of selected heads in the head view (null = all)
    hideSpecial: false,
    neuronHead: 0,
    neuronQuery: null,  // index into left_text
  };
  const ROW = 20;       // px per token row in the head and neuron views

  // The entry of a filter; pair slices ("aa", "ab", ...) are cut from "all" when the
  // page was written without them (the .json file beside the page has them).
  function entry(key) {
    if (D.attention[key]) return D.attention[key];
    const f = filters.find(x => x.key === key);
    const all = D.attention.all;
    const [r0, r1] = f.rows, [c0, c1] = f.cols;
    const e = {
      attn: all.attn.map(l => l.map(hd => hd.slice(r0, r1).map(row => row.slice(c0, c1)))),
      left_text: all.left_text.slice(r0, r1),
      right_text: all.right_text.slice(c0, c1),
    };
    if (all.queries && all.keys) {
      e.queries = all.queries.map(l => l.map(hd => hd.slice(r0, r1)));
      e.keys = all.keys.map(l => l.map(hd => hd.slice(c0, c1)));
    }
    D.attention[key] = e;
    return e;
  }

  function layerIds(e) { return e.layer_ids || D.include_layers || e.attn.map((_, i) => i); }
  function numHeads(e) { return e.attn[0].length; }

  // Token positions shown: all, or all but the special tokens.
  function visible(tokens) {
    const out = [];
    tokens.forEach((t, i) => { if (!(state.hideSpecial && specials.has(t))) out.push(i); });
    return out;
  }

  // Weights of one head over the visible rows and columns; with special tokens hidden,
  // each row is renormalised over the columns left so it sums to one again.
  function matrix(e, layer, head, rows, cols) {
    const A = e.attn[layer][head];
    return rows.map(i => {
      const r = cols.map(j => A[i][j] || 0);
      if (state.hideSpecial) {
        const sum = r.reduce((a, b) => a + b, 0);
        if (sum > 0) for (let k = 0; k < r.length; ++k) r[k] /= sum;
      }
      return r;
    });
  }

  // ---------------------------------------------------------------- layout and controls
  const app = document.getElementById('app');
  const e0 = entry(state.filter);
  app.append(
    h('h1', {}, X.title || 'Attention'),
    h('p', {class: 'sub'},
      [X.model ? `${X.model} · ` : '', `${e0.attn.length} layers × ${numHeads(e0)} heads · `,
       D.attention.cross ? `${D.attention.cross.right_text.length} source, ${D.attention.cross.left_text.length} target tokens`
                         : `${e0.left_text.length} tokens`,
       X.sentence_b_start != null ? ` (second segment from token ${X.sentence_b_start})` : ''].join('')));

  const filterSel = h('select', {id: 'filter', onchange: () => { state.filter = filterSel.value; state.neuronQuery = null; render(); }},
    filters.map(f => h('option', {value: f.key}, f.name)));
  filterSel.value = state.filter;
  const layerSel = h('select', {id: 'layer', onchange: () => { state.layer = +layerSel.value; render(); }});
  const hideBox = h('input', {type: 'checkbox', id: 'hide-special',
    onchange: () => { state.hideSpecial = hideBox.checked; state.neuronQuery = null; render(); }});
  app.append(h('div', {class: 'toolbar'},
    filters.length > 1 ? h('label', {}, 'Attention', filterSel) : null,
    h('label', {id: 'layer-label'}, 'Layer', layerSel),
    h('label', {title: 'Hide ' + [...specials].join(' ') + '; each row is renormalised over the tokens left'},
      hideBox, 'Hide ' + [...specials].join(' '))));

  const tabs = {};
  const tabBar = h('div', {class: 'tabs'});
  for (const [key, name] of [['head', 'Head view'], ['model', 'Model view'], ['neuron', 'Neuron view']]) {
    tabs[key] = h('button', {id: 'tab-' + key, onclick: () => { state.view = key; render(); }}, name);
    tabBar.append(tabs[key]);
  }
  const content = h('div', {id: 'content'});
  app.append(tabBar, content);
  const detail = h('div', {id: 'detail', onclick: ev => { if (ev.target === detail) closeDetail(); }});
  document.body.append(detail);
  document.addEventListener('keydown', ev => { if (ev.key === 'Escape') closeDetail(); });

  function render() {
    const e = entry(state.filter);
    const ids = layerIds(e);
    if (state.layer >= e.attn.length) state.layer = 0;
    layerSel.replaceChildren(...ids.map((id, i) => h('option', {value: i}, String(id))));
    layerSel.value = String(state.layer);
    const hasQK = !!(e.queries && e.keys);
    tabs.neuron.disabled = !hasQK;
    tabs.neuron.title = hasQK ? '' : 'Needs query and key vectors (queries/keys in the data)';
    if (state.view === 'neuron' && !hasQK) state.view = 'head';
    for (const k in tabs) tabs[k].classList.toggle('active', k === state.view);
    document.getElementById('layer-label').style.visibility = state.view === 'model' ? 'hidden' : 'visible';
    content.replaceChildren();
    closeDetail();
    if (state.view === 'head') headView(e);
    else if (state.view === 'model') modelView(e);
    else neuronView(e);
  }

  // ---------------------------------------------------------------- head view
  // Left tokens attend to right tokens; one colour per head, line opacity = weight.
  function headView(e) {
    const H = numHeads(e);
    // A filter with another head count (encoder vs decoder) starts with every head.
    if (!state.heads || [...state.heads].some(k => k >= H)) state.heads = new Set([...Array(H).keys()]);
    const boxes = [];
    const heads = h('div', {class: 'toolbar heads', id: 'heads'}, h('span', {}, 'Heads'));
    for (let k = 0; k < H; ++k) {
      const box = h('input', {type: 'checkbox', 'data-head': k, checked: state.heads.has(k),
        onchange: () => { box.checked ? state.heads.add(k) : state.heads.delete(k); draw(); }});
      boxes.push(box);
      heads.append(h('label', {}, box, h('span', {class: 'swatch', style: `background:${colour(k)}`}), String(k)));
    }
    const setAll = on => { boxes.forEach((b, k) => { b.checked = on; on ? state.heads.add(k) : state.heads.delete(k); }); draw(); };
    heads.append(h('button', {onclick: () => setAll(true)}, 'all'), h('button', {onclick: () => setAll(false)}, 'none'));
    content.append(heads, h('p', {class: 'hint'},
      'Each line joins a token on the left to a token it attends to on the right; opacity is the weight. ' +
      'Hover a token to see only its lines.'));

    const rows = visible(e.left_text), cols = visible(e.right_text);
    const charW = 7.6;
    const leftW = 16 + charW * Math.max(4, ...rows.map(i => e.left_text[i].length));
    const rightW = 16 + charW * Math.max(4, ...cols.map(j => e.right_text[j].length));
    const blockW = 36, lineW = 240;
    const xL = leftW, xLB = xL + 4, xLineL = xLB + blockW + 2, xLineR = xLineL + lineW,
          xRB = xLineR + 2, xR = xRB + blockW + 4;
    const width = xR + rightW, height = Math.max(rows.length, cols.length) * ROW + 10;
    const svg = s('svg', {id: 'head-svg', width, height, viewBox: `0 0 ${width} ${height}`});
    const gBlocks = s('g', {class: 'blocks'}), gLines = s('g', {class: 'lines'}), gText = s('g', {});
    svg.append(gBlocks, gLines, gText);
    const y = r => 5 + r * ROW + ROW / 2;
    let mats = [];

    const leftEls = rows.map((i, r) => s('text', {class: 'tok', x: xL, y: y(r) + 4, 'text-anchor': 'end', 'data-side': 'left', 'data-index': i}, e.left_text[i]));
    const rightEls = cols.map((j, c) => s('text', {class: 'tok', x: xR, y: y(c) + 4, 'data-side': 'right', 'data-index': j}, e.right_text[j]));
    gText.append(...leftEls, ...rightEls);
    leftEls.forEach((el, r) => {
      el.addEventListener('mouseenter', () => { el.classList.add('hover'); draw({row: r}); });
      el.addEventListener('mouseleave', () => { el.classList.remove('hover'); draw(); });
    });
    rightEls.forEach((el, c) => {
      el.addEventListener('mouseenter', () => { el.classList.add('hover'); draw({col: c}); });
      el.addEventListener('mouseleave', () => { el.classList.remove('hover'); draw(); });
    });

    // focus: {row} or {col} limits the lines to one token's and shows per-head blocks.
    function draw(focus) {
      const sel = [...state.heads].sort((a, b) => a - b);
      mats = sel.map(k => matrix(e, state.layer, k, rows, cols));
      const lines = [], blocks = [];
      const bw = sel.length ? blockW / sel.length : blockW;
      sel.forEach((k, n) => {
        const M = mats[n];
        for (let r = 0; r < rows.length; ++r) {
          if (focus && focus.row !== undefined && focus.row !== r) continue;
          for (let c = 0; c < cols.length; ++c) {
            if (focus && focus.col !== undefined && focus.col !== c) continue;
            const w = M[r][c];
            if (w < 0.005) continue;  // invisible at this opacity; keeps the SVG light
            lines.push(s('line', {x1: xLineL, y1: y(r), x2: xLineR, y2: y(c), stroke: colour(k),
              'stroke-width': 2, 'stroke-opacity': w.toFixed(3), 'data-head': k, 'data-row': rows[r], 'data-col': cols[c]}));
            if (focus && focus.row !== undefined)
              blocks.push(s('rect', {x: xRB + n * bw, y: y(c) - ROW / 2 + 2, width: bw - 1, height: ROW - 4, fill: colour(k), 'fill-opacity': w.toFixed(3)}));
            if (focus && focus.col !== undefined)
              blocks.push(s('rect', {x: xLB + n * bw, y: y(r) - ROW / 2 + 2, width: bw - 1, height: ROW - 4, fill: colour(k), 'fill-opacity': w.toFixed(3)}));
          }
        }
        if (focus && focus.row !== undefined)
          blocks.push(s('rect', {x: xLB + n * bw, y: y(focus.row) - ROW / 2 + 2, width: bw - 1, height: ROW - 4, fill: colour(k)}));
        if (focus && focus.col !== undefined)
          blocks.push(s('rect', {x: xRB + n * bw, y: y(focus.col) - ROW / 2 + 2, width: bw - 1, height: ROW - 4, fill: colour(k)}));
      });
      gLines.replaceChildren(...lines);
      gBlocks.replaceChildren(...blocks);
      svg.dataset.lines = String(lines.length);
    }
    content.append(h('div', {style: 'overflow-x:auto'}, svg));
    draw();
  }

  // ---------------------------------------------------------------- model view
  // Every layer x head as a small heatmap (rows = left tokens, columns = right tokens).
  function paint(canvas, M) {
    const R = M.length, C = R ? M[0].length : 0;
    canvas.width = Math.max(1, C);
    canvas.height = Math.max(1, R);
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(canvas.width, canvas.height);
    for (let r = 0; r < R; ++r)
      for (let c = 0; c < C; ++c) {
        const [cr, cg, cb] = heat(M[r][c]);
        const o = 4 * (r * C + c);
        img.data[o] = cr; img.data[o + 1] = cg; img.data[o + 2] = cb; img.data[o + 3] = 255;
      }
    ctx.putImageData(img, 0, 0);
  }

  function modelView(e) {
    const L = e.attn.length, H = numHeads(e), ids = layerIds(e);
    const rows = visible(e.left_text), cols = visible(e.right_text);
    const avail = Math.min(app.clientWidth || 1100, 1160) - 60;
    const size = Math.max(40, Math.min(110, Math.floor(avail / H) - 6));
    content.append(h('p', {class: 'hint'}, `Rows are layers, columns are heads; each map has the attending tokens down and the attended tokens across. Click a map to enlarge it.`));
    const grid = h('div', {class: 'grid', id: 'model-grid', style: `grid-template-columns: 44px repeat(${H}, ${size}px)`});
    grid.append(h('div', {}));
    for (let k = 0; k < H; ++k) grid.append(h('div', {class: 'collabel'}, `head ${k}`));
    for (let l = 0; l < L; ++l) {
      grid.append(h('div', {class: 'rowlabel'}, `layer ${ids[l]}`));
      for (let k = 0; k < H; ++k) {
        const cv = h('canvas', {class: 'cell', 'data-layer': l, 'data-head': k, title: `layer ${ids[l]}, head ${k}`,
          style: `width:${size}px;height:${size}px`, onclick: () => openDetail(e, l, k)});
        paint(cv, matrix(e, l, k, rows, cols));
        grid.append(cv);
      }
    }
    content.append(grid);
  }

  function openDetail(e, l, k) {
    const rows = visible(e.left_text), cols = visible(e.right_text);
    const M = matrix(e, l, k, rows, cols);
    const cell = Math.max(8, Math.min(26, Math.floor(600 / Math.max(rows.length, cols.length))));
    const cv = h('canvas', {id: 'detail-canvas', style: `width:${cols.length * cell}px;height:${rows.length * cell}px;image-rendering:pixelated;display:block`});
    paint(cv, M);
    cv.addEventListener('mousemove', ev => {
      const r = Math.floor(ev.offsetY / cell), c = Math.floor(ev.offsetX / cell);
      if (r < 0 || c < 0 || r >= rows.length || c >= cols.length) return tooltip.hide();
      tooltip.show(ev, `${escapeHtml(e.left_text[rows[r]])} → ${escapeHtml(e.right_text[cols[c]])}<br>weight ${fmtNum(M[r][c])}`);
    });
    cv.addEventListener('mouseleave', () => tooltip.hide());
    const font = Math.min(12, cell - 1);
    const leftLabels = h('div', {style: `display:flex;flex-direction:column;align-items:flex-end;padding-right:4px;font-size:${font}px`},
      rows.map(i => h('div', {class: 'tok', style: `height:${cell}px;line-height:${cell}px;font-size:${font}px`}, e.left_text[i])));
    const topLabels = h('div', {style: `display:flex;align-items:flex-end`},
      cols.map(j => h('div', {class: 'tok', style: `width:${cell}px;writing-mode:vertical-rl;transform:rotate(180deg);font-size:${font}px;line-height:${cell}px;padding-bottom:4px`}, e.right_text[j])));
    const table = h('div', {style: 'display:grid;grid-template-columns:auto auto'}, h('div', {}), topLabels, leftLabels, cv);
    const panel = h('div', {class: 'panel'},
      h('div', {style: 'display:flex;justify-content:space-between;gap:16px;align-items:center'},
        h('h3', {}, `Layer ${layerIds(e)[l]}, head ${k}`),
        h('span', {},
          h('button', {onclick: () => { state.view = 'head'; state.layer = l; state.heads = new Set([k]); render(); }}, 'Open in head view'),
          ' ', h('button', {id: 'detail-close', onclick: closeDetail}, 'Close'))),
      h('p', {class: 'hint'}, 'Rows attend to columns. Hover for the weight.'), table);
    detail.replaceChildren(panel);
    detail.classList.add('open');
  }

  function closeDetail() { detail.classList.remove('open'); detail.replaceChildren(); tooltip.hide(); }

  // ---------------------------------------------------------------- neuron view
  // How one weight arises: query q, key k_j, their elementwise product, the score
  // q·k_j / sqrt(D), and the softmax over the visible keys (a softmax over a subset of
  // keys equals the full softmax renormalised over that subset, so it matches the
  // renormalised weights when special tokens are hidden).
  function neuronView(e) {
    const H = numHeads(e);
    if (state.neuronHead >= H) state.neuronHead = 0;
    const rows = visible(e.left_text), cols = visible(e.right_text);
    if (state.neuronQuery === null || !rows.includes(state.neuronQuery)) state.neuronQuery = rows[0];
    const headSel = h('select', {id: 'neuron-head', onchange: () => { state.neuronHead = +headSel.value; render(); }},
      [...Array(H).keys()].map(k => h('option', {value: k}, String(k))));
    headSel.value = String(state.neuronHead);
    content.append(h('div', {class: 'toolbar'}, h('label', {}, 'Head', headSel),
      h('span', {class: 'hint'}, 'Click a query token on the left.')));

    const q = e.queries[state.layer][state.neuronHead][state.neuronQuery];
    const K = e.keys[state.layer][state.neuronHead];
    const Dh = q.length, scale = 1 / Math.sqrt(Dh);
    const prods = cols.map(j => q.map((v, d) => v * K[j][d]));
    const scores = prods.map(p => p.reduce((a, b) => a + b, 0) * scale);
    const mx = Math.max(...scores);
    const ex = scores.map(v => Math.exp(v - mx));  // minus the max: exp overflows past ~709
    const z = ex.reduce((a, b) => a + b, 0);
    const soft = ex.map(v => v / z);
    const model = matrix(e, state.layer, state.neuronHead, [state.neuronQuery], cols)[0];
    // Each column gets its own colour scale: queries, keys and products differ in size.
    const qMax = Math.max(1e-12, ...q.map(Math.abs));
    const kMax = Math.max(1e-12, ...cols.map(j => Math.max(...K[j].map(Math.abs))));
    const prodMax = Math.max(1e-12, ...prods.map(p => Math.max(...p.map(Math.abs))));
    const strip = (v, m) => h('div', {class: 'vec'}, v.map((x, d) => h('span', {style: `background:${diverge(x, m)}`, title: `[${d}] ${fmtNum(x)}`})));

    const queries = h('div', {id: 'neuron-queries', style: 'display:flex;flex-direction:column;padding-right:14px'},
      h('div', {style: `height:${ROW}px;line-height:${ROW}px;font-weight:bold;padding:0 6px`}, 'query'),
      rows.map(i => h('div', {class: 'tok' + (i === state.neuronQuery ? ' hover' : ''), 'data-index': i,
        style: `height:${ROW}px;line-height:${ROW}px;cursor:pointer;padding:0 6px;border-radius:4px;` +
               (i === state.neuronQuery ? 'background:#dbe6fb' : ''),
        onclick: () => { state.neuronQuery = i; render(); }}, e.left_text[i])));

    const maxDiff = Math.max(...soft.map((v, c) => Math.abs(v - model[c])));
    const table = h('table', {class: 'data neuron', id: 'neuron-table'},
      h('tr', {}, h('th', {}, ''), h('th', {}, `query q (D = ${Dh})`), h('th', {}, ''), h('th', {}, ''), h('th', {}, ''), h('th', {}, ''), h('th', {}, '')),
      h('tr', {}, h('td', {class: 'tok'}, e.left_text[state.neuronQuery]), h('td', {}, strip(q, qMax)), h('td', {}), h('td', {}), h('td', {}), h('td', {}), h('td', {})),
      h('tr', {}, h('th', {}, 'key'), h('th', {}, 'key k'), h('th', {}, 'q × k (elementwise)'),
        h('th', {class: 'num'}, 'q·k / √D'), h('th', {class: 'num'}, 'softmax'), h('th', {class: 'num'}, 'model weight'), h('th', {}, '')),
      cols.map((j, c) => h('tr', {'data-key': j},
        h('td', {class: 'tok'}, e.right_text[j]),
        h('td', {}, strip(K[j], kMax)),
        h('td', {}, strip(prods[c], prodMax)),
        h('td', {class: 'num'}, scores[c].toFixed(3)),
        h('td', {class: 'num softmax'}, soft[c].toFixed(4)),
        h('td', {class: 'num model'}, model[c].toFixed(4)),
        h('td', {}, h('div', {style: `width:${Math.round(120 * soft[c])}px;height:10px;background:${colour(state.neuronHead)}`})))));
    content.append(h('p', {class: 'hint'},
      `Layer ${layerIds(e)[state.layer]}, head ${state.neuronHead}. Blue is negative, orange positive; each vector column has its own colour scale. ` +
      `Largest |softmax − model weight| here: ${maxDiff.toExponential(1)}` +
      (maxDiff > 1e-2 ? ' (the model also applied a mask or bias the vectors do not show).' : '.')),
      h('div', {style: 'display:flex;align-items:flex-start;overflow-x:auto'}, queries, table));
  }

  render();
  markReady();
})();
