// The training report: metric curves (inline SVG, one polyline point per logged record),
// the run's config and the final evaluation. Data: report_data() in report_page.cc.
// Plain browser JS over page.js's helpers; no libraries.
'use strict';

(function () {
  const D = heedData();
  const M = D.metrics;
  const app = document.getElementById('app');
  const byName = new Map(M.series.map(x => [x.name, x]));

  app.append(h('h1', {}, D.title || 'Training report'),
    h('p', {class: 'sub'}, [D.run_dir ? D.run_dir + ' · ' : '', `${M.records} log records · `,
      `${M.series.length} metrics over ${M.x_key}`].join('')));
  for (const w of D.warnings || []) app.append(h('div', {class: 'warn'}, w));

  // ------------------------------------------------------------ summary cards
  const cards = h('div', {class: 'cards', id: 'summary'});
  const lastOf = name => { const x = byName.get(name); return x && x.y.length ? x.y[x.y.length - 1] : null; };
  const card = (k, v) => cards.append(h('div', {class: 'card'}, h('div', {class: 'v'}, fmtNum(v)), h('div', {class: 'k'}, k)));
  const steps = M.series.flatMap(x => x.x);
  if (steps.length) card(`last ${M.x_key}`, Math.max(...steps));
  for (const x of M.series) if (x.group === 'loss') card(`final ${x.name}`, lastOf(x.name));
  const ev = D.evaluation;
  if (ev && ev.summary) for (const k of ['accuracy', 'macro_f1']) if (typeof ev.summary[k] === 'number') card(k, ev.summary[k]);
  if (cards.childElementCount) app.append(cards);

  // ------------------------------------------------------------ curves
  app.append(h('h2', {}, 'Training curves'));
  if (!M.series.length) app.append(h('p', {class: 'hint'}, 'No numeric metrics in metrics.jsonl.'));
  const charts = h('div', {class: 'charts', id: 'charts'});
  app.append(charts);
  let seriesIndex = 0;
  const seriesColour = new Map();
  for (const x of M.series) seriesColour.set(x.name, colour(seriesIndex++));
  for (const g of M.groups) charts.append(chart(g));

  // Round tick steps: 1, 2 or 5 times a power of ten, about n ticks over [lo, hi].
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * p).find(v => v >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  function chart(g) {
    const series = g.series.map(n => byName.get(n));
    const W = 600, H = 250, ml = 64, mr = 14, mt = 10, mb = 34, pw = W - ml - mr, ph = H - mt - mb;
    const allY = series.flatMap(x => x.y), allX = series.flatMap(x => x.x);
    const canLog = allY.length > 0 && allY.every(v => v > 0) && Math.max(...allY) / Math.min(...allY) > 20;
    let logY = false;
    const box = h('div', {class: 'chart', 'data-group': g.name});
    const legend = h('div', {class: 'legend'}, series.map(x => h('span', {},
      h('span', {class: 'swatch', style: `background:${seriesColour.get(x.name)}`}), ` ${x.name} (${x.y.length})`)));
    const logBox = h('input', {type: 'checkbox', onchange: () => { logY = logBox.checked; draw(); }});
    box.append(h('div', {style: 'display:flex;justify-content:space-between;align-items:baseline'},
      h('h3', {}, g.title), canLog ? h('label', {class: 'hint'}, logBox, ' log scale') : null), legend);
    const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': g.title});
    box.append(svg);

    function draw() {
      const fy = v => logY ? Math.log10(v) : v;
      const x0 = Math.min(...allX), x1 = Math.max(...allX);
      let y0 = Math.min(...allY.map(fy)), y1 = Math.max(...allY.map(fy));
      if (y1 === y0) { y0 -= Math.abs(y0) * 0.05 || 1; y1 += Math.abs(y1) * 0.05 || 1; }
      const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
      const sx = v => ml + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * pw;
      const sy = v => mt + (1 - (fy(v) - y0) / (y1 - y0)) * ph;
      const parts = [];
      for (const t of ticks(y0, y1, 5)) {
        const yy = mt + (1 - (t - y0) / (y1 - y0)) * ph;
        parts.push(s('line', {class: 'gridline', x1: ml, x2: W - mr, y1: yy, y2: yy}),
          s('text', {class: 'axis', x: ml - 6, y: yy + 4, 'text-anchor': 'end'}, logY ? fmtNum(Math.pow(10, t)) : fmtNum(t)));
      }
      for (const t of ticks(x0, x1, 6))
        parts.push(s('text', {class: 'axis', x: sx(t), y: H - mb + 16, 'text-anchor': 'middle'}, fmtNum(t)));
      parts.push(s('text', {class: 'axis', x: ml + pw / 2, y: H - 4, 'text-anchor': 'middle'}, M.x_key),
        s('rect', {x: ml, y: mt, width: pw, height: ph, fill: 'none', stroke: '#d0d5dd'}));
      for (const x of series) {
        const pts = x.x.map((v, i) => `${sx(v).toFixed(1)},${sy(x.y[i]).toFixed(1)}`).join(' ');
        parts.push(s('polyline', {class: 'curve' + (x.eval ? ' eval' : ''), stroke: seriesColour.get(x.name),
          points: pts, 'data-series': x.name, 'data-points': x.y.length}));
        // Sparse series (evaluations) also get dots, so a single point is visible.
        if (x.y.length <= 60)
          x.x.forEach((v, i) => parts.push(s('circle', {cx: sx(v), cy: sy(x.y[i]), r: 2.5, fill: seriesColour.get(x.name)})));
      }
      const cursor = s('line', {x1: 0, x2: 0, y1: mt, y2: mt + ph, stroke: '#667085', 'stroke-dasharray': '3 3', visibility: 'hidden'});
      const dots = s('g', {});
      const overlay = s('rect', {class: 'overlay', x: ml, y: mt, width: pw, height: ph, fill: 'transparent'});
      overlay.addEventListener('mousemove', ev => {
        const r = svg.getBoundingClientRect();
        const xv = x0 + ((ev.clientX - r.left) * (W / r.width) - ml) / pw * (x1 - x0);
        // The nearest logged x over the group's series, then each series' point nearest it.
        let best = null;
        for (const x of series) { const i = nearest(x.x, xv); if (i >= 0 && (best === null || Math.abs(x.x[i] - xv) < Math.abs(best - xv))) best = x.x[i]; }
        if (best === null) return;
        cursor.setAttribute('x1', sx(best)); cursor.setAttribute('x2', sx(best));
        cursor.setAttribute('visibility', 'visible');
        const lines = [`<b>${escapeHtml(M.x_key)} ${fmtNum(best)}</b>`];
        dots.replaceChildren();
        for (const x of series) {
          const i = nearest(x.x, best);
          if (i < 0) continue;
          dots.append(s('circle', {cx: sx(x.x[i]), cy: sy(x.y[i]), r: 4, fill: seriesColour.get(x.name), stroke: '#fff'}));
          const at = x.x[i] !== best ? ` <span style="opacity:.7">(at ${fmtNum(x.x[i])})</span>` : '';
          lines.push(`<span class="swatch" style="background:${seriesColour.get(x.name)}"></span> ${escapeHtml(x.name)} ${fmtNum(x.y[i])}${at}`);
        }
        tooltip.show(ev, lines.join('<br>'));
      });
      overlay.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden'); dots.replaceChildren(); tooltip.hide(); });
      svg.replaceChildren(...parts, cursor, dots, overlay);
    }
    draw();
    return box;
  }

  // Index of the value in xs nearest v (xs ascending, as steps are; -1 when empty).
  function nearest(xs, v) {
    if (!xs.length) return -1;
    let lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xs[mid] < v) lo = mid; else hi = mid; }
    return Math.abs(xs[lo] - v) <= Math.abs(xs[hi] - v) ? lo : hi;
  }

  // ------------------------------------------------------------ evaluation
  if (ev) {
    app.append(h('h2', {id: 'evaluation'}, `Evaluation (${ev.file})`));
    const sum = Object.entries(ev.summary || {});
    if (sum.length)
      app.append(h('table', {class: 'data', id: 'eval-summary'}, sum.map(([k, v]) =>
        h('tr', {}, h('th', {}, k), h('td', {class: 'num'}, fmtNum(v))))));
    if (ev.confusion_matrix) app.append(confusion(ev));
    if (ev.per_class && ev.per_class.length) {
      app.append(h('h3', {style: 'margin-top:16px'}, 'Per class' + (ev.per_class_derived ? ' (derived from the confusion matrix)' : '')));
      app.append(h('table', {class: 'data', id: 'per-class'},
        h('tr', {}, ['label', 'precision', 'recall', 'f1', 'support'].map((k, i) => h('th', {class: i ? 'num' : ''}, k))),
        ev.per_class.map(r => h('tr', {}, h('td', {}, r.label),
          ['precision', 'recall', 'f1'].map(k => h('td', {class: 'num'}, typeof r[k] === 'number' ? r[k].toFixed(3) : '')),
          h('td', {class: 'num'}, fmtNum(r.support))))));
    }
  }

  // Rows are true labels, columns predictions; colour is the share of the row.
  function confusion(ev) {
    const labels = ev.labels, cm = ev.confusion_matrix;
    const wrap = h('div', {style: 'margin-top:14px'});
    const normBox = h('input', {type: 'checkbox', onchange: () => draw()});
    wrap.append(h('h3', {}, 'Confusion matrix ', h('label', {class: 'hint', style: 'font-weight:normal'}, normBox, ' show row shares')));
    const holder = h('div', {style: 'overflow-x:auto'});
    wrap.append(holder);
    function draw() {
      const t = h('table', {class: 'cm', id: 'confusion'});
      t.append(h('tr', {}, h('th', {}, 'true ↓ / predicted →'), labels.map(l => h('th', {}, l))));
      cm.forEach((row, i) => {
        const total = row.reduce((a, b) => a + b, 0);
        t.append(h('tr', {}, h('th', {style: 'text-align:right'}, labels[i]), row.map((v, j) => {
          const share = total > 0 ? v / total : 0;
          return h('td', {style: `background:${heatCss(share)};color:${share > 0.55 ? '#fff' : '#1d2230'}` + (i === j ? ';font-weight:bold' : ''),
            title: `true ${labels[i]}, predicted ${labels[j]}: ${v} (${(100 * share).toFixed(1)}% of the row)`},
            normBox.checked ? (100 * share).toFixed(0) + '%' : fmtNum(v));
        })));
      });
      holder.replaceChildren(t);
    }
    draw();
    return wrap;
  }

  // ------------------------------------------------------------ config
  for (const c of D.configs || []) {
    app.append(h('h2', {}, c.file));
    app.append(h('table', {class: 'data config'}, c.rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {class: 'mono'}, v)))));
  }

  markReady();
})();
