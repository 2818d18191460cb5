'use strict';
// Conformance fixtures in the language-neutral format `poolhost plugins test --fixtures
// DIR` and the Go SDK (sdktest.LoadFixtures, sdktest.WriteWebhook) use, so a Node team
// can write signed fixtures and test against them without Go:
//
//   DIR/configure.json               {"settings": {…}, "secrets": {…}}
//   DIR/webhooks/valid/*.json        deliveries the plugin must accept
//   DIR/webhooks/tampered/*.json     a valid delivery with its body changed: rejected
//   DIR/webhooks/wrong_secret/*.json signed with another secret: rejected
//   DIR/webhooks/stale/*.json        signed too long before received_at: rejected
//
// One webhook file: {"headers": {"Name": ["value"]}, "body": "…" (or "body_base64"),
// "received_at": RFC 3339, "account_secret": "whsec_…" (set: an account-scoped delivery)}.
//
// Paths are the caller's: resolve them from your test file (path.join(__dirname, …)),
// never from the working directory, so `npm test` works wherever the package sits.
const fs = require('node:fs');
const path = require('node:path');

const KINDS = ['valid', 'tampered', 'wrong_secret', 'stale'];

// writeWebhook writes one delivery to file. headers: {name: [values]} or the
// [{name, values}] list a RawWebhook carries; body: a string or Buffer; receivedAt: a Date.
function writeWebhook(file, { headers, body, receivedAt, accountSecret }) {
  const out = { headers: headerObject(headers) };
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(String(body ?? ''));
  // Text stays readable in the file; anything that is not valid UTF-8 goes as base64.
  if (Buffer.from(buf.toString('utf8'), 'utf8').equals(buf)) out.body = buf.toString('utf8');
  else out.body_base64 = buf.toString('base64');
  if (receivedAt) out.received_at = receivedAt.toISOString().replace('.000Z', 'Z');
  if (accountSecret) out.account_secret = accountSecret;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
}

// readWebhook reads one delivery as the host hands it to a plugin: {headers: [{name,
// values}], body: Buffer, received_at: {seconds, nanos}, account, account_secret}, so
// it can go straight to an adapter's verifyWebhook and webhook.
function readWebhook(file) {
  const f = JSON.parse(fs.readFileSync(file, 'utf8'));
  const raw = {
    headers: Object.entries(f.headers || {}).map(([name, values]) => ({ name, values })),
    body: f.body_base64 !== undefined ? Buffer.from(f.body_base64, 'base64') : Buffer.from(f.body ?? '', 'utf8'),
    received_at: null,
    account: null,
    account_secret: '',
  };
  if (f.received_at) {
    const ms = Date.parse(f.received_at);
    if (Number.isNaN(ms)) throw new Error(`${file}: received_at ${JSON.stringify(f.received_at)} is not an RFC 3339 time`);
    raw.received_at = { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
  }
  if (f.account_secret) {
    raw.account = { id: 'fixture-account', external_account_id: 'fixture' };
    raw.account_secret = f.account_secret;
  }
  return raw;
}

// loadFixtures reads a fixture directory: {configure: {settings, secrets}, webhooks:
// {valid: [{name, raw}], tampered: […], wrong_secret: […], stale: […]}}. A missing
// directory is an error naming it (a test that silently found no fixtures proves nothing).
function loadFixtures(dir) {
  if (!fs.existsSync(dir)) throw new Error(`fixture directory ${dir} does not exist`);
  const conf = path.join(dir, 'configure.json');
  const configure = fs.existsSync(conf) ? JSON.parse(fs.readFileSync(conf, 'utf8')) : {};
  const webhooks = {};
  for (const kind of KINDS) {
    const d = path.join(dir, 'webhooks', kind);
    webhooks[kind] = fs.existsSync(d)
      ? fs.readdirSync(d).filter((n) => n.endsWith('.json')).sort().map((name) => ({ name, raw: readWebhook(path.join(d, name)) }))
      : [];
  }
  return { configure: { settings: configure.settings || {}, secrets: configure.secrets || {} }, webhooks };
}

function headerObject(headers) {
  if (!Array.isArray(headers)) return { ...(headers || {}) };
  const out = {};
  for (const h of headers) out[h.name] = [...h.values];
  return out;
}

module.exports = { writeWebhook, readWebhook, loadFixtures, KINDS };
