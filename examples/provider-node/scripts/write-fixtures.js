#!/usr/bin/env node
'use strict';
// `npm run fixtures`: (re)writes testdata/conformance, the signed deliveries `npm test`
// and `poolhost plugins test ./plugin --fixtures testdata/conformance` check the plugin
// with. Edit the bodies below to record your provider's real payloads; the signatures
// follow. Deterministic: the same bodies give the same files (npm test checks the
// committed ones are what this writes).
const fs = require('node:fs');
const path = require('node:path');
const { fixtures, standardWebhooks: sw } = require('@poolhost/plugin');

// A test secret, never a real one: fixtures are committed.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER_SECRET = 'whsec_' + Buffer.alloc(24, 9).toString('base64');
const SENT = Date.parse('2026-01-01T12:00:05Z'); // webhook-timestamp
const RECEIVED = new Date(SENT + 2000); // the host's receive time

const READINGS = JSON.stringify({
  event: 'readings.created',
  device_id: 'dev-1',
  readings: [
    { type: 'ph', value: 7.42, measured_at: '2026-01-01T12:00:00Z', status: 'ok' },
    { type: 'water_temp', value: 80.6, unit: 'F', measured_at: '2026-01-01T12:00:00Z', status: 'ok' },
    { type: 'turbidity', value: 0.3, unit: 'NTU', measured_at: '2026-01-01T12:00:00Z' },
  ],
}, null, 2);
// A photometer's panel, one result beyond its range ("FC > 10").
const TEST = JSON.stringify({
  event: 'test.completed',
  device_id: 'dev-1',
  test: {
    taken_at: '2026-01-01T08:00:00Z',
    method: 'photometer',
    notes: 'after rain',
    results: [
      { type: 'ph', value: 7.6 },
      { type: 'free_cl', value: 10, unit: 'ppm', out_of_range: 'above' },
    ],
  },
}, null, 2);

function signed(secret, id, body, receivedAt = RECEIVED) {
  const headers = { 'Content-Type': ['application/json'] };
  for (const h of sw.sign(sw.parseSecret(secret), id, SENT / 1000, Buffer.from(body))) headers[h.name] = h.values;
  return { headers, body, receivedAt };
}

function write(dir) {
  fs.rmSync(path.join(dir, 'webhooks'), { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'configure.json'), JSON.stringify({ settings: {}, secrets: { webhook_secret: SECRET } }, null, 2) + '\n');
  const w = (kind, name, webhook) => fixtures.writeWebhook(path.join(dir, 'webhooks', kind, name), webhook);
  w('valid', 'readings_created.json', signed(SECRET, 'msg_fixture_1', READINGS));
  w('valid', 'account_readings_created.json', { ...signed(SECRET, 'msg_fixture_1', READINGS), accountSecret: SECRET });
  w('valid', 'test_completed.json', signed(SECRET, 'msg_fixture_2', TEST));
  w('tampered', 'readings_created.json', { ...signed(SECRET, 'msg_fixture_1', READINGS), body: READINGS.replace('7.42', '6.42') });
  w('wrong_secret', 'readings_created.json', signed(OTHER_SECRET, 'msg_fixture_1', READINGS));
  w('stale', 'readings_created.json', signed(SECRET, 'msg_fixture_1', READINGS, new Date(SENT + 10 * 60 * 1000)));
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: write-fixtures.js DIR\n');
    process.exit(2);
  }
  write(path.resolve(dir));
}

module.exports = { write, SECRET };
