#!/usr/bin/python3
"""Posts a body to a webhook URL signed as Acme signs it (Standard Webhooks), to try a
plugin in a running host by hand:

    python3 send_webhook.py URL whsec_SECRET body.json

prints the host's status and answer. A fake sender: nothing in the plugin uses it.
"""
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provider import standardwebhooks as sw  # noqa: E402


def main(url, secret, path):
    key = sw.parse_secret(secret)
    if key is None:
        sys.exit("send_webhook: the secret is not whsec_ followed by base64")
    with open(path, "rb") as f:
        body = f.read()
    now = int(time.time())
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    for name, value in sw.sign(key, f"msg_{time.time_ns()}", now, body):
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            print(resp.status, resp.read().decode())
    except urllib.error.HTTPError as err:
        print(err.code, err.read().decode())
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
