"""The Acme Pool Cloud provider of examples/provider-template, in Python: its webhook half
(the same Standard Webhooks scheme, payload, metric table and conformance fixtures), the
account linking a webhook-only provider needs, and Acme's photometer tests as test
sessions. It does not do the template's OAuth2 linking or polling; add them the same way
(adapter.proto has the messages).

Every method receives the request message (provider/gen's adapter_pb2) and returns the
response message. Raise a PluginError (errors.py) to fail a call with a kind the host
understands; any other exception reaches the host as a temporary failure carrying its
message.
"""
import base64
import datetime
import json
import logging
import math
import re
import secrets

from . import standardwebhooks as sw
from .errors import PluginError, invalid_input, permanent, rejected, temporary
from .wire import adapter_pb2, timestamp_pb2

ID = "template-python"
VERSION = "0.1.0"
PROTOCOL_VERSION = 1

# Settings and secrets read from Configure.
SETTING_BASE_URL = "base_url"  # optional here: the upstream API an OAuth2/poll half would call
SECRET_WEBHOOK = "webhook_secret"  # optional: whsec_… for the provider-level webhook URL

# Connect input and the credentials an account holds.
INPUT_DEVICES = "devices"  # comma-separated Acme device ids the user owns
INPUT_NAME = "name"
CRED_WEBHOOK_SECRET = "webhook_secret"  # the host shows it with the account's webhook URL
CRED_DEVICES = "devices"
CRED_LEGACY_SECRET = "secret"  # what version 0.0.x called the webhook secret

# Acme's measurement types → poolhost metric names (sdk/metric), as the Go template.
ACME_METRICS = {
    "ph": "ph", "orp": "orp", "water_temp": "temperature", "free_cl": "free_chlorine",
    "total_cl": "total_chlorine", "salt": "salt", "battery": "battery",
    "cya": "cyanuric_acid", "alkalinity": "total_alkalinity", "hardness": "calcium_hardness",
}
ACME_QUALITY = {"ok": "good", "calibrating": "suspect"}
# A photometer result beyond its range ("FC > 10"): Acme sends the bound as the value and
# says which side in out_of_range; poolhost calls that the reading's qualifier.
ACME_BOUNDS = {"above": "above", "below": "below"}
EVENT_READINGS_CREATED = "readings.created"
EVENT_TEST_COMPLETED = "test.completed"  # a photometer panel: one sample, several results
ACME_TEST_METHODS = {"photometer", "strips", "drops", "lab"}

log = logging.getLogger("acme")


