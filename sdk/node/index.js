'use strict';
// @poolhost/plugin: write a poolhost provider plugin in Node.js. serve(adapter) does
// go-plugin's side of the protocol; the adapter is a class with async methods named as
// adapter.proto's (describe, configure, connect, webhook, …). See README.md.
const { serve } = require('./src/goplugin');
const { Logger } = require('./src/hclog');
const errors = require('./src/errors');
const standardWebhooks = require('./src/standardwebhooks');
const fixtures = require('./src/fixtures');
const wire = require('./src/wire');

module.exports = {
  serve,
  Logger,
  // Failing a call with a kind the host understands: throw one of these.
  PluginError: errors.PluginError,
  temporary: errors.temporary,
  permanent: errors.permanent,
  rejected: errors.rejected,
  invalidInput: errors.invalidInput,
  unsupported: errors.unsupported,
  reauth: errors.reauth,
  // sendCommand's "the request may have reached the provider": the host never resends it.
  outcomeUnknown: errors.outcomeUnknown,
  REASONS: errors.REASONS,
  // A provider's Retry-After header as seconds, for PluginError's retryAfterSeconds.
  retryAfterHeader: errors.retryAfterHeader,
  errors,
  standardWebhooks,
  fixtures,
  loadProtos: wire.load,
};
