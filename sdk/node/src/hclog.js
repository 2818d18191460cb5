'use strict';
// hclog-compatible JSON logging on stderr, the only log channel a go-plugin plugin has.
//
// go-plugin's host reads the plugin's stderr line by line and parses each line as JSON
// (go-plugin log_entry.go; poolhost's own relay, grpcplugin.Logging, is more lenient,
// but a plugin should satisfy go-plugin's):
//   - "@message" and "@level" must be strings (go-plugin's relay panics its host otherwise);
//   - "@timestamp" must parse with Go's layout "2006-01-02T15:04:05.000000Z07:00", i.e.
//     exactly SIX fractional digits. Date.prototype.toISOString() gives three: such a line
//     fails to parse and go-plugin then logs the whole raw line at DEBUG, so every INFO,
//     WARN and ERROR line of the plugin silently disappears from an operator's log;
//   - every other key becomes a key/value pair on the host's log line.
// A line that is not JSON is logged at DEBUG as well (unless it starts with "[INFO]" etc.).

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

// timestamp formats d as hclog does: UTC, microseconds (always 6 digits), "Z".
function timestamp(d = new Date()) {
  const iso = d.toISOString(); // 2026-01-02T03:04:05.678Z
  return iso.slice(0, 23) + '000Z';
}

// levelFromEnv reads POOLHOST_PLUGIN_LOG_LEVEL as the Go SDK does; unset means trace (the
// host filters at its own level anyway).
function levelFromEnv(env = process.env) {
  const l = String(env.POOLHOST_PLUGIN_LOG_LEVEL || '').toLowerCase();
  return LEVELS.includes(l) ? l : 'trace';
}

class Logger {
  constructor({ level = levelFromEnv(), out = process.stderr, fields = {} } = {}) {
    this.min = LEVELS.indexOf(level);
    this.out = out;
    this.fields = fields;
  }

  // with returns a logger that adds fields to every line.
  with(fields) {
    return Object.assign(Object.create(Logger.prototype), this, { fields: { ...this.fields, ...fields } });
  }

  log(level, message, fields = {}) {
    if (LEVELS.indexOf(level) < this.min) return;
    const line = { ...this.fields, ...fields, '@level': level, '@message': String(message), '@timestamp': timestamp() };
    for (const [k, v] of Object.entries(line)) {
      if (v instanceof Error) line[k] = v.message;
    }
    this.out.write(JSON.stringify(line) + '\n');
  }

  trace(m, f) { this.log('trace', m, f); }
  debug(m, f) { this.log('debug', m, f); }
  info(m, f) { this.log('info', m, f); }
  warn(m, f) { this.log('warn', m, f); }
  error(m, f) { this.log('error', m, f); }
}

module.exports = { Logger, timestamp, levelFromEnv };
