'use strict';
// The plugin side of hashicorp/go-plugin's gRPC protocol, as the poolhost host speaks it.
// Everything here comes from go-plugin's own source (server.go, client.go, mtls.go,
// grpc_controller.go, log_entry.go, v1.8.0); adapter.proto's file comment summarises it.
//
//   1. The host sets POOLHOST_PLUGIN_MAGIC_COOKIE; without it we were run by hand.
//   2. PLUGIN_PROTOCOL_VERSIONS lists the app protocol versions the host speaks ("1").
//   3. PLUGIN_CLIENT_CERT holds the host's PEM client certificate (AutoMTLS). We make a
//      self-signed server certificate naming DNS "localhost" (the host verifies the
//      server name "localhost", whatever the address), require and verify the host's
//      certificate, and send ours as the last field of the handshake line: the DER
//      bytes, base64 WITHOUT padding (Go's base64.RawStdEncoding; padded base64 fails
//      to decode on the host).
//   4. We listen on a Unix socket and print exactly one line on stdout:
//        1|1|unix|/tmp/…/plugin.sock|grpc|<cert>
//      core protocol 1 | app protocol 1 | network | address | "grpc" | cert.
//      stdout carries nothing else: before the line, anything printed there breaks the
//      handshake; after it, go-plugin reads and discards stdout. Logs go to stderr.
//   5. Besides the Adapter we serve grpc.health.v1.Health (go-plugin checks service
//      "plugin") and plugin.GRPCController/Shutdown (how the host stops us). go-plugin's
//      GRPCBroker and GRPCStdio services are optional: the host copes with UNIMPLEMENTED.
//   6. SIGINT is ignored, as go-plugin plugins do: a Ctrl-C in the operator's terminal
//      reaches the whole process group, and the host decides when its plugins stop.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const forge = require('node-forge');
const grpc = require('@grpc/grpc-js');
const wire = require('./wire');
const { Logger } = require('./hclog');
const { PluginError, toServiceError, toProtoError, unsupported, permanent } = require('./errors');

const MAGIC_COOKIE_KEY = 'POOLHOST_PLUGIN_MAGIC_COOKIE';
const MAGIC_COOKIE_VALUE = '6f6c2a1e0d8b4c7f9a3e5b2d1c0f8e7a';
const CORE_PROTOCOL_VERSION = 1;
const APP_PROTOCOL_VERSION = 1;

// serverCertificate makes the AutoMTLS server certificate: self-signed, a CA (the host
// trusts exactly this certificate as its root), for DNS name localhost, usable for
// server and client auth, as go-plugin's own generateCert. RSA because node-forge signs
// only RSA; go-plugin accepts any key type Go's TLS does.
function serverCertificate() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }));
  const serial = crypto.randomBytes(16);
  serial[0] &= 0x7f; // a positive serial number
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 30 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 262980 * 3600 * 1000); // go-plugin's 30 years
  const subject = [{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'poolhost plugin' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { keyPem, certPem: forge.pki.certificateToPem(cert), der };
}

// handshakeCert is the last field of the handshake line: unpadded standard base64.
function handshakeCert(der) {
  return der.toString('base64').replace(/=+$/, '');
}

// checkLaunch exits with an explanation when we were not started by a poolhost host.
function checkLaunch(env) {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(
      'This program is a poolhost provider plugin: the poolhost host starts it itself.\n' +
      'Configure it in a provider block (binary = "…") and run `poolhost plugins check`,\n' +
      'or test it with `poolhost plugins test PATH --fixtures DIR`.\n');
    process.exit(1);
  }
  const offered = String(env.PLUGIN_PROTOCOL_VERSIONS || '').split(',').map((s) => s.trim());
  if (!offered.includes(String(APP_PROTOCOL_VERSION))) {
    process.stderr.write(`poolhost plugin: the host offers protocol versions "${offered.join(',')}"; ` +
      `this plugin speaks only ${APP_PROTOCOL_VERSION}\n`);
    process.exit(1);
  }
}

// routeConsole keeps console.* off stdout (reserved for the handshake line) and turns it
// into log lines the host forwards at the right level.
function routeConsole(log) {
  const fmt = (args) => args.map((a) => (typeof a === 'string' ? a : require('node:util').inspect(a))).join(' ');
  console.log = (...a) => log.info(fmt(a));
  console.info = (...a) => log.info(fmt(a));
  console.debug = (...a) => log.debug(fmt(a));
  console.warn = (...a) => log.warn(fmt(a));
  console.error = (...a) => log.error(fmt(a));
}

