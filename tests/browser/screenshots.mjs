// Screenshots of each view for docs/screenshots/, from the pages run.sh writes:
//   node tests/browser/screenshots.mjs PAGES_DIR docs/screenshots
import path from 'node:path';
import fs from 'node:fs';
import {launch, open} from './browser.mjs';

const [dir, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, {recursive: true});
const ctx = await launch();
const shot = async (page, name, opts = {}) => {
  await page.screenshot({path: path.join(outDir, name), ...opts});
  console.log('wrote', path.join(outDir, name));
};

{
  const {page} = await open(ctx, path.join(dir, 'attention_pair.html'));
  await page.setViewportSize({width: 1000, height: 560});
  await page.selectOption('#layer', '1');
  await page.hover('#head-svg text[data-side="left"][data-index="3"]');
  await shot(page, 'attention_head_view.png');
  await page.mouse.move(2, 2);
  await page.setViewportSize({width: 1180, height: 860});
  await page.click('#tab-model');
  await shot(page, 'attention_model_view.png');
  await page.click('#model-grid canvas.cell[data-layer="2"][data-head="4"]');
  await page.waitForSelector('#detail-canvas');
  const box = await page.locator('#detail-canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.35, box.y + box.height * 0.3);
  await shot(page, 'attention_model_view_enlarged.png');
  await page.keyboard.press('Escape');
  await page.click('#tab-neuron');
  await page.selectOption('#layer', '0');
  await page.selectOption('#neuron-head', '1');
  await page.click('#neuron-queries div[data-index="5"]');
  await page.setViewportSize({width: 1000, height: 640});
  await shot(page, 'attention_neuron_view.png');
  await page.close();
}
{
  const {page} = await open(ctx, path.join(dir, 'attention_cross.html'));
  await page.setViewportSize({width: 900, height: 480});
  await page.selectOption('#filter', 'cross');
  await shot(page, 'attention_cross_view.png');
  await page.close();
}
{
  const {page} = await open(ctx, path.join(dir, 'report.html'));
  await page.setViewportSize({width: 1240, height: 900});
  await shot(page, 'report.png', {fullPage: true});
  const chart = page.locator('.chart[data-group="loss"]');
  const box = await chart.locator('rect.overlay').boundingBox();
  await page.mouse.move(box.x + box.width * 0.42, box.y + box.height * 0.5);
  const c = await chart.boundingBox();
  await shot(page, 'report_hover.png', {clip: {x: c.x - 4, y: c.y - 4, width: c.width + 8, height: c.height + 8}});
  await page.close();
}
await ctx.close();