class AcmeAdapter:
    def __init__(self):
        # Set by configure, replaced whole on every reload (one assignment: calls on other
        # threads see the old or the new configuration, never half of each).
        self._cfg = None

    def describe(self, req):
        c = adapter_pb2.Capabilities(connect="webhook_secret", webhook=True, poll=False,
                                     signature_headers=["webhook-id", "webhook-timestamp", "webhook-signature"])
        return adapter_pb2.DescribeResponse(
            id=ID, version=VERSION, protocol_version=PROTOCOL_VERSION, capabilities=c,
            # Every key Configure reads: the host then refuses config keys not declared here
            # (a typo fails at start, with a did-you-mean, not silently). The Go template's
            # OAuth2 settings are declared so its configuration and fixtures apply unchanged.
            settings=[
                adapter_pb2.Option(key=SETTING_BASE_URL, type="url",
                                   help="Acme API base URL (for OAuth2 and polling; unused by webhooks)."),
                adapter_pb2.Option(key="client_id", help="OAuth client registered with Acme (for OAuth2; unused by webhooks)."),
                adapter_pb2.Option(key="client_secret", secret=True,
                                   help="The OAuth client's secret (for OAuth2; unused by webhooks)."),
                adapter_pb2.Option(key=SECRET_WEBHOOK, secret=True,
                                   help="whsec_… secret Acme signs provider-level webhook deliveries with."),
            ],
            # What a user gives at connect: GET /v1/providers lists it.
            connect_inputs=[
                adapter_pb2.Option(key=INPUT_DEVICES, help="Comma-separated ids of your Acme devices, e.g. dev-1,dev-2."),
                adapter_pb2.Option(key=INPUT_NAME, help="A name for this account."),
            ],
        )

    def configure(self, req):
        """Validates everything now: an error here is reported to the operator at start."""
        base = req.settings.get(SETTING_BASE_URL, "")
        if base and not re.match(r"https?://[^/\s]+", base):
            raise invalid_input(f"setting {SETTING_BASE_URL} must be an absolute http(s) URL")
        webhook_key = None
        if req.secrets.get(SECRET_WEBHOOK):
            webhook_key = sw.parse_secret(req.secrets[SECRET_WEBHOOK])
            if webhook_key is None:
                # Say which secret, never its value.
                raise invalid_input(f"secret {SECRET_WEBHOOK}: want whsec_ followed by base64")
        self._cfg = {"webhook_key": webhook_key}
        return adapter_pb2.ConfigureResponse()

    def config(self):
        cfg = self._cfg
        if cfg is None:
            # The host configures right after start; a call racing it is worth retrying.
            raise temporary(f"provider {ID} is not configured yet")
        return cfg

    def health(self, req):
        self.config()
        return adapter_pb2.HealthResponse()

    def connect(self, req):
        """Links an account at once: a fresh webhook secret the host shows the user with the
        account's own webhook URL, and the devices the user says they own."""
        devices = parse_devices(req.input.get(INPUT_DEVICES, ""))
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        linkage = adapter_pb2.Linkage(
            external_account_id="acme_" + secrets.token_hex(12),
            display_name=req.input.get(INPUT_NAME, "").strip() or "Acme Pool Cloud",
        )
        linkage.credentials.values.update({CRED_WEBHOOK_SECRET: secret, CRED_DEVICES: ",".join(devices)})
        return adapter_pb2.ConnectResponse(linkage=linkage)

    def discover_devices(self, req):
        """Lists the devices declared at connect. Also shows the one rule about credentials
        a call changes: they go back to the host even when the call then fails. Accounts
        linked by version 0.0.x keep their secret under "secret"; the first discovery
        renames it and returns the renamed credentials in the result, or on the error (an
        ErrorDetail in grpc-status-details-bin) if the device list is unusable."""
        stored = dict(req.account.credentials.values)
        refreshed = None
        if not stored.get(CRED_WEBHOOK_SECRET) and stored.get(CRED_LEGACY_SECRET):
            refreshed = {k: v for k, v in stored.items() if k != CRED_LEGACY_SECRET}
            refreshed[CRED_WEBHOOK_SECRET] = stored[CRED_LEGACY_SECRET]
        try:
            devices = parse_devices(stored.get(CRED_DEVICES, ""))
        except PluginError as err:
            err.refreshed_credentials = refreshed
            raise
        res = adapter_pb2.DiscoverDevicesResponse(devices=[
            adapter_pb2.Device(provider_device_id=d, name=f"Acme device {d}", model="Acme probe", verified=False)
            for d in devices])
        if refreshed is not None:
            res.refreshed_credentials.values.update(refreshed)
        return res

    def verify_webhook(self, raw):
        """Authenticates a delivery before anything looks at it. An account-scoped URL uses
        that account's secret (account_secret); the provider-level URL uses the configured
        webhook_secret. Never fall back from one to the other: an account URL that accepted
        the provider secret would let whoever holds it write into any account."""
        if raw.HasField("account"):
            if not raw.account_secret:
                raise rejected("account has no webhook secret")
            key = sw.parse_secret(raw.account_secret)
            if key is None:
                raise rejected("account webhook secret is unusable")
        else:
            key = self.config()["webhook_key"]
            if key is None:
                raise rejected("no provider webhook secret is configured")
        # The timestamp is checked against the host's receive time: the moment the replay
        # window is about.
        sw.verify(key, raw.headers, raw.body, received_at_seconds(raw))

    def webhook(self, raw):
        """Parses a verified delivery with the Go template's rules: readings.created carries
        readings and test.completed a test session; other events are acknowledged with
        nothing (failing them would make Acme redeliver them forever); a payload that can
        never parse is permanent (the host dead-letters it at once)."""
        # The webhook-id is Acme's idempotency key: redeliveries carry the same one.
        result = adapter_pb2.WebhookResult(delivery_id=sw.header(raw.headers, "webhook-id"))
        ev = parse_json(raw.body, "acme webhook")
        if ev is None:
            return result
        if not isinstance(ev, dict):
            raise permanent("malformed acme webhook: not a JSON object")
        event = opt_string(ev, "event", "acme webhook")
        device_id = opt_string(ev, "device_id", "acme webhook")
        readings = ev.get("readings")
        if readings is not None and not isinstance(readings, list):
            raise permanent("malformed acme webhook: readings is not an array")
        if event == EVENT_READINGS_CREATED:
            if device_id == "":
                raise permanent(f"acme {event} event without device_id")
            for r in readings or []:
                reading = self.to_reading(device_id, r)
                if reading is not None:
                    result.readings.append(reading)
        elif event == EVENT_TEST_COMPLETED:
            if device_id == "":
                raise permanent(f"acme {event} event without device_id")
            result.test_sessions.append(self.to_test_session(device_id, ev.get("test")))
        return result

    def to_reading(self, device_id, r):
        """One Acme reading, normalized; None for one without a value (a probe warming up)
        or whose type no metric name can be (metric_name)."""
        if r is None:
            return None
        if not isinstance(r, dict):
            raise permanent("malformed acme reading: not a JSON object")
        typ = opt_string(r, "type", "acme reading")
        unit = opt_string(r, "unit", "acme reading")
        measured_at = opt_string(r, "measured_at", "acme reading")
        status = opt_string(r, "status", "acme reading")
        value = number(r.get("value"), "acme reading")
        if value is None:
            return None
        metric = metric_name(typ, "reading")
        if metric is None:
            return None
        reading = adapter_pb2.Reading(provider_device_id=device_id, metric=metric, value=value,
                                      unit=unit,  # passed through ("F", "mV"): the host converts every unit sdk/metric knows
                                      quality=ACME_QUALITY.get(status, ""),
                                      # kept by the host for audit
                                      raw_payload=json.dumps(r, separators=(",", ":")).encode())
        if measured_at:
            reading.recorded_at.CopyFrom(rfc3339(measured_at, "measured_at"))
        return reading

    def to_test_session(self, device_id, t):
        """An Acme photometer test: one sample, several results, stored by the host as a test
        session of the device's pool (never as readings). A result beyond the photometer's
        range carries the bound as its value and the side as its qualifier."""
        if not isinstance(t, dict):
            raise permanent("malformed acme test: test is not a JSON object")
        taken_at = opt_string(t, "taken_at", "acme test")
        method = opt_string(t, "method", "acme test").lower()
        session = adapter_pb2.TestSession(provider_device_id=device_id,
                                          method=method if method in ACME_TEST_METHODS else "other",
                                          notes=opt_string(t, "notes", "acme test"))
        if taken_at:
            # The device and this time identify the session: a redelivery stores nothing new.
            session.taken_at.CopyFrom(rfc3339(taken_at, "taken_at"))
        results = t.get("results")
        if results is not None and not isinstance(results, list):
            raise permanent("malformed acme test: results is not an array")
        for r in results or []:
            if not isinstance(r, dict):
                raise permanent("malformed acme test result: not a JSON object")
            typ = opt_string(r, "type", "acme test result")
            bound = opt_string(r, "out_of_range", "acme test result")
            value = number(r.get("value"), "acme test result")
            if value is None:
                continue
            if bound and bound not in ACME_BOUNDS:
                raise permanent(f"malformed acme test result: out_of_range {bound[:20]!r}")
            metric = metric_name(typ, "test result")
            if metric is None:
                continue
            session.results.append(adapter_pb2.TestResult(metric=metric, value=value,
                                                          unit=opt_string(r, "unit", "acme test result"),
                                                          qualifier=ACME_BOUNDS.get(bound, "")))
        return session


