"""The adapter itself, called directly: the template's conformance fixtures, parsing, a
photometer test session and device linking."""
import json
import logging
import unittest

from provider import acme, standardwebhooks as sw
from provider.errors import PluginError
from provider.wire import adapter_pb2

from .fixtures import load_configure, load_webhooks

KEY = b"\x07" * 32
SECRET = "whsec_" + __import__("base64").b64encode(KEY).decode()


def signed(body, ts=1767268805, msg_id="msg_1", received=1767268807, account_secret=None):
    raw = adapter_pb2.RawWebhook(body=body)
    for k, v in sw.sign(KEY, msg_id, ts, body):
        raw.headers.append(adapter_pb2.Header(name=k, values=[v]))
    raw.received_at.seconds = received
    if account_secret:
        raw.account.id = "7"
        raw.account_secret = account_secret
    return raw


class FixturesTest(unittest.TestCase):
    def setUp(self):
        self.a = acme.AcmeAdapter()
        self.a.configure(load_configure())
        logging.disable(logging.WARNING)
        self.addCleanup(logging.disable, logging.NOTSET)

    def test_valid_fixtures_verify_and_parse(self):
        for name, raw in load_webhooks("valid"):
            with self.subTest(name):
                self.a.verify_webhook(raw)
                res = self.a.webhook(raw)
                self.assertEqual(res.delivery_id, sw.header(raw.headers, "webhook-id"))
                got = {(r.metric, round(r.value, 2), r.unit, r.quality) for r in res.readings}
                self.assertEqual(got, {("ph", 7.42, "", "good"), ("temperature", 80.6, "F", "good"),
                                       ("orp", 690.0, "mV", "suspect"),
                                       ("turbidity", 0.3, "NTU", "")})  # passed through: the host counts it
                self.assertTrue(all(r.HasField("recorded_at") and r.recorded_at.seconds == 1767268800 for r in res.readings))

    def test_bad_fixtures_rejected_with_reason(self):
        for kind, reason in (("tampered", "bad_signature"), ("wrong_secret", "bad_signature"), ("stale", "stale_timestamp")):
            for name, raw in load_webhooks(kind):
                with self.subTest(f"{kind}/{name}"), self.assertRaises(PluginError) as cm:
                    self.a.verify_webhook(raw)
                self.assertEqual((cm.exception.kind, cm.exception.reason), ("rejected", reason))

    def test_account_url_never_takes_the_provider_secret(self):
        body = b'{"event":"readings.created","device_id":"d","readings":[]}'
        # Signed with KEY, but the account's own secret is another one.
        with self.assertRaises(PluginError) as cm:
            self.a.verify_webhook(signed(body, account_secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="))
        self.assertEqual(cm.exception.kind, "rejected")
        self.a.verify_webhook(signed(body, account_secret=SECRET))


class WebhookTest(unittest.TestCase):
    def setUp(self):
        self.a = acme.AcmeAdapter()
        self.a.configure(adapter_pb2.ConfigureRequest(secrets={"webhook_secret": SECRET}))

    def test_photometer_test_is_a_test_session_with_a_bound(self):
        body = json.dumps({"event": "test.completed", "device_id": "photo-1", "test": {
            "taken_at": "2026-01-01T08:00:00.5+02:00", "method": "Photometer", "notes": "after rain",
            "results": [{"type": "free_cl", "value": 10, "unit": "ppm", "out_of_range": "above"},
                        {"type": "ph", "value": 7.4}, {"type": "cya", "value": None},
                        {"type": "copper", "value": 0.1}, {"type": "x" * 65, "value": 1}]}}).encode()
        with self.assertLogs("acme", logging.WARNING) as logs:  # the 65-byte type only
            res = self.a.webhook(signed(body))
        self.assertEqual(len(logs.records), 1)
        self.assertEqual(len(res.readings), 0)
        self.assertEqual(len(res.test_sessions), 1)
        s = res.test_sessions[0]
        self.assertEqual((s.provider_device_id, s.method, s.notes), ("photo-1", "photometer", "after rain"))
        self.assertEqual((s.taken_at.seconds, s.taken_at.nanos), (1767247200, 500000000))  # 06:00:00.5Z
        self.assertEqual([(r.metric, r.value, r.unit, r.qualifier) for r in s.results],
                         [("free_chlorine", 10.0, "ppm", "above"), ("ph", 7.4, "", ""), ("copper", 0.1, "", "")])

    def test_malformed_bodies_are_permanent(self):
        deep = b"[" * 10000 + b"]" * 10000
        for body in (b"", b"{", b"[]", b'""', b"0", b"-1e999", b"\x00\xff\xfe", b"NaN", deep,
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":"7"}]}',
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":true}]}',
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":1e309}]}',
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":Infinity}]}',
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":1' + b"0" * 400 + b"}]}",
                     b'{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":7,"measured_at":"2026-02-30T00:00:00Z"}]}',
                     b'{"event":"readings.created","device_id":"","readings":[]}',
                     b'{"event":"readings.created","device_id":"d","readings":{}}',
                     b'{"event":7}',
                     b'{"event":"test.completed","device_id":"d","test":[]}',
                     b'{"event":"test.completed","device_id":"d","test":{"results":[{"type":"ph","value":7,"out_of_range":"sideways"}]}}'):
            with self.subTest(body[:60]), self.assertRaises(PluginError) as cm:
                self.a.webhook(signed(body))
            self.assertEqual(cm.exception.kind, "permanent")

    def test_other_events_and_null_are_acknowledged_empty(self):
        for body in (b"null", b'{"event":"device.added","device_id":"d"}'):
            res = self.a.webhook(signed(body))
            self.assertEqual((len(res.readings), len(res.test_sessions)), (0, 0))


