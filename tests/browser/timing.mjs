// How long a report takes to render in headless Chromium (not a test: a measurement).
//   node tests/browser/timing.mjs PAGE.html [runs]
// Prints, per run, the page's own mark (performance.now() when report.js has drawn
// everything: time since navigation start, so it includes HTML parse, JSON.parse and
// drawing) and the wall time from page.goto to that mark, then the medians.
import path from 'node:path';
import {launch} from './browser.mjs';

const file = path.resolve(process.argv[2]);
const runs = +(process.argv[3] || 7);
const ctx = await launch();
const marks = [], walls = [];
for (let i = 0; i < runs; ++i) {
  const page = await ctx.newPage();
  const t0 = performance.now();
  await page.goto('file://' + file);
  await page.waitForSelector('body[data-ready]');
  walls.push(performance.now() - t0);
  marks.push(+(await page.evaluate(() => document.body.dataset.ready)));
  const points = await page.locator('polyline.curve').evaluateAll(ps => ps.reduce((a, p) => a + p.points.numberOfItems, 0));
  console.log(`run ${i + 1}: page mark ${marks.at(-1)} ms, wall ${walls.at(-1).toFixed(0)} ms, ${points} curve points`);
  await page.close();
}
await ctx.close();
const median = xs => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`median over ${runs} (first run included): page mark ${median(marks)} ms, wall ${median(walls).toFixed(0)} ms`);
