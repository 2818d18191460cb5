"""Signatures, log lines and error encoding, each as the Go side reads them."""
import base64
import io
import json
import logging
import unittest

import grpc
from google.protobuf import duration_pb2

from provider import errors, hclog, standardwebhooks as sw
from provider.wire import adapter_pb2, status_pb2

KEY = b"\x07" * 32


class StandardWebhooksTest(unittest.TestCase):
    def headers(self, pairs):
        return [adapter_pb2.Header(name=k, values=[v]) for k, v in pairs]

    def test_secret_forms(self):
        enc = base64.b64encode(KEY).decode()
        for s in ("whsec_" + enc, enc, "whsec_" + enc.rstrip("="), " whsec_" + enc + "\n"):
            self.assertEqual(sw.parse_secret(s), KEY, s)
        for s in ("", "whsec_", "whsec_a", "whsec_!!!!", "whsec_" + enc + "x"):
            self.assertIsNone(sw.parse_secret(s), s)

    def test_rotation_several_signatures_one_valid(self):
        body = b'{"a":1}'
        h = dict(sw.sign(KEY, "m", 100, body))
        h["Webhook-Signature"] = "v2,zzz v1,AAAA " + h["Webhook-Signature"]
        sw.verify(KEY, self.headers(h.items()), body, 100)

    def test_rejections(self):
        body = b"{}"
        good = dict(sw.sign(KEY, "m", 1000, body))
        cases = [
            ({k: v for k, v in good.items() if k != "Webhook-Signature"}, 1000, "missing_signature"),
            ({**good, "Webhook-Timestamp": "-1000"}, 1000, "malformed_signature"),
            (good, 1000 + 301, "stale_timestamp"),
            (good, 1000 - 301, "stale_timestamp"),
            ({**good, "Webhook-Signature": good["Webhook-Signature"][:-2] + "A="}, 1000, "bad_signature"),
        ]
        for h, now, reason in cases:
            with self.subTest(reason), self.assertRaises(errors.PluginError) as cm:
                sw.verify(KEY, self.headers(h.items()), body, now)
            self.assertEqual((cm.exception.kind, cm.exception.reason), ("rejected", reason))
        sw.verify(KEY, self.headers(good.items()), body, 1000 + 300)


