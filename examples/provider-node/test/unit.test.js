'use strict';
// Unit tests of the pieces whose exact format the host depends on. The whole plugin is
// tested as the host runs it by host/cmd/poolhost/node_example_test.go.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');

const { timestamp, Logger } = require('../src/hclog');
const sw = require('../src/standardwebhooks');
const errors = require('../src/errors');
const { Status, ErrorDetail } = require('../src/wire');
const { handshakeCert, serverCertificate, routeConsole } = require('../src/goplugin');
const { AcmeAdapter, parseRFC3339 } = require('../src/acme');

test('log timestamps have exactly six fractional digits (go-plugin drops others to DEBUG)', () => {
  const ts = timestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)));
  assert.strictEqual(ts, '2026-01-02T03:04:05.678000Z');
  const lines = [];
  new Logger({ level: 'info', out: { write: (s) => lines.push(s) } }).warn('hello', { type: 'x' });
  const entry = JSON.parse(lines[0]);
  assert.match(entry['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.strictEqual(entry['@level'], 'warn');
  assert.strictEqual(entry['@message'], 'hello');
  assert.strictEqual(entry.type, 'x');
});

test('the handshake carries the DER certificate as unpadded base64 naming localhost', () => {
  const { der } = serverCertificate();
  const field = handshakeCert(der);
  assert.doesNotMatch(field, /=/);
  assert.deepStrictEqual(Buffer.from(field, 'base64'), der);
  const x = new (require('node:crypto').X509Certificate)(der);
  assert.match(x.subjectAltName, /DNS:localhost/);
  assert.ok(x.ca);
});

test('console output becomes log lines on stderr, never stdout (the handshake\'s)', (t) => {
  const saved = { ...console };
  t.after(() => Object.assign(console, saved));
  const lines = [];
  routeConsole(new Logger({ level: 'trace', out: { write: (s) => lines.push(JSON.parse(s)) } }));
  console.log('hello', { a: 1 });
  console.error('bad');
  assert.deepStrictEqual(lines.map((l) => [l['@level'], l['@message']]), [['info', 'hello { a: 1 }'], ['error', 'bad']]);
});

// The fixtures: the package's own testdata/conformance (a copy outside the repository
// carries them, e.g. written by `poolhost plugins fixtures sign`), else the Go
// template's, read from the repository.
const fixtures = [path.join(__dirname, '..', 'testdata', 'conformance'),
  path.join(__dirname, '..', '..', 'provider-template', 'testdata', 'conformance')]
  .find((dir) => fs.existsSync(path.join(dir, 'configure.json')));
function fixture(kind, name) {
  const f = JSON.parse(fs.readFileSync(path.join(fixtures, 'webhooks', kind, name), 'utf8'));
  const headers = Object.entries(f.headers).map(([n, values]) => ({ name: n, values }));
  return { headers, body: Buffer.from(f.body), received: Date.parse(f.received_at) / 1000 };
}
const secret = JSON.parse(fs.readFileSync(path.join(fixtures, 'configure.json'), 'utf8')).secrets.webhook_secret;

test('Standard Webhooks: the Go fixtures verify, tampered and stale ones are rejected', () => {
  const key = sw.parseSecret(secret);
  const ok = fixture('valid', 'readings_created.json');
  sw.verify(key, ok.headers, ok.body, ok.received);
  const tampered = fixture('tampered', 'readings_created.json');
  assert.throws(() => sw.verify(key, tampered.headers, tampered.body, tampered.received), /bad signature/);
  const stale = fixture('stale', 'readings_created.json');
  assert.throws(() => sw.verify(key, stale.headers, stale.body, stale.received), (e) => /too old/.test(e.message) && e.reason === 'stale_timestamp');
  assert.throws(() => sw.verify(key, [], ok.body, ok.received), (e) => e.kind === 'rejected' && /missing header webhook-id/.test(e.message));
  const signed = sw.sign(key, 'msg_1', 1767268805, Buffer.from('{}'));
  sw.verify(key, signed, Buffer.from('{}'), 1767268805);
  assert.strictEqual(sw.parseSecret('whsec_not base64!'), null);
});