// The calls that may hand back refreshed credentials see a deadline a tenth of the time
// left early, at most MAX_ANSWER_MARGIN_MS, as the Go SDK gives them (answerInTime): an
// answer sent after the host's deadline never arrives, and tokens rotated before an
// upstream request hung to it would be lost with it. An adapter that bounds its
// requests by ctx.deadline answers its failure, the tokens on it, in time.
const ANSWER_MARGIN_METHODS = new Set(['DiscoverDevices', 'PollReadings', 'SendCommand']);
const MAX_ANSWER_MARGIN_MS = 1000;

// answerBy is deadline (a Date, or Infinity when the call has none) brought forward.
function answerBy(deadline, now = Date.now()) {
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (!Number.isFinite(at)) return deadline;
  const margin = Math.min((at - now) / 10, MAX_ANSWER_MARGIN_MS);
  return margin > 0 ? new Date(at - margin) : deadline;
}

// adapterHandlers wraps the adapter's async methods as grpc-js unary handlers. A
// method the adapter lacks answers UNIMPLEMENTED; IngestWebhook is VerifyWebhook then
// Webhook, with a parse failure (or exception) inside the response, as the Go SDK does.
function adapterHandlers(adapter, log) {
  const call = (method, fn) => (c, callback) => {
    const deadline = ANSWER_MARGIN_METHODS.has(method) ? answerBy(c.getDeadline()) : c.getDeadline();
    Promise.resolve()
      .then(() => fn(c.request, { deadline, cancelled: () => c.cancelled }))
      .then((res) => callback(null, res || {}), (err) => callback(toServiceError(err, method, log)));
  };
  const method = (name, jsName, adapt = (req) => req) => call(name, (req, ctx) => {
    if (typeof adapter[jsName] !== 'function') throw unsupported(`${name} is not offered by this plugin`);
    return adapter[jsName](adapt(req), ctx);
  });
  return {
    // Checked as the Go SDK's Serve checks it (sdk.CheckCapabilities): a description
    // promising polls from an adapter without pollReadings is refused, so the host
    // refuses the plugin at start, saying why, instead of polling every account into
    // "PollReadings is not offered" and a backoff.
    Describe: call('Describe', async (req, ctx) => {
      if (typeof adapter.describe !== 'function') throw unsupported('Describe is not offered by this plugin');
      const d = await adapter.describe(req, ctx);
      if (d && d.capabilities && d.capabilities.poll && typeof adapter.pollReadings !== 'function') {
        throw permanent('capabilities.poll is set but the adapter has no pollReadings method');
      }
      if (d && d.capabilities && d.capabilities.write && typeof adapter.sendCommand !== 'function') {
        throw permanent('capabilities.write is set but the adapter has no sendCommand method');
      }
      return d;
    }),
    Configure: method('Configure', 'configure'),
    Connect: method('Connect', 'connect'),
    Callback: method('Callback', 'callback'),
    DiscoverDevices: method('DiscoverDevices', 'discoverDevices'),
    PollReadings: method('PollReadings', 'pollReadings'),
    Health: method('Health', 'health'),
    SendCommand: call('SendCommand', (req, ctx) => sendCommand(adapter, req, ctx)),
    // Optional, as in Go (sdk.Subscriber): without them the host reads UNIMPLEMENTED as
    // "nothing to register".
    Subscribe: method('Subscribe', 'subscribe'),
    Unsubscribe: method('Unsubscribe', 'unsubscribe'),
    VerifyWebhook: call('VerifyWebhook', async (req, ctx) => {
      if (typeof adapter.verifyWebhook !== 'function') throw unsupported('VerifyWebhook is not offered by this plugin');
      await adapter.verifyWebhook(req.webhook || {}, ctx);
      return {};
    }),
    Webhook: call('Webhook', async (req, ctx) => {
      if (typeof adapter.webhook !== 'function') throw unsupported('Webhook is not offered by this plugin');
      return { result: await adapter.webhook(req.webhook || {}, ctx) };
    }),
    IngestWebhook: call('IngestWebhook', async (req, ctx) => {
      if (typeof adapter.verifyWebhook !== 'function' || typeof adapter.webhook !== 'function') {
        throw unsupported('IngestWebhook is not offered by this plugin');
      }
      const raw = req.webhook || {};
      // A verification failure is the call's status: the host stores nothing.
      await adapter.verifyWebhook(raw, ctx);
      // An authentic payload that fails to parse travels in the response, so the host
      // keeps it for retry or as a dead letter.
      try {
        return { result: await adapter.webhook(raw, ctx) };
      } catch (err) {
        if (!(err instanceof PluginError)) {
          log.error('exception in an adapter call', { method: 'Webhook', error: String(err && err.message), stack: String(err && err.stack) });
        }
        return { webhook_error: toProtoError(err) };
      }
    }),
  };
}

