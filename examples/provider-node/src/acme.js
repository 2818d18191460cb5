'use strict';
// The Acme Pool Cloud provider of examples/provider-template, in Node.js: its webhook
// half (the same Standard Webhooks scheme, payload, metric table and fixtures) plus the
// account linking a webhook-only provider needs. It does not do the template's OAuth2
// linking or polling; add them the same way (see adapter.proto for the messages).
//
// Every method receives the request message decoded by @grpc/proto-loader with the
// .proto's own (snake_case) field names, and returns the response message as a plain
// object. Throw (or reject with) a PluginError from @poolhost/plugin to fail a call with a kind
// the host understands; anything else thrown reaches the host as a temporary failure
// carrying the exception's message.
const crypto = require('node:crypto');
const { standardWebhooks: sw, temporary, permanent, rejected, invalidInput } = require('@poolhost/plugin');

const ID = 'template-node';
const VERSION = '0.1.0';
const PROTOCOL_VERSION = 1;

// Settings and secrets read from Configure.
const SETTING_BASE_URL = 'base_url'; // optional here: the upstream API an OAuth2/poll half would call
const SECRET_WEBHOOK = 'webhook_secret'; // optional: whsec_… for the provider-level webhook URL

// Connect input and the credentials an account holds.
const INPUT_DEVICES = 'devices'; // comma-separated Acme device ids the user owns
const INPUT_NAME = 'name';
const CRED_WEBHOOK_SECRET = 'webhook_secret'; // the host shows it with the account's webhook URL
const CRED_DEVICES = 'devices';
const CRED_LEGACY_SECRET = 'secret'; // what version 0.0.x called the webhook secret

// Acme's measurement types → poolhost metric names (sdk/metric), as the Go template.
// MAX_METRIC_BYTES is the host's default cap on a metric name (plugins.max_metric_bytes):
// an answer with a longer one is refused whole.
const MAX_METRIC_BYTES = 64;

const ACME_METRICS = {
  ph: 'ph', orp: 'orp', water_temp: 'temperature', free_cl: 'free_chlorine',
  total_cl: 'total_chlorine', salt: 'salt', battery: 'battery',
};
const ACME_QUALITY = { ok: 'good', calibrating: 'suspect' };
const EVENT_READINGS_CREATED = 'readings.created';
// A water test taken with Acme's photometer: a panel of results on one sample, which the
// host stores as a test session of the device's pool, never as readings. The same event
// as examples/provider-python's.
const EVENT_TEST_COMPLETED = 'test.completed';
const ACME_TEST_METHODS = new Set(['photometer', 'strips', 'drops', 'lab']);
// A result beyond the photometer's range: its bound as value, the side here.
const ACME_BOUNDS = new Set(['above', 'below']);

class AcmeAdapter {
  constructor({ log }) {
    this.log = log;
    this.cfg = null; // set by configure, replaced whole on every reload
  }

  describe() {
    return {
      id: ID,
      version: VERSION,
      protocol_version: PROTOCOL_VERSION,
      capabilities: { connect: 'webhook_secret', webhook: true, poll: false },
      // Every key Configure reads: the host then refuses config keys not declared here
      // (a typo fails at start, with a did-you-mean, not silently).
      settings: [
        // The Go template's OAuth2 settings, so its configuration (and its conformance
        // fixtures) apply unchanged; only an OAuth2/poll half would use them.
        { key: SETTING_BASE_URL, type: 'url', help: 'Acme API base URL (for OAuth2 and polling; unused by webhooks).' },
        { key: 'client_id', help: 'OAuth client registered with Acme (for OAuth2; unused by webhooks).' },
        { key: 'client_secret', secret: true, help: "The OAuth client's secret (for OAuth2; unused by webhooks)." },
        { key: SECRET_WEBHOOK, secret: true, help: 'whsec_… secret Acme signs provider-level webhook deliveries with.' },
      ],
      // What a user gives at connect: GET /v1/providers lists it.
      connect_inputs: [
        { key: INPUT_DEVICES, help: 'Comma-separated ids of your Acme devices, e.g. dev-1,dev-2.' },
        { key: INPUT_NAME, help: 'A name for this account.' },
      ],
    };
  }

  // configure validates everything now: an error here is reported to the operator at
  // start. Only keys Describe declares reach it (the host refuses others).
  configure(req) {
    const settings = req.settings || {};
    const secrets = req.secrets || {};
    const cfg = { webhookKey: null };
    const base = settings[SETTING_BASE_URL];
    if (base !== undefined && base !== '') {
      let u;
      try { u = new URL(base); } catch { u = null; }
      if (!u || !['http:', 'https:'].includes(u.protocol)) {
        throw invalidInput(`setting ${SETTING_BASE_URL} must be an absolute http(s) URL`);
      }
    }
    if (secrets[SECRET_WEBHOOK]) {
      cfg.webhookKey = sw.parseSecret(secrets[SECRET_WEBHOOK]);
      // Say which secret, never its value.
      if (!cfg.webhookKey) throw invalidInput(`secret ${SECRET_WEBHOOK}: want whsec_ followed by base64`);
    }
    this.cfg = cfg;
    return {};
  }

  config() {
    // The host configures right after start; a call racing it is worth retrying.
    if (!this.cfg) throw temporary(`provider ${ID} is not configured yet`);
    return this.cfg;
  }

  health() {
    this.config();
    return {};
  }

  // connect links an account at once: a fresh webhook secret the host shows the user
  // with the account's own webhook URL, and the devices the user says they own.
  connect(req) {
    const input = req.input || {};
    const devices = parseDevices(input[INPUT_DEVICES] || '');
    const secret = 'whsec_' + crypto.randomBytes(32).toString('base64');
    return {
      linkage: {
        external_account_id: 'acme_' + crypto.randomBytes(12).toString('hex'),
        display_name: String(input[INPUT_NAME] || '').trim() || 'Acme Pool Cloud',
        credentials: { values: { [CRED_WEBHOOK_SECRET]: secret, [CRED_DEVICES]: devices.join(',') } },
      },
    };
  }

  // discoverDevices lists the devices declared at connect. It also shows the one rule
  // about credentials a call changes: they go back to the host even when the call then
  // fails. Accounts linked by version 0.0.x keep their secret under "secret"; the first
  // discovery renames it, and returns the renamed credentials in the result, or on the
  // error (an ErrorDetail in grpc-status-details-bin) if the device list is unusable.
  discoverDevices(req) {
    const stored = (req.account && req.account.credentials && req.account.credentials.values) || {};
    let refreshed;
    if (!stored[CRED_WEBHOOK_SECRET] && stored[CRED_LEGACY_SECRET]) {
      refreshed = { ...stored, [CRED_WEBHOOK_SECRET]: stored[CRED_LEGACY_SECRET] };
      delete refreshed[CRED_LEGACY_SECRET];
    }
    let devices;
    try {
      devices = parseDevices(stored[CRED_DEVICES] || '');
    } catch (err) {
      err.refreshedCredentials = refreshed;
      throw err;
    }
    return {
      devices: devices.map((id) => ({ provider_device_id: id, name: `Acme device ${id}`, model: 'Acme probe', verified: false })),
      refreshed_credentials: refreshed ? { values: refreshed } : null,
    };
  }

  // verifyWebhook authenticates a delivery before anything looks at it. An
  // account-scoped URL uses that account's secret (account_secret); the provider-level
  // URL uses the configured webhook_secret. Never fall back from one to the other.
  verifyWebhook(raw) {
    let key;
    if (raw.account) {
      if (!raw.account_secret) throw rejected('account has no webhook secret');
      key = sw.parseSecret(raw.account_secret);
      if (!key) throw rejected('account webhook secret is unusable');
    } else {
      key = this.config().webhookKey;
      if (!key) throw rejected('no provider webhook secret is configured');
    }
    // Check the timestamp against the host's receive time, the moment the replay window
    // is about.
    sw.verify(key, raw.headers, raw.body, receivedAtSeconds(raw));
  }

  // webhook parses a verified delivery, with the Go template's rules: readings.created
  // (and test.completed, below) carry data, other events are acknowledged with no readings;
  // a payload that can never parse is permanent (the host dead-letters it at once).
  webhook(raw) {
    const result = { delivery_id: sw.header(raw.headers, 'webhook-id'), readings: [] };
    let ev;
    try {
      ev = JSON.parse(Buffer.from(raw.body || []).toString('utf8'));
    } catch (err) {
      throw permanent(`malformed acme webhook: ${err.message}`);
    }
    if (ev === null) return result;
    if (typeof ev !== 'object' || Array.isArray(ev)) throw permanent('malformed acme webhook: not a JSON object');
    const event = optString(ev, 'event', 'acme webhook');
    const deviceID = optString(ev, 'device_id', 'acme webhook');
    const readings = ev.readings === undefined || ev.readings === null ? [] : ev.readings;
    if (!Array.isArray(readings)) throw permanent('malformed acme webhook: readings is not an array');
    if (event !== EVENT_READINGS_CREATED && event !== EVENT_TEST_COMPLETED) return result;
    if (deviceID === '') throw permanent(`acme ${event} event without device_id`);
    if (event === EVENT_TEST_COMPLETED) {
      result.test_sessions = [this.toTestSession(deviceID, ev.test)];
      return result;
    }
    for (const r of readings) {
      const reading = this.toReading(deviceID, r);
      if (reading) result.readings.push(reading);
    }
    return result;
  }

  // metricName is poolhost's name for an Acme type. A type with no poolhost metric is
  // passed through unchanged, for the host to drop and count as unknown_metric where
  // operators see a new type appear (PLUGINS.md, Metric vocabulary); null for one no
  // metric name can be (empty, or over the host's 64-byte cap, which would cost the
  // delivery its other readings), logged when not empty.
  metricName(type, what) {
    const known = ACME_METRICS[type.toLowerCase()];
    if (known) return known;
    if (type !== '' && Buffer.byteLength(type) <= MAX_METRIC_BYTES && Buffer.from(type).toString() === type) return type; // no lone surrogate: UTF-8
    if (type !== '') this.log.warn(`skipping an acme ${what} whose type no metric name can be`, { type: truncate(type, 40) });
    return null;
  }

  // toReading normalizes one Acme reading, or returns null for one without a value (a
  // probe warming up) or whose type no metric name can be (metricName).
  toReading(deviceID, r) {
    if (r === null) return null;
    if (typeof r !== 'object' || Array.isArray(r)) throw permanent('malformed acme reading: not a JSON object');
    const type = optString(r, 'type', 'acme reading');
    const unit = optString(r, 'unit', 'acme reading');
    const measuredAt = optString(r, 'measured_at', 'acme reading');
    const status = optString(r, 'status', 'acme reading');
    if (r.value === undefined || r.value === null) return null;
    // JSON.parse turns 1e999 into Infinity where Go's decoder fails: the same verdict.
    if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw permanent('malformed acme reading: value is not a finite number');
    const metric = this.metricName(type, 'reading');
    if (!metric) return null;
    let recorded = null;
    if (measuredAt !== '') {
      recorded = parseRFC3339(measuredAt);
      if (!recorded) throw permanent(`acme reading has a malformed measured_at ${JSON.stringify(truncate(measuredAt, 40))}`);
    }
    return {
      provider_device_id: deviceID,
      metric,
      value: r.value,
      unit, // passed through ("F", "mV"): the host converts every unit sdk/metric knows
      recorded_at: recorded,
      quality: ACME_QUALITY[status] || '',
      raw_payload: Buffer.from(JSON.stringify(r)), // kept by the host for audit
    };
  }

  // toTestSession normalizes Acme's test: {"taken_at", "method", "notes", "results":
  // [{"type", "value", "unit", "out_of_range"}]}. A result beyond the photometer's range
  // ("FC > 10") carries its bound and out_of_range "above" (or "below"), sent as the
  // qualifier: the host stores a bound, not a measurement. Results without a value or of
  // a type no metric name can be are left out, as readings are.
  toTestSession(deviceID, t) {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw permanent('malformed acme test: test is not a JSON object');
    const takenAt = optString(t, 'taken_at', 'acme test');
    const method = optString(t, 'method', 'acme test').toLowerCase();
    const results = t.results === undefined || t.results === null ? [] : t.results;
    if (!Array.isArray(results)) throw permanent('malformed acme test: results is not an array');
    const session = {
      provider_device_id: deviceID,
      taken_at: null, // unset: when the host received it
      method: ACME_TEST_METHODS.has(method) ? method : 'other',
      notes: optString(t, 'notes', 'acme test'),
      results: [],
    };
    if (takenAt !== '') {
      session.taken_at = parseRFC3339(takenAt);
      if (!session.taken_at) throw permanent(`acme test has a malformed taken_at ${JSON.stringify(truncate(takenAt, 40))}`);
    }
    for (const r of results) {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) throw permanent('malformed acme test result: not a JSON object');
      const type = optString(r, 'type', 'acme test result');
      const bound = optString(r, 'out_of_range', 'acme test result');
      if (r.value === undefined || r.value === null) continue;
      if (typeof r.value !== 'number' || !Number.isFinite(r.value)) throw permanent('malformed acme test result: value is not a finite number');
      if (bound !== '' && !ACME_BOUNDS.has(bound)) throw permanent(`malformed acme test result: out_of_range ${JSON.stringify(truncate(bound, 20))}`);
      const metric = this.metricName(type, 'test result');
      if (!metric) continue;
      session.results.push({ metric, value: r.value, unit: optString(r, 'unit', 'acme test result'), qualifier: bound });
    }
    return session;
  }
}

// optString reads a field that must be a string when present (null counts as absent),
// as Go's decoder does for a string field.
function optString(obj, key, what) {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw permanent(`malformed ${what}: ${key} is not a string`);
  return v;
}

function parseDevices(list) {
  const ids = String(list).split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const id of ids) {
    if (id.length > 128 || /[\u0000-\u001f\u007f]/.test(id)) throw invalidInput('device ids are at most 128 printable characters');
  }
  return [...new Set(ids)];
}

// receivedAtSeconds is the host's receive time, or now when the host sent none.
function receivedAtSeconds(raw) {
  const t = raw.received_at;
  if (!t) return Date.now() / 1000;
  return Number(t.seconds || 0) + (t.nanos || 0) / 1e9;
}

// parseRFC3339 parses an RFC 3339 time (Go's time.RFC3339Nano: fraction optional, up to
// 9 digits) into a google.protobuf.Timestamp, or returns null.
function parseRFC3339(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59) return null;
  // setUTCFullYear, unlike Date.UTC, keeps years 0–99 as they are.
  const dt = new Date(0);
  dt.setUTCFullYear(y, mo - 1, d);
  dt.setUTCHours(h, mi, se, 0);
  if (dt.getUTCDate() !== d || dt.getUTCMonth() !== mo - 1) return null; // 2026-02-30
  let offset = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offset = (m[8][0] === '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  const seconds = Math.floor(dt.getTime() / 1000) - offset;
  const nanos = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
  return { seconds: String(seconds), nanos };
}

function truncate(s, n) {
  return s.length > n ? s.slice(0, n) + '…' : s;
}

module.exports = { AcmeAdapter, ID, VERSION, parseRFC3339, ACME_METRICS, EVENT_TEST_COMPLETED };
