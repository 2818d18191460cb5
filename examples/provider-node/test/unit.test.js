'use strict';
// The Acme adapter against its own signed fixtures (testdata/conformance, written by
// `npm run fixtures`), found relative to this file so `npm test` works wherever the
// package sits. The go-plugin plumbing is @poolhost/plugin's, tested there; the whole
// plugin runs in a real host in host/cmd/poolhost/node_example_test.go.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Logger, fixtures } = require('@poolhost/plugin');

const { AcmeAdapter, parseRFC3339 } = require('../src/acme');
const writeFixtures = require('../scripts/write-fixtures');

const FIXTURES = path.join(__dirname, '..', 'testdata', 'conformance');
const set = fixtures.loadFixtures(FIXTURES);

function adapter() {
  const a = new AcmeAdapter({ log: new Logger({ level: 'error' }) });
  a.configure(set.configure);
  return a;
}
const fixture = (kind, name) => set.webhooks[kind].find((w) => w.name === name).raw;

test('the committed fixtures are what `npm run fixtures` writes', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acme-fixtures-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  writeFixtures.write(dir);
  const list = (d) => fs.readdirSync(d, { recursive: true }).sort();
  assert.deepStrictEqual(list(dir), list(FIXTURES));
  for (const f of list(dir)) {
    if (fs.statSync(path.join(dir, f)).isFile()) assert.strictEqual(fs.readFileSync(path.join(dir, f), 'utf8'), fs.readFileSync(path.join(FIXTURES, f), 'utf8'), f);
  }
});

test('signed deliveries verify; tampered, wrong-secret and stale ones are rejected with their reason', () => {
  const a = adapter();
  for (const w of set.webhooks.valid) a.verifyWebhook(w.raw);
  const reasons = ['tampered', 'wrong_secret', 'stale'].map((kind) => {
    try {
      a.verifyWebhook(fixture(kind, 'readings_created.json'));
    } catch (e) {
      assert.strictEqual(e.kind, 'rejected');
      return e.reason;
    }
    return 'accepted';
  });
  assert.deepStrictEqual(reasons, ['bad_signature', 'bad_signature', 'stale_timestamp']);
});

test('readings.created: readings, normalized as the Go template does', () => {
  const a = adapter();
  const res = a.webhook(fixture('valid', 'readings_created.json'));
  assert.strictEqual(res.delivery_id, 'msg_fixture_1');
  assert.deepStrictEqual(res.readings.map((r) => [r.metric, r.value, r.unit, r.quality]),
    [['ph', 7.42, '', 'good'], ['temperature', 80.6, 'F', 'good'], ['turbidity', 0.3, 'NTU', '']]); // turbidity: passed through, the host counts it
  assert.deepStrictEqual(res.readings[0].recorded_at, { seconds: '1767268800', nanos: 0 });
  assert.strictEqual(res.test_sessions, undefined);
});

test('test.completed: one test session, a result beyond the range as a bound', () => {
  const res = adapter().webhook(fixture('valid', 'test_completed.json'));
  assert.deepStrictEqual(res.readings, []);
  assert.deepStrictEqual(res.test_sessions, [{
    provider_device_id: 'dev-1',
    taken_at: { seconds: String(Date.UTC(2026, 0, 1, 8) / 1000), nanos: 0 },
    method: 'photometer',
    notes: 'after rain',
    results: [
      { metric: 'ph', value: 7.6, unit: '', qualifier: '' },
      { metric: 'free_chlorine', value: 10, unit: 'ppm', qualifier: 'above' },
    ],
  }]);
});

test('malformed payloads are permanent; other events carry nothing', () => {
  const a = adapter();
  const body = (s) => ({ headers: [], body: Buffer.from(s) });
  assert.deepStrictEqual(a.webhook(body('{"event":"device.added","device_id":"d"}')).readings, []);
  assert.deepStrictEqual(a.webhook(body('null')).readings, []);
  for (const bad of ['', '[]', '{"event":5}', '{"event":"readings.created"}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":1e999}]}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":"7"}]}',
    '{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":7,"measured_at":"2026-02-30T00:00:00Z"}]}',
    '{"event":"test.completed","device_id":"d"}',
    '{"event":"test.completed","device_id":"d","test":{"results":{}}}',
    '{"event":"test.completed","device_id":"d","test":{"results":[{"type":"ph","value":"7"}]}}',
    '{"event":"test.completed","device_id":"d","test":{"results":[{"type":"ph","value":7,"out_of_range":"sideways"}]}}',
    '{"event":"test.completed","device_id":"d","test":{"taken_at":"yesterday","results":[]}}']) {
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
