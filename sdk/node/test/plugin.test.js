'use strict';
// The pieces of go-plugin's protocol whose exact format the host depends on, the protos'
// loading, errors on the wire, Standard Webhooks and fixtures. A whole plugin built on the
// package runs in a real host in host/cmd/poolhost/node_example_test.go.
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

const plugin = require('..');
const { timestamp } = require('../src/hclog');
const { handshakeCert, serverCertificate, routeConsole, adapterHandlers, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } = require('../src/goplugin');
const wire = require('../src/wire');

const { Logger, errors, standardWebhooks: sw, fixtures } = plugin;

test('log timestamps have exactly six fractional digits (go-plugin drops others to DEBUG)', () => {
  assert.strictEqual(timestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678))), '2026-01-02T03:04:05.678000Z');
  const lines = [];
  new Logger({ level: 'info', out: { write: (s) => lines.push(s) } }).warn('hello', { type: 'x' });
  const entry = JSON.parse(lines[0]);
  assert.match(entry['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.deepStrictEqual([entry['@level'], entry['@message'], entry.type], ['warn', 'hello', 'x']);
});

test('the handshake carries the DER certificate as unpadded base64 naming localhost', () => {
  const { der } = serverCertificate();
  const field = handshakeCert(der);
  assert.doesNotMatch(field, /=/);
  assert.deepStrictEqual(Buffer.from(field, 'base64'), der);
  const x = new crypto.X509Certificate(der);
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

test('an error travels as a status code plus ErrorDetail in grpc-status-details-bin', () => {
  const { Status, ErrorDetail } = wire.load();
  const e = errors.toServiceError(plugin.invalidInput('bad device list', { refreshedCredentials: { webhook_secret: 'whsec_x' } }), 'DiscoverDevices');
  assert.strictEqual(e.code, grpc.status.FAILED_PRECONDITION);
  assert.strictEqual(e.details, 'bad device list');
  const st = Status.decode(e.metadata.get('grpc-status-details-bin')[0]);
  assert.strictEqual(st.code, grpc.status.FAILED_PRECONDITION); // grpc-go refuses a mismatch
  assert.strictEqual(st.message, 'bad device list');
  assert.strictEqual(st.details[0].type_url, 'type.googleapis.com/poolhost.adapter.v1.ErrorDetail');
  assert.deepStrictEqual(ErrorDetail.decode(st.details[0].value).refreshed_credentials.values, { webhook_secret: 'whsec_x' });

  const rejected = errors.toServiceError(plugin.rejected('standard webhooks: bad signature', { reason: 'bad_signature' }), 'IngestWebhook');
  assert.strictEqual(rejected.code, grpc.status.PERMISSION_DENIED);
  const rst = Status.decode(rejected.metadata.get('grpc-status-details-bin')[0]);
  assert.strictEqual(ErrorDetail.decode(rst.details[0].value).reason, 'bad_signature');

  const thrown = errors.toServiceError(new TypeError('x is undefined'), 'Webhook', null);
  assert.strictEqual(thrown.code, grpc.status.INTERNAL);
  assert.strictEqual(thrown.details, 'plugin threw in Webhook: x is undefined');
});

test('a failed poll\'s next cursor travels as ErrorDetail.next_cursor, "" included, and only when given', () => {
  const { Status, ErrorDetail } = wire.load();
  const detail = (err) => ErrorDetail.decode(Status.decode(errors.toServiceError(err, 'PollReadings').metadata.get('grpc-status-details-bin')[0]).details[0].value);
  assert.strictEqual(detail(plugin.temporary('acme: 503', { nextCursor: '{"spent":4}' })).next_cursor, '{"spent":4}');
  const empty = detail(plugin.temporary('acme: 503', { nextCursor: '' }));
  assert.ok(Object.prototype.hasOwnProperty.call(empty, 'next_cursor'));
  assert.strictEqual(empty.next_cursor, '');
  assert.ok(!Object.prototype.hasOwnProperty.call(detail(plugin.temporary('acme: 503')), 'next_cursor'));
});

test('discover, poll and send see a deadline a tenth early (at most 1 s), so that their failure reaches the host in time', async () => {
  const seen = {};
  const record = (name) => async (req, ctx) => { seen[name] = ctx.deadline; return {}; };
  const handlers = adapterHandlers({
    discoverDevices: record('DiscoverDevices'), pollReadings: record('PollReadings'), configure: record('Configure'),
  }, null);
  const at = Date.now() + 30000;
  const invoke = (name) => new Promise((resolve) => handlers[name]({ request: {}, getDeadline: () => new Date(at), cancelled: false }, resolve));
  for (const name of ['DiscoverDevices', 'PollReadings', 'Configure']) await invoke(name);
  for (const name of ['DiscoverDevices', 'PollReadings']) {
    const early = at - seen[name].getTime();
    assert.ok(early > 900 && early <= 1000, `${name} deadline ${early} ms early, want 1 s of 30`);
  }
  assert.strictEqual(seen.Configure.getTime(), at);
  // A short call keeps a tenth; a call without a deadline has none to move.
  const short = new Promise((resolve) => handlers.PollReadings({ request: {}, getDeadline: () => new Date(Date.now() + 2000), cancelled: false }, resolve));
  await short;
  const left = seen.PollReadings.getTime() - Date.now();
  assert.ok(left > 1500 && left <= 1800, `2 s call left ${left} ms`);
  await new Promise((resolve) => handlers.PollReadings({ request: {}, getDeadline: () => Infinity, cancelled: false }, resolve));
  assert.strictEqual(seen.PollReadings, Infinity);
});

test('a provider\'s Retry-After travels as google.rpc.RetryInfo beside the ErrorDetail', () => {
  const { Status, ErrorDetail } = wire.load();
  const after = plugin.retryAfterHeader('3600');
  const e = errors.toServiceError(plugin.temporary('acme: 429', { retryAfterSeconds: after, refreshedCredentials: { access_token: 'a2' } }), 'PollReadings');
  assert.strictEqual(e.code, grpc.status.UNAVAILABLE);
  const st = Status.decode(e.metadata.get('grpc-status-details-bin')[0]);
  assert.deepStrictEqual(st.details.map((d) => d.type_url), [errors.ERROR_DETAIL_TYPE_URL, 'type.googleapis.com/google.rpc.RetryInfo']);
  assert.deepStrictEqual(ErrorDetail.decode(st.details[0].value).refreshed_credentials.values, { access_token: 'a2' });
  // RetryInfo{retry_delay = 1: Duration{seconds = 1, nanos = 2}}
  const ri = protobuf.Reader.create(st.details[1].value);
  assert.strictEqual(ri.uint32(), (1 << 3) | 2);
  const d = protobuf.Reader.create(ri.bytes());
  assert.strictEqual(d.uint32(), (1 << 3) | 0);
  assert.strictEqual(Number(d.int64()), 3600);
  assert.strictEqual(d.pos, d.len);
  assert.strictEqual(ri.pos, ri.len);

  // A fraction rounds to whole nanoseconds, never to nanos of 1e9 (an invalid Duration).
  const frac = errors.toServiceError(plugin.temporary('x', { retryAfterSeconds: 1.9999999999 }), 'PollReadings');
  const fr = protobuf.Reader.create(Status.decode(frac.metadata.get('grpc-status-details-bin')[0]).details[1].value);
  fr.uint32();
  const fd = protobuf.Reader.create(fr.bytes());
  fd.uint32();
  assert.strictEqual(Number(fd.int64()), 2);
  assert.strictEqual(fd.pos, fd.len); // nanos 0: not encoded

  // Without a Retry-After, the ErrorDetail alone.
  const plain = errors.toServiceError(plugin.temporary('acme: 503'), 'PollReadings');
  assert.strictEqual(Status.decode(plain.metadata.get('grpc-status-details-bin')[0]).details.length, 1);

  const now = new Date(Date.UTC(2026, 11, 7, 12, 0, 0));
  for (const [v, want] of [['', 0], ['120', 120], [' 7 ', 7], ['0', 0], ['-5', 0], ['soon', 0],
    ['999999999999999999999', 24 * 3600], ['Mon, 07 Dec 2026 12:01:30 GMT', 90], ['Mon, 07 Dec 2026 11:00:00 GMT', 0]]) {
    assert.strictEqual(plugin.retryAfterHeader(v, now), want, `retryAfterHeader(${JSON.stringify(v)})`);
  }
});

test('missing protos: an error naming the file, and a plugin that says so on stderr before exiting', (t) => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'noproto-'));
  t.after(() => fs.rmSync(empty, { recursive: true, force: true }));
  assert.throws(() => wire.protoRoot([empty]), new RegExp(`no poolhost/adapter/v1/adapter\\.proto in ${empty}`));
  // A root with adapter.proto but without the third-party protos names the first missing one.
  fs.mkdirSync(path.join(empty, 'poolhost', 'adapter', 'v1'), { recursive: true });
  fs.writeFileSync(path.join(empty, 'poolhost', 'adapter', 'v1', 'adapter.proto'), '');
  assert.throws(() => wire.protoRoot([empty]), /protos are incomplete: .*third_party\/grpc\/health\/v1\/health\.proto is missing/);

  // The package copied without any protos (as an install that lost them), serving: the
  // one line on stderr is what the host shows of a plugin that died before its handshake.
  const pkg = path.join(empty, 'plugin');
  for (const f of ['index.js', 'package.json', 'src']) fs.cpSync(path.join(__dirname, '..', f), path.join(pkg, f), { recursive: true });
  fs.symlinkSync(path.join(__dirname, '..', 'node_modules'), path.join(pkg, 'node_modules'));
  const res = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pkg)}).serve({})`], {
    env: { PATH: process.env.PATH, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '1' },
    encoding: 'utf8',
  });
  assert.strictEqual(res.status, 1);
  assert.strictEqual(res.stdout, ''); // no handshake line
  assert.match(res.stderr, /^poolhost plugin: @poolhost\/plugin: poolhost's protos are missing: no poolhost\/adapter\/v1\/adapter\.proto in /);
});

test('Standard Webhooks: a Go-written fixture verifies; tampered, stale and unsigned ones are rejected', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'; // the Go template's fixture secret
  const key = sw.parseSecret(secret);
  const raw = fixtures.readWebhook(path.join(__dirname, 'testdata', 'go_written.json'));
  const at = Number(raw.received_at.seconds);
  sw.verify(key, raw.headers, raw.body, at);
  assert.throws(() => sw.verify(key, raw.headers, Buffer.concat([raw.body, Buffer.from(' ')]), at), (e) => e.reason === 'bad_signature');
  assert.throws(() => sw.verify(key, raw.headers, raw.body, at + 600), (e) => /too old/.test(e.message) && e.reason === 'stale_timestamp');
  assert.throws(() => sw.verify(key, [], raw.body, at), (e) => e.kind === 'rejected' && e.reason === 'missing_signature');
  assert.strictEqual(sw.parseSecret('whsec_not base64!'), null);
});

test('fixtures: what writeWebhook writes, signed in Node, reads back and verifies as the Go SDK\'s format', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixtures-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  const body = '{"event":"x"}';
  const sent = 1767268805;
  const headers = sw.sign(sw.parseSecret(secret), 'msg_1', sent, Buffer.from(body));
  fs.writeFileSync(path.join(dir, 'configure.json'), JSON.stringify({ secrets: { webhook_secret: secret } }));
  fixtures.writeWebhook(path.join(dir, 'webhooks', 'valid', 'a.json'), { headers, body, receivedAt: new Date((sent + 2) * 1000), accountSecret: secret });
  fixtures.writeWebhook(path.join(dir, 'webhooks', 'valid', 'b.json'), { headers, body: Buffer.from([0xff, 0x00]) });

  // The on-disk shape sdktest.LoadFixtures reads (it refuses unknown keys).
  const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'webhooks', 'valid', 'a.json'), 'utf8'));
  assert.deepStrictEqual(Object.keys(onDisk), ['headers', 'body', 'received_at', 'account_secret']);
  assert.strictEqual(onDisk.received_at, '2026-01-01T12:00:07Z');
  assert.deepStrictEqual(onDisk.headers['Webhook-Id'], ['msg_1']);

  const set = fixtures.loadFixtures(dir);
  assert.strictEqual(set.configure.secrets.webhook_secret, secret);
  assert.deepStrictEqual(set.webhooks.valid.map((w) => w.name), ['a.json', 'b.json']);
  const [a, b] = set.webhooks.valid.map((w) => w.raw);
  sw.verify(sw.parseSecret(a.account_secret), a.headers, a.body, Number(a.received_at.seconds));
  assert.ok(a.account);
  assert.deepStrictEqual(b.body, Buffer.from([0xff, 0x00])); // not UTF-8: body_base64
  assert.strictEqual(b.received_at, null);
  assert.deepStrictEqual(set.webhooks.stale, []);
  assert.throws(() => fixtures.loadFixtures(path.join(dir, 'nope')), /fixture directory .*nope does not exist/);
});

test('a description promising polls from an adapter without pollReadings is refused, as the Go SDK refuses it', async () => {
  const describe = (adapter) => new Promise((resolve) => {
    adapterHandlers(adapter, new plugin.Logger()).Describe({ request: {}, getDeadline: () => Infinity, cancelled: false },
      (err, res) => resolve({ err, res }));
  });
  const desc = { id: 'acme', version: '0.1.0', protocol_version: 1, capabilities: { connect: 'api_key', poll: true } };
  const refused = await describe({ describe: () => desc });
  assert.strictEqual(refused.err && refused.err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(refused.err.details, /capabilities\.poll is set but the adapter has no pollReadings method/);
  const polling = await describe({ describe: () => desc, pollReadings: () => ({}) });
  assert.strictEqual(polling.err, null);
  assert.strictEqual(polling.res.id, 'acme');
});

// SendCommand's contract (adapter.proto): an accepted command is the response; a refusal
// the adapter is sure of travels inside the response (the host fails it, or sends it
// again for a temporary one); anything else is a status, which the host reads as
// "outcome unknown" and never resends. Before, the package served no SendCommand at all:
// a Node plugin could not send commands.
test('sendCommand: accepted, refusals in the response, unknown as a status', async () => {
  const send = (adapter, request) => new Promise((resolve) => {
    adapterHandlers(adapter, new plugin.Logger()).SendCommand({ request, getDeadline: () => Infinity, cancelled: false },
      (err, res) => resolve({ err, res }));
  });
  const req = { provider_device_id: 'pump-1', command: 'pump.set', params_json: Buffer.from('{"on":true}'), command_id: 'cmd-1' };
  let got;
  const ok = await send({ sendCommand: (r) => { got = r; return { provider_reference: 'r-1' }; } }, req);
  assert.strictEqual(ok.err, null);
  assert.deepStrictEqual(got.params, { on: true });
  assert.strictEqual(got.command_id, 'cmd-1');
  assert.strictEqual(ok.res.status, 'sent');
  assert.strictEqual(ok.res.provider_reference, 'r-1');

  const refused = await send({ sendCommand: () => { throw plugin.permanent('no such pump (HTTP 404)'); } }, req);
  assert.strictEqual(refused.err, null);
  assert.deepStrictEqual(refused.res.error, { kind: 'ERROR_KIND_PERMANENT', message: 'no such pump (HTTP 404)', reason: '' });

  const later = await send({ sendCommand: () => {
    throw plugin.temporary('quota (HTTP 429)', { retryAfterSeconds: 30, refreshedCredentials: { access_token: 'new' } });
  } }, req);
  assert.strictEqual(later.err, null);
  assert.strictEqual(later.res.error.kind, 'ERROR_KIND_TEMPORARY');
  assert.deepStrictEqual(later.res.retry_after, { seconds: '30', nanos: 0 });
  assert.deepStrictEqual(later.res.refreshed_credentials, { values: { access_token: 'new' } });

  const unknown = await send({ sendCommand: () => { throw plugin.outcomeUnknown('the provider answered 502'); } }, req);
  assert.strictEqual(unknown.err && unknown.err.code, grpc.status.UNAVAILABLE);
  assert.match(unknown.err.details, /command outcome unknown: the provider answered 502/);
  const bug = await send({ sendCommand: () => { throw new TypeError('x is undefined'); } }, req);
  assert.strictEqual(bug.err && bug.err.code, grpc.status.INTERNAL);
  const rejected = await send({ sendCommand: () => { throw plugin.rejected('?'); } }, req);
  assert.ok(rejected.err, 'a kind SendCommand cannot refuse with is a status: unknown');

  const none = await send({}, req);
  assert.strictEqual(none.err && none.err.code, grpc.status.UNIMPLEMENTED);
  const badParams = await send({ sendCommand: () => ({}) }, { ...req, params_json: Buffer.from('{') });
  assert.strictEqual(badParams.res.error.kind, 'ERROR_KIND_PERMANENT');
});

test('a description promising write from an adapter without sendCommand is refused, as the Go SDK refuses it', async () => {
  const describe = (adapter) => new Promise((resolve) => {
    adapterHandlers(adapter, new plugin.Logger()).Describe({ request: {}, getDeadline: () => Infinity, cancelled: false },
      (err, res) => resolve({ err, res }));
  });
  const desc = { id: 'acme', version: '0.1.0', protocol_version: 1, capabilities: { connect: 'api_key', write: true, commands: ['pump.set'] } };
  const refused = await describe({ describe: () => desc });
  assert.strictEqual(refused.err && refused.err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(refused.err.details, /capabilities\.write is set but the adapter has no sendCommand method/);
  const writing = await describe({ describe: () => desc, sendCommand: () => ({}) });
  assert.strictEqual(writing.err, null);
});

test('subscribe and unsubscribe are served when the adapter has them, UNIMPLEMENTED otherwise', async () => {
  const call = (adapter, name) => new Promise((resolve) => {
    adapterHandlers(adapter, new plugin.Logger())[name]({ request: { account_webhook_url: 'https://h/x' }, getDeadline: () => Infinity, cancelled: false },
      (err, res) => resolve({ err, res }));
  });
  let url;
  const sub = await call({ subscribe: (r) => { url = r.account_webhook_url; } }, 'Subscribe');
  assert.strictEqual(sub.err, null);
  assert.strictEqual(url, 'https://h/x');
  assert.strictEqual((await call({}, 'Unsubscribe')).err.code, grpc.status.UNIMPLEMENTED);
});
