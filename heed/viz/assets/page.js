// Shared helpers of heed's pages: the data island, element builders, colours, tooltip.
// Plain browser JS, no modules and no build step; the page script runs after this one.
'use strict';

function heedData() {
  return JSON.parse(document.getElementById('heed-data').textContent);
}

// h('div', {class: 'x', onclick: f}, child, 'text', ...) -> HTMLElement
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
}

// Twelve distinguishable colours (Tableau 10 + two), one per attention head or series.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
                 '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1f3a93', '#8cd17d'];
function colour(i) {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 60%, 48%)`;  // golden-angle hues past twelve
}

// Sequential white -> blue for weights in [0, 1].
function heat(v) {
  const t = Math.max(0, Math.min(1, v));
  const r = Math.round(255 - t * (255 - 20)), g = Math.round(255 - t * (255 - 70)),
        b = Math.round(255 - t * (255 - 160));
  return [r, g, b];
}
function heatCss(v) { const [r, g, b] = heat(v); return `rgb(${r},${g},${b})`; }
// Diverging blue (negative) / white / orange (positive) for vector components.
function diverge(v, maxAbs) {
  const t = Math.max(-1, Math.min(1, maxAbs > 0 ? v / maxAbs : 0));
  if (t >= 0) return `rgb(255,${Math.round(255 - t * 125)},${Math.round(255 - t * 215)})`;
  return `rgb(${Math.round(255 + t * 205)},${Math.round(255 + t * 135)},255)`;
}

function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '';
  if (typeof v !== 'number') return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return Number(v.toPrecision(4)).toExponential();
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(5)));
}

const tooltip = (() => {
  let el = null;
  return {
    show(evt, html) {
      if (!el) { el = h('div', {id: 'tooltip'}); document.body.append(el); }
      el.innerHTML = html;
      el.style.display = 'block';
      const pad = 14, w = el.offsetWidth, hgt = el.offsetHeight;
      let x = evt.clientX + pad, y = evt.clientY + pad;
      if (x + w > window.innerWidth) x = evt.clientX - w - pad;
      if (y + hgt > window.innerHeight) y = evt.clientY - hgt - pad;
      el.style.left = x + 'px';
      el.style.top = y + 'px';
    },
    hide() { if (el) el.style.display = 'none'; },
  };
})();

function escapeHtml(t) {
  return String(t).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]);
}

// Marks the page as drawn, with the time since navigation began, for tests and timing.
function markReady() {
  document.body.dataset.ready = String(Math.round(performance.now()));
}