class HclogTest(unittest.TestCase):
    def test_line_format(self):
        out = io.StringIO()
        root = hclog.setup(out, env={"POOLHOST_PLUGIN_LOG_LEVEL": "info"})
        self.addCleanup(root.handlers.clear)
        logging.getLogger("x").debug("hidden")
        logging.getLogger("x").warning("skipping %s", "it", extra={"type": "turbidity", "n": 3})
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 1)
        line = json.loads(lines[0])
        self.assertEqual((line["@level"], line["@message"], line["type"], line["n"]), ("warn", "skipping it", "turbidity", 3))
        # Go's layout 2006-01-02T15:04:05.000000Z07:00: exactly six fractional digits.
        self.assertRegex(line["@timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class ErrorsTest(unittest.TestCase):
    def test_status_details_carry_credentials_and_reason_with_the_calls_code(self):
        code, msg, trailer = errors.to_status(errors.rejected("nope", reason="bad_signature",
                                                              refreshed_credentials={"a": "b"}), "IngestWebhook")
        self.assertEqual((code, msg), (grpc.StatusCode.PERMISSION_DENIED, "nope"))
        st = status_pb2.Status.FromString(trailer)
        self.assertEqual((st.code, st.message), (7, "nope"))
        self.assertEqual(st.details[0].type_url, errors.ERROR_DETAIL_TYPE_URL)
        d = adapter_pb2.ErrorDetail.FromString(st.details[0].value)
        self.assertEqual((d.reason, dict(d.refreshed_credentials.values)), ("bad_signature", {"a": "b"}))

    def test_a_failed_polls_next_cursor_travels_in_the_error_detail_only_when_given(self):
        def detail(err):
            _, _, trailer = errors.to_status(err, "PollReadings")
            return adapter_pb2.ErrorDetail.FromString(status_pb2.Status.FromString(trailer).details[0].value)
        self.assertEqual(detail(errors.temporary("acme: 503", next_cursor='{"spent":4}')).next_cursor, '{"spent":4}')
        empty = detail(errors.temporary("acme: 503", next_cursor=""))
        self.assertTrue(empty.HasField("next_cursor"))
        self.assertEqual(empty.next_cursor, "")
        self.assertFalse(detail(errors.temporary("acme: 503")).HasField("next_cursor"))

    def test_retry_after_travels_as_retry_info_beside_the_error_detail(self):
        code, _, trailer = errors.to_status(errors.temporary("acme: 429", retry_after_seconds=errors.retry_after_header("3600"),
                                                             refreshed_credentials={"access_token": "a2"}), "PollReadings")
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        st = status_pb2.Status.FromString(trailer)
        self.assertEqual([d.type_url for d in st.details], [errors.ERROR_DETAIL_TYPE_URL, "type.googleapis.com/google.rpc.RetryInfo"])
        self.assertEqual(dict(adapter_pb2.ErrorDetail.FromString(st.details[0].value).refreshed_credentials.values),
                         {"access_token": "a2"})
        # RetryInfo{retry_delay = 1: Duration}
        ri = st.details[1].value
        self.assertEqual((ri[0], ri[1]), (0x0A, len(ri) - 2))
        d = duration_pb2.Duration.FromString(ri[2:])
        self.assertEqual((d.seconds, d.nanos), (3600, 0))
        self.assertEqual(duration_pb2.Duration.FromString(errors.retry_info(90.5)[2:]).ToNanoseconds(), 90_500_000_000)

        _, _, plain = errors.to_status(errors.temporary("acme: 503"), "PollReadings")
        self.assertEqual(len(status_pb2.Status.FromString(plain).details), 1)

        now = 1796644800  # Mon, 07 Dec 2026 12:00:00 GMT
        for v, want in [("", 0), (None, 0), ("120", 120), (" 7 ", 7), ("0", 0), ("-5", 0), ("soon", 0),
                        ("999999999999999999999", 24 * 3600), ("Mon, 07 Dec 2026 12:01:30 GMT", 90),
                        ("Mon, 07 Dec 2026 11:00:00 GMT", 0)]:
            self.assertEqual(errors.retry_after_header(v, now), want, v)

    def test_an_exception_is_internal_with_its_message(self):
        code, msg, trailer = errors.to_status(KeyError("x"), "Webhook")
        self.assertEqual(code, grpc.StatusCode.INTERNAL)
        self.assertEqual(msg, "plugin raised in Webhook: KeyError: 'x'")
        self.assertEqual(status_pb2.Status.FromString(trailer).code, 13)


class _Context:
    """The part of grpc.ServicerContext a unary handler uses."""

    def set_trailing_metadata(self, md):
        self.trailers = md

    def abort(self, code, message):
        self.code, self.message = code, message
        raise grpc.RpcError(message)


class DescribeTest(unittest.TestCase):
    def test_poll_without_poll_readings_is_refused_as_the_go_sdk_refuses_it(self):
        from provider.goplugin import AdapterServicer

        class Adapter:
            def describe(self, req):
                c = adapter_pb2.Capabilities(connect="api_key", poll=True)
                return adapter_pb2.DescribeResponse(id="acme", version="0.1.0", protocol_version=1, capabilities=c)

        ctx = _Context()
        with self.assertRaises(grpc.RpcError):
            AdapterServicer(Adapter()).Describe(adapter_pb2.DescribeRequest(), ctx)
        self.assertEqual(ctx.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("capabilities.poll is set but the adapter has no poll_readings method", ctx.message)

        class Polling(Adapter):
            def poll_readings(self, req):
                return adapter_pb2.PollReadingsResponse()

        self.assertEqual(AdapterServicer(Polling()).Describe(adapter_pb2.DescribeRequest(), _Context()).id, "acme")


if __name__ == "__main__":
    unittest.main()