class LinkingTest(unittest.TestCase):
    def test_connect_makes_a_secret_and_lists_devices(self):
        res = acme.AcmeAdapter().connect(adapter_pb2.ConnectRequest(input={"devices": " dev-1, dev-2,dev-1 ", "name": "Back"}))
        creds = res.linkage.credentials.values
        self.assertIsNotNone(sw.parse_secret(creds["webhook_secret"]))
        self.assertEqual(creds["devices"], "dev-1,dev-2")
        self.assertEqual(res.linkage.display_name, "Back")

    def test_discover_renames_a_legacy_secret_even_when_it_fails(self):
        a = acme.AcmeAdapter()
        req = adapter_pb2.DiscoverDevicesRequest()
        req.account.credentials.values.update({"secret": SECRET, "devices": "dev-1,\x01"})
        with self.assertRaises(PluginError) as cm:
            a.discover_devices(req)
        self.assertEqual(cm.exception.kind, "invalid_input")
        self.assertEqual(cm.exception.refreshed_credentials, {"webhook_secret": SECRET, "devices": "dev-1,\x01"})
        req.account.credentials.values["devices"] = "dev-1"
        res = a.discover_devices(req)
        self.assertEqual([d.provider_device_id for d in res.devices], ["dev-1"])
        self.assertEqual(dict(res.refreshed_credentials.values), {"webhook_secret": SECRET, "devices": "dev-1"})

    def test_unconfigured_is_temporary(self):
        with self.assertRaises(PluginError) as cm:
            acme.AcmeAdapter().health(adapter_pb2.HealthRequest())
        self.assertEqual(cm.exception.kind, "temporary")

    def test_configure_names_a_bad_secret_without_its_value(self):
        with self.assertRaises(PluginError) as cm:
            acme.AcmeAdapter().configure(adapter_pb2.ConfigureRequest(secrets={"webhook_secret": "whsec_not base64!"}))
        self.assertEqual(cm.exception.kind, "invalid_input")
        self.assertNotIn("not base64", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