// REFUSALS are the kinds a sendCommand may throw as "certainly not accepted": the host
// fails the command (permanent, reauth_required) or sends it again before its expiry
// (temporary). They travel in the response (SendCommandResponse.error), as the Go SDK
// sends them; a non-OK status would mean "unknown".
const REFUSALS = new Set(['permanent', 'temporary', 'reauth_required']);

// sendCommand is SendCommand's contract (adapter.proto): the adapter's answer as the
// response; a refusal it is sure of (a PluginError of a REFUSALS kind) inside the
// response with its credentials and Retry-After; anything else thrown — outcomeUnknown,
// a bug — as a status, which the host reads as "the outcome is unknown" and never
// resends. The adapter gets the request with params_json decoded as params.
async function sendCommand(adapter, req, ctx) {
  if (typeof adapter.sendCommand !== 'function') throw unsupported('SendCommand is not offered by this plugin');
  let params = {};
  try {
    if (req.params_json && req.params_json.length) params = JSON.parse(Buffer.from(req.params_json).toString('utf8'));
  } catch (err) {
    return { error: toProtoError(permanent(`params: ${err.message}`)) };
  }
  let res;
  try {
    res = await adapter.sendCommand({ ...req, params }, ctx);
  } catch (err) {
    if (!(err instanceof PluginError) || !REFUSALS.has(err.kind)) throw err;
    const out = { error: toProtoError(err) };
    if (err.refreshedCredentials) out.refreshed_credentials = { values: err.refreshedCredentials };
    if (err.kind === 'temporary' && err.retryAfterSeconds > 0) {
      const seconds = Math.floor(err.retryAfterSeconds);
      out.retry_after = { seconds: String(seconds), nanos: Math.round((err.retryAfterSeconds - seconds) * 1e9) };
    }
    return out;
  }
  res = res || {};
  return { ...res, status: res.status || 'sent' };
}

// serve runs adapter as a poolhost plugin until the host shuts it down.
function serve(adapter, { log = new Logger() } = {}) {
  checkLaunch(process.env);
  let protos;
  try {
    protos = wire.load();
  } catch (err) {
    // Before the handshake line: stderr is all the host and `plugins test` will show.
    process.stderr.write(`poolhost plugin: ${err.message}\n`);
    process.exit(1);
  }
  routeConsole(log);
  process.on('SIGINT', () => log.trace('plugin received interrupt signal, ignoring'));

  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  let creds;
  let certField = '';
  if (clientCert) {
    const own = serverCertificate();
    // checkClientCertificate = true: the TLS handshake fails for any peer that does not
    // present the host's certificate.
    creds = grpc.ServerCredentials.createSsl(Buffer.from(clientCert),
      [{ private_key: Buffer.from(own.keyPem), cert_chain: Buffer.from(own.certPem) }], true);
    certField = handshakeCert(own.der);
  } else {
    // go-plugin without AutoMTLS (poolhost always sets it): plaintext, empty cert field.
    log.warn('PLUGIN_CLIENT_CERT is not set: serving without TLS');
    creds = grpc.ServerCredentials.createInsecure();
  }

  const dir = fs.mkdtempSync(path.join(process.env.PLUGIN_UNIX_SOCKET_DIR || os.tmpdir(), 'plugin-'));
  const socket = path.join(dir, 'plugin.sock');
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', cleanup);
  process.on('SIGTERM', () => process.exit(0));
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception, exiting', { error: String(err && err.message), stack: String(err && err.stack) });
    process.exit(1);
  });

  const server = new grpc.Server();
  server.addService(protos.Adapter, adapterHandlers(adapter, log));
  server.addService(protos.Health, {
    Check: (c, callback) => {
      // go-plugin's client pings service "plugin"; "" is the server as a whole.
      if (c.request.service === '' || c.request.service === 'plugin') return callback(null, { status: 'SERVING' });
      return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${c.request.service}` });
    },
  });
  server.addService(protos.GRPCController, {
    Shutdown: (_c, callback) => {
      callback(null, {});
      log.debug('shutdown requested by the host');
      // Let the answer leave, then stop; force it if a call hangs.
      setImmediate(() => server.tryShutdown(() => process.exit(0)));
      setTimeout(() => process.exit(0), 2000).unref();
    },
  });
  server.bindAsync(`unix:${socket}`, creds, (err) => {
    if (err) {
      log.error('plugin init error', { error: err.message });
      process.exit(1);
    }
    log.debug('plugin address', { network: 'unix', address: socket });
    process.stdout.write(`${CORE_PROTOCOL_VERSION}|${APP_PROTOCOL_VERSION}|unix|${socket}|grpc|${certField}\n`);
  });
  return server;
}

module.exports = { serve, serverCertificate, handshakeCert, routeConsole, adapterHandlers, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE };
