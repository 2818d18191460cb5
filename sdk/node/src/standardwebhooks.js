'use strict';
// Standard Webhooks (https://www.standardwebhooks.com) verification, the scheme Acme
// signs with, behaving exactly as the Go SDK's sdk/signature.StandardWebhooks so the
// same fixtures pass: headers webhook-id, webhook-timestamp, webhook-signature;
// HMAC-SHA256 over "id.timestamp.body" keyed with the base64-decoded part of a
// "whsec_" secret; a space-separated list of "v1,<base64>" signatures (several during a
// secret rotation; other versions ignored); the timestamp within 5 minutes, either way,
// of the time the HOST received the delivery (RawWebhook.received_at), not our clock.
const crypto = require('node:crypto');
const { rejected, REASONS } = require('./errors');

const TOLERANCE_SECONDS = 5 * 60;
const SCHEME = 'standard webhooks';

// parseSecret returns the HMAC key of "whsec_<base64>" (or bare base64), padded or not,
// or null when the secret is unusable. Buffer.from(…, 'base64') ignores junk, so check
// the alphabet first: a typo must not silently become another key.
function parseSecret(secret) {
  const enc = String(secret || '').trim().replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(enc)) return null;
  const padded = enc.includes('=') ? enc : enc + '='.repeat((4 - (enc.length % 4)) % 4);
  if (padded.length % 4 !== 0 || enc.length % 4 === 1) return null;
  const key = Buffer.from(padded, 'base64');
  return key.length > 0 ? key : null;
}

// header returns the first value of a header (names compare case-insensitively).
function header(headers, name) {
  const want = name.toLowerCase();
  for (const h of headers || []) {
    if (String(h.name).toLowerCase() === want && h.values && h.values.length > 0) return h.values[0];
  }
  return '';
}

// reject builds the rejection: a message for the operator (never secret material) and
// the bounded reason the host counts.
function reject(why, detail, reason) {
  return rejected(`${SCHEME}: ${why}${detail ? ' ' + detail : ''}`, { reason });
}

// verify throws a rejected PluginError unless the delivery is signed with key.
// nowSeconds is the receive time in Unix seconds.
function verify(key, headers, body, nowSeconds) {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  for (const [name, value] of [['webhook-id', id], ['webhook-timestamp', ts], ['webhook-signature', sigs]]) {
    if (value === '') throw reject('missing header', name, REASONS.missingSignature);
  }
  if (!/^[0-9]{1,18}$/.test(ts)) throw reject('malformed header', 'webhook-timestamp', REASONS.malformedSignature);
  const sent = Number(ts);
  if (nowSeconds - sent > TOLERANCE_SECONDS) throw reject('timestamp outside tolerance', '(too old)', REASONS.staleTimestamp);
  if (sent - nowSeconds > TOLERANCE_SECONDS) throw reject('timestamp outside tolerance', '(in the future)', REASONS.staleTimestamp);
  const want = Buffer.from(crypto.createHmac('sha256', key)
    .update(`${id}.${ts}.`).update(body || Buffer.alloc(0)).digest('base64'));
  for (const entry of sigs.split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const got = Buffer.from(entry.slice(comma + 1));
    // Constant time; the length of a valid signature is public anyway.
    if (got.length === want.length && crypto.timingSafeEqual(got, want)) return;
  }
  throw reject('bad signature', '', REASONS.badSignature);
}

// sign returns the headers a sender attaches (for tests and fake senders).
function sign(key, id, timestampSeconds, body) {
  const sig = crypto.createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
  return [
    { name: 'Webhook-Id', values: [id] },
    { name: 'Webhook-Timestamp', values: [String(timestampSeconds)] },
    { name: 'Webhook-Signature', values: [`v1,${sig}`] },
  ];
}

module.exports = { parseSecret, verify, sign, header, TOLERANCE_SECONDS };
