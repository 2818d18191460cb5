"""Conformance fixtures for the unit tests: testdata/conformance beside provider/ when a
copy of this plugin carries its own (copy poolhost's, or write them with `poolhost plugins
fixtures sign`), else the Go template's in this repository."""
import base64
import datetime
import json
import os

from provider.wire import adapter_pb2

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conformance_dir():
    for d in (os.path.join(HERE, "testdata", "conformance"),
              os.path.join(HERE, "..", "provider-template", "testdata", "conformance")):
        if os.path.isfile(os.path.join(d, "configure.json")):
            return os.path.normpath(d)
    raise FileNotFoundError(f"no conformance fixtures: copy them to {os.path.join(HERE, 'testdata', 'conformance')}")


def load_configure():
    with open(os.path.join(conformance_dir(), "configure.json")) as f:
        c = json.load(f)
    return adapter_pb2.ConfigureRequest(settings=c.get("settings", {}), secrets=c.get("secrets", {}))


def load_webhooks(kind):
    """The fixtures of webhooks/<kind> as (name, RawWebhook)."""
    d = os.path.join(conformance_dir(), "webhooks", kind)
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name)) as f:
            w = json.load(f)
        raw = adapter_pb2.RawWebhook(body=w["body"].encode() if "body" in w else base64.b64decode(w.get("body_base64", "")))
        for k, vs in w.get("headers", {}).items():
            raw.headers.append(adapter_pb2.Header(name=k, values=vs))
        if w.get("received_at"):
            t = datetime.datetime.fromisoformat(w["received_at"].replace("Z", "+00:00"))
            raw.received_at.FromDatetime(t)
        if w.get("account_secret"):
            raw.account.id = "1"
            raw.account_secret = w["account_secret"]
        out.append((name, raw))
    return out