test('an error travels as a status code plus ErrorDetail in grpc-status-details-bin', () => {
  const e = errors.toServiceError(errors.invalidInput('bad device list', { refreshedCredentials: { webhook_secret: 'whsec_x' } }), 'DiscoverDevices');
  assert.strictEqual(e.code, grpc.status.FAILED_PRECONDITION);
  assert.strictEqual(e.details, 'bad device list');
  const [bin] = e.metadata.get('grpc-status-details-bin');
  const st = Status.decode(bin);
  assert.strictEqual(st.code, grpc.status.FAILED_PRECONDITION); // grpc-go refuses a mismatch
  assert.strictEqual(st.message, 'bad device list');
  assert.strictEqual(st.details[0].type_url, 'type.googleapis.com/poolhost.adapter.v1.ErrorDetail');
  assert.deepStrictEqual(ErrorDetail.decode(st.details[0].value).refreshed_credentials.values, { webhook_secret: 'whsec_x' });

  const rejected = errors.toServiceError(errors.rejected('standard webhooks: bad signature', { reason: 'bad_signature' }), 'IngestWebhook');
  assert.strictEqual(rejected.code, grpc.status.PERMISSION_DENIED);
  const rst = Status.decode(rejected.metadata.get('grpc-status-details-bin')[0]);
  assert.strictEqual(ErrorDetail.decode(rst.details[0].value).reason, 'bad_signature');

  const thrown = errors.toServiceError(new TypeError('x is undefined'), 'Webhook', null);
  assert.strictEqual(thrown.code, grpc.status.INTERNAL);
  assert.strictEqual(thrown.details, 'plugin threw in Webhook: x is undefined');
});

test('webhook parsing follows the Go template', () => {
  const a = new AcmeAdapter({ log: new Logger({ level: 'error' }) });
  a.configure({ settings: {}, secrets: { webhook_secret: secret } });
  const ok = fixture('valid', 'readings_created.json');
  const res = a.webhook({ headers: ok.headers, body: ok.body });
  assert.strictEqual(res.delivery_id, 'msg_conformance_1');
  assert.deepStrictEqual(res.readings.map((r) => [r.metric, r.value, r.unit, r.quality]),
    [['ph', 7.42, '', 'good'], ['temperature', 80.6, 'F', 'good'], ['orp', 690, 'mV', 'suspect']]);
  assert.deepStrictEqual(res.readings[0].recorded_at, { seconds: '1767268800', nanos: 0 });
  const body = (s) => ({ headers: [], body: Buffer.from(s) });
  assert.deepStrictEqual(a.webhook(body('{"event":"device.added","device_id":"d"}')).readings, []);
  assert.deepStrictEqual(a.webhook(body('null')).readings, []);
  for (const bad of ['', '[]', '{"event":5}', '{"event":"readings.created"}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":1e999}]}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":"7"}]}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":7,"measured_at":"2026-02-30T00:00:00Z"}]}']) {
    assert.throws(() => a.webhook(body(bad)), (e) => e.kind === 'permanent', bad);
  }
});

test('RFC 3339 times', () => {
  assert.deepStrictEqual(parseRFC3339('2026-01-01T12:00:00.5+01:00'), { seconds: String(Date.UTC(2026, 0, 1, 11) / 1000), nanos: 500000000 });
  assert.deepStrictEqual(parseRFC3339('0001-01-01T00:00:00Z'), { seconds: '-62135596800', nanos: 0 });
  for (const bad of ['2026-13-01T00:00:00Z', '2026-01-01 00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00']) {
    assert.strictEqual(parseRFC3339(bad), null, bad);
  }
});
