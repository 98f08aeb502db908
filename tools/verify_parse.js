// The webhook's hot path in Node, for `make bench`'s comparison (shared/benches/node_ratio.rs):
// verify the X-Shopify-Hmac-Sha256 signature with crypto.createHmac (constant-time
// compare) and JSON.parse the body, as a Node webhook handler does.
//   usage: node tools/verify_parse.js BODY_FILE SECRET SIGNATURE_BASE64 ITERATIONS
// Prints the nanoseconds per verify+parse, the median of 5 timed batches after a warm-up.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');

const [file, secret, signature, iterations] = process.argv.slice(2);
const body = fs.readFileSync(file);
const expected = Buffer.from(signature, 'base64');
const n = Number(iterations);

function verifyAndParse() {
  const digest = crypto.createHmac('sha256', secret).update(body).digest();
  if (digest.length !== expected.length || !crypto.timingSafeEqual(digest, expected)) {
    throw new Error('signature does not verify');
  }
  return JSON.parse(body.toString('utf8'));
}

let sink = 0;
for (let i = 0; i < n; i++) sink += verifyAndParse().id ? 1 : 0; // warm-up (JIT)
const batches = [];
for (let b = 0; b < 5; b++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += verifyAndParse().id ? 1 : 0;
  batches.push(Number(process.hrtime.bigint() - start) / n);
}
batches.sort((a, b) => a - b);
if (sink === 0) throw new Error('nothing parsed');
process.stdout.write(`${batches[2].toFixed(0)}\n`);
