'use strict';
// Errors a plugin returns to the host, and how they travel.
//
// The host classifies a failed call by its gRPC status code alone (adapter.proto,
// "Errors"); the message is shown to operators, so never put a secret in it. A call that
// refreshed an account's credentials before failing must still hand them back: they ride
// in a poolhost.adapter.v1.ErrorDetail packed as a google.protobuf.Any inside a
// google.rpc.Status, sent in the "grpc-status-details-bin" trailer. That is what Go's
// status.WithDetails does; grpc-js has no helper for it, so toServiceError below does it.
// The Status in the trailer must carry the same code as the call's status: grpc-go
// refuses a mismatch.
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');
const wire = require('./wire');

// The error kinds of the Go SDK (sdk.ErrorKind) and the status code each travels as.
const KIND_CODES = {
  temporary: grpc.status.UNAVAILABLE, // retry later
  permanent: grpc.status.INVALID_ARGUMENT, // the input can never succeed
  reauth_required: grpc.status.UNAUTHENTICATED, // the user must reconnect
  unsupported: grpc.status.UNIMPLEMENTED,
  rejected: grpc.status.PERMISSION_DENIED, // a webhook's signature is missing or wrong
  invalid_input: grpc.status.FAILED_PRECONDITION, // what the user supplied is not valid
};

// The same kinds as poolhost.adapter.v1.ErrorKind, for IngestWebhookResponse.webhook_error.
const KIND_ENUM = {
  temporary: 'ERROR_KIND_TEMPORARY',
  permanent: 'ERROR_KIND_PERMANENT',
  reauth_required: 'ERROR_KIND_REAUTH',
  unsupported: 'ERROR_KIND_UNSUPPORTED',
  rejected: 'ERROR_KIND_REJECTED',
  invalid_input: 'ERROR_KIND_INVALID_INPUT',
};

// Why a webhook was rejected: ErrorDetail.reason's bounded set (anything else counts as
// "other").
const REASONS = {
  missingSignature: 'missing_signature', // no signature (or timestamp) header at all
  malformedSignature: 'malformed_signature', // a header the scheme cannot read
  badSignature: 'bad_signature', // read, but it does not match
  staleTimestamp: 'stale_timestamp', // signed too long ago, or in the future
  other: 'other',
};

const ERROR_DETAIL_TYPE_URL = 'type.googleapis.com/poolhost.adapter.v1.ErrorDetail';

// PluginError is a classified failure, like the Go SDK's *sdk.Error.
class PluginError extends Error {
  // refreshedCredentials: the account's new credentials, when the call refreshed them
  // before failing (an object of strings); the host stores them, then acts on the kind.
  // reason: for a rejected webhook, one of REASONS; the host logs it with the request id
  // and counts rejections by it.
  // retryAfterSeconds: when the provider said when to come back (a 429's Retry-After, see
  // retryAfterHeader); the host polls the account no sooner, and a connect or discover
  // answers 503 with that Retry-After. Go's sdk.RetryAfter.
  // nextCursor: for a failed pollReadings whose cursor keeps a ledger of a quota it spent
  // (a string, "" included): the request's cursor plus that spending, nothing of what it
  // read; the host stores it with the failure. Go's sdk.WithNextCursor.
  constructor(kind, message, { refreshedCredentials, reason, retryAfterSeconds, nextCursor } = {}) {
    super(message);
    if (!(kind in KIND_CODES)) throw new TypeError(`unknown error kind ${kind}`);
    this.kind = kind;
    this.refreshedCredentials = refreshedCredentials;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
    this.nextCursor = nextCursor;
  }
}

// outcomeUnknown is sendCommand's "the request may have reached the provider" (the
// connection dropped after the request was written, a 5xx): the host marks the command
// unknown and never sends it again. Go's sdk.ErrOutcomeUnknown. Anything else thrown
// from sendCommand that is not a PluginError is unknown too; a PluginError of kind
// permanent, temporary or reauth_required is a refusal the provider certainly did not
// act on.
class OutcomeUnknown extends Error {
  constructor(message, { refreshedCredentials } = {}) {
    super(message);
    this.refreshedCredentials = refreshedCredentials;
  }
}
const outcomeUnknown = (m, o) => new OutcomeUnknown(m, o);

const temporary = (m, o) => new PluginError('temporary', m, o);
const permanent = (m, o) => new PluginError('permanent', m, o);
const rejected = (m, o) => new PluginError('rejected', m, o);
const invalidInput = (m, o) => new PluginError('invalid_input', m, o);
const unsupported = (m, o) => new PluginError('unsupported', m, o);
const reauth = (m, o) => new PluginError('reauth_required', m, o);

const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

// The longest wait retryAfterHeader reports, as Go's sdk.RetryAfterHeader: a provider
// naming next week does not mean it.
const MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60;

