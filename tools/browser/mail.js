// Opens every prepared email preview (tools/mail_check.py prepare) in Debian's chromium
// through playwright-core, at each width: a full-page screenshot DIR/STEM.WIDTH.png (and
// DIR/STEM.390-dark.png in dark mode) and
// what the checks need, measured in the page, in DIR/check/STEM.WIDTH.json.
// Usage: node mail.js DIR
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const WIDTHS = [390, 800];

function measure() {
  const right = document.documentElement.clientWidth;
  const wide = [];
  document.querySelectorAll('body *').forEach((e) => {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 1 && wide.length < 5) {
      wide.push(`${e.tagName} ${(e.textContent || '').trim().slice(0, 40)}`);
    }
  });
  return {
    width: right,
    scrollWidth: document.documentElement.scrollWidth,
    wide,
    images: [...document.images].map((i) => ({ src: i.getAttribute('src'), alt: i.getAttribute('alt'), loaded: i.complete && i.naturalWidth > 0 })),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
  };
}

(async () => {
  const dir = path.resolve(process.argv[2]);
  const check = path.join(dir, 'check');
  const pages = fs.readdirSync(check).filter((f) => f.endsWith('.html')).sort();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const messages = [];
  for (const width of WIDTHS) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => messages.push(`error: ${e.message}`));
    for (const file of pages) {
      const stem = file.slice(0, -'.html'.length);
      await page.goto('file://' + path.join(check, file), { waitUntil: 'load' });
      await page.screenshot({ path: path.join(dir, `${stem}.${width}.png`), fullPage: true });
      fs.writeFileSync(path.join(check, `${stem}.${width}.json`), JSON.stringify(await page.evaluate(measure)));
    }
    await page.close();
  }
  // Dark mode as Apple Mail and the iOS apps apply it: screenshots only, for a person.
  const dark = await browser.newPage({ viewport: { width: 390, height: 900 }, colorScheme: 'dark' });
  for (const file of pages) {
    await dark.goto('file://' + path.join(check, file), { waitUntil: 'load' });
    await dark.screenshot({ path: path.join(dir, `${file.slice(0, -'.html'.length)}.390-dark.png`), fullPage: true });
  }
  await browser.close();
  if (messages.length) {
    console.error('FAIL: console messages:\n' + messages.join('\n'));
    process.exit(1);
  }
  console.log(`opened ${pages.length} previews at ${WIDTHS.join(' and ')} px`);
})().catch((e) => {
  console.error('FAIL: ' + e.message);
  process.exit(1);
});
