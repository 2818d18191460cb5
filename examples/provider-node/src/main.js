'use strict';
// The plugin's entry point: serve the Acme adapter over go-plugin gRPC.
const { serve, Logger } = require('@poolhost/plugin');
const { AcmeAdapter } = require('./acme');

const log = new Logger();
serve(new AcmeAdapter({ log }), { log });