# The host's default cap on a metric name (plugins.max_metric_bytes): an answer with a
# longer one is refused whole.
MAX_METRIC_BYTES = 64


def metric_name(typ, what):
    """poolhost's name for an Acme type. A type with no poolhost metric is passed through
    unchanged, for the host to drop and count as unknown_metric where operators see a new
    type appear (PLUGINS.md, Metric vocabulary); None for one no metric name can be (empty,
    over the host's cap, not UTF-8), which would cost the delivery its other readings."""
    metric = ACME_METRICS.get(typ.lower())
    if metric is not None:
        return metric
    try:
        size = len(typ.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape
        size = MAX_METRIC_BYTES + 1
    if 0 < size <= MAX_METRIC_BYTES:
        return typ
    if typ:
        log.warning(f"skipping an acme {what} whose type no metric name can be", extra={"type": typ[:40]})
    return None


def _no_constants(name):
    # Go's decoder knows no NaN or Infinity literals: the same verdict here.
    raise ValueError(f"invalid literal {name}")


def parse_json(body, what):
    """Decodes a body as Go's encoding/json would accept it, or raises permanent. Invalid
    UTF-8 becomes U+FFFD inside strings and a syntax error elsewhere, as in Go."""
    try:
        return json.loads(bytes(body).decode("utf-8", errors="replace"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as err:
        # RecursionError: 10,000 nested brackets; Go stops at its own depth limit too.
        raise permanent(f"malformed {what}: {str(err)[:200]}") from None


def number(v, what):
    """A JSON number as a finite float, None for null/absent, else permanent. bool is not a
    number (Python's bool is an int); 1e999 parses as inf where Go fails: the same verdict."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise permanent(f"malformed {what}: value is not a number")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise permanent(f"malformed {what}: value is not a finite number")
    return f


def opt_string(obj, key, what):
    """A field that must be a string when present (null counts as absent), as Go's decoder
    treats a string field."""
    v = obj.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise permanent(f"malformed {what}: {key} is not a string")
    return v


def parse_devices(text):
    ids = [s.strip() for s in str(text).split(",") if s.strip()]
    for i in ids:
        if len(i) > 128 or re.search(r"[\x00-\x1f\x7f]", i):
            raise invalid_input("device ids are at most 128 printable characters")
    return list(dict.fromkeys(ids))


def received_at_seconds(raw):
    """The host's receive time, or now when the host sent none."""
    if not raw.HasField("received_at"):
        return datetime.datetime.now(datetime.timezone.utc).timestamp()
    return raw.received_at.seconds + raw.received_at.nanos / 1e9


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")


def rfc3339(s, field):
    """An RFC 3339 time (Go's time.RFC3339Nano: fraction optional, up to 9 digits, kept to
    the nanosecond) as a Timestamp, or permanent."""
    m = _RFC3339.fullmatch(s)
    try:
        if not m:
            raise ValueError
        y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
        # datetime knows no year 0; Go does, and the host then drops it as too old.
        dt = datetime.datetime(max(y, 1), mo, d, h, mi, se, tzinfo=datetime.timezone.utc)
        off = m.group(8)
        offset = 0
        if off != "Z":
            oh, om = int(off[1:3]), int(off[4:6])
            if oh > 23 or om > 59:
                raise ValueError
            offset = (1 if off[0] == "+" else -1) * (oh * 3600 + om * 60)
    except ValueError:
        raise permanent(f"acme {field} is malformed: {s[:40]!r}") from None
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    seconds = (dt - epoch) // datetime.timedelta(seconds=1) - offset
    nanos = int(m.group(7).ljust(9, "0")) if m.group(7) else 0
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
