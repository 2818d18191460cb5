"""hclog-compatible JSON log lines on stderr, the only log channel a go-plugin plugin has.

go-plugin's host reads the plugin's stderr line by line and parses each as JSON
(go-plugin log_entry.go; poolhost's own relay is more lenient, but satisfy go-plugin's):
  - "@message" and "@level" must be strings;
  - "@timestamp" must parse with Go's layout "2006-01-02T15:04:05.000000Z07:00": exactly
    SIX fractional digits (datetime.isoformat with timespec="microseconds" gives them);
  - every other key becomes a key/value pair on the host's log line.
A line that is not JSON is logged at DEBUG, so a traceback printed by Python itself still
arrives, only at a lower level.

Use the standard logging module; keyword fields go in extra={...}:
    log.warning("skipping a reading", extra={"type": "turbidity"})
"""
import datetime
import json
import logging
import os
import sys

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_LEVELS = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}

# The attributes every LogRecord has; anything else on a record came from extra={...}.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def hclog_level(levelno):
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


def timestamp(when=None):
    """hclog's timestamp: UTC with microseconds, always six digits, and "Z"."""
    d = when or datetime.datetime.now(datetime.timezone.utc)
    return d.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HclogFormatter(logging.Formatter):
    def format(self, record):
        line = {}
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                line[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        line["@level"] = hclog_level(record.levelno)
        line["@message"] = record.getMessage()
        line["@timestamp"] = timestamp(datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc))
        return json.dumps(line, ensure_ascii=False)


def level_from_env(env=None):
    """POOLHOST_PLUGIN_LOG_LEVEL, as the Go SDK reads it; unset means trace (the host
    filters at its own level anyway)."""
    env = os.environ if env is None else env
    return _LEVELS.get(str(env.get("POOLHOST_PLUGIN_LOG_LEVEL", "")).lower(), TRACE)


def setup(stream=None, env=None):
    """Routes the root logger to stream (stderr) in hclog's format and returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(HclogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_from_env(env))
    return root