// retryAfterHeader reads a Retry-After header value (seconds, or an HTTP date) as seconds
// from now, at most a day; 0 when absent, past or unreadable. Go's sdk.RetryAfterHeader.
function retryAfterHeader(value, now = new Date()) {
  const v = String(value ?? '').trim();
  if (v === '') return 0;
  if (/^[0-9]+$/.test(v)) return Math.min(Number(v), MAX_RETRY_AFTER_SECONDS);
  if (/^-[0-9]+$/.test(v)) return 0;
  const t = Date.parse(v);
  if (Number.isNaN(t) || t <= now.getTime()) return 0;
  return Math.min(Math.ceil((t - now.getTime()) / 1000), MAX_RETRY_AFTER_SECONDS);
}

// retryInfo encodes google.rpc.RetryInfo{retry_delay: Duration{seconds, nanos}}
// (google/rpc/error_details.proto; poolhost ships no copy of that file, and the message
// is two nested fields).
function retryInfo(seconds) {
  const total = Math.round(seconds * 1e9); // exact below 2^53 ns: 104 days
  const whole = Math.floor(total / 1e9);
  const nanos = total - whole * 1e9; // 0 … 999,999,999, as Duration requires
  const d = protobuf.Writer.create().uint32(8).int64(whole);
  if (nanos) d.uint32(16).int32(nanos);
  return protobuf.Writer.create().uint32(10).bytes(d.finish()).finish();
}

// statusDetailsBin encodes the grpc-status-details-bin trailer: a google.rpc.Status with
// the same code and message as the call, one Any holding an ErrorDetail (with
// next_cursor set, "" included, only when nextCursor is a string) and, when
// retryAfterSeconds > 0, one holding a RetryInfo.
function statusDetailsBin(code, message, refreshedCredentials, reason, retryAfterSeconds, nextCursor) {
  const { Status, ErrorDetail } = wire.load();
  const detail = ErrorDetail.encode(ErrorDetail.fromObject({
    ...(refreshedCredentials ? { refreshed_credentials: { values: refreshedCredentials } } : {}),
    ...(reason ? { reason } : {}),
    ...(typeof nextCursor === 'string' ? { next_cursor: nextCursor } : {}),
  })).finish();
  const details = [{ type_url: ERROR_DETAIL_TYPE_URL, value: detail }];
  if (retryAfterSeconds > 0) details.push({ type_url: RETRY_INFO_TYPE_URL, value: retryInfo(retryAfterSeconds) });
  return Buffer.from(Status.encode(Status.fromObject({ code, message, details })).finish());
}

// toServiceError turns anything a handler threw or rejected with into the error object
// grpc-js sends: {code, details, metadata}. A PluginError keeps its kind; anything else
// (a bug: a TypeError, a failed assertion) is INTERNAL, which the host treats as
// temporary, with the exception's message so the operator sees what broke. log gets the
// stack, which stays in the plugin's log.
function toServiceError(err, method, log) {
  let code;
  let message;
  let creds;
  let reason;
  let retryAfterSeconds;
  let nextCursor;
  if (err instanceof PluginError) {
    code = KIND_CODES[err.kind];
    message = err.message;
    creds = err.refreshedCredentials;
    reason = err.reason;
    retryAfterSeconds = err.retryAfterSeconds;
    nextCursor = err.nextCursor;
  } else if (err instanceof OutcomeUnknown) {
    // Any non-OK status is "unknown" to the host for SendCommand; UNAVAILABLE tells the
    // operator no more than that.
    code = grpc.status.UNAVAILABLE;
    message = `command outcome unknown: ${err.message}`;
    creds = err.refreshedCredentials;
  } else {
    code = grpc.status.INTERNAL;
    message = `plugin threw in ${method}: ${err && err.message ? err.message : String(err)}`;
    if (log) log.error('exception in an adapter call', { method, error: message, stack: err && err.stack ? String(err.stack) : '' });
  }
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', statusDetailsBin(code, message, creds, reason, retryAfterSeconds, nextCursor));
  return { code, details: message, metadata };
}

// toProtoError is a failure reported inside a successful response (IngestWebhook's
// webhook_error: verification succeeded, parsing failed).
function toProtoError(err) {
  if (err instanceof PluginError) return { kind: KIND_ENUM[err.kind], message: err.message, reason: err.reason || '' };
  return { kind: 'ERROR_KIND_TEMPORARY', message: `plugin threw in Webhook: ${err && err.message ? err.message : String(err)}` };
}

module.exports = {
  PluginError, OutcomeUnknown, outcomeUnknown, temporary, permanent, rejected, invalidInput, unsupported, reauth,
  toServiceError, toProtoError, statusDetailsBin, retryAfterHeader, KIND_CODES, REASONS, ERROR_DETAIL_TYPE_URL,
  RETRY_INFO_TYPE_URL,
};
