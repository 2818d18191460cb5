"""The plugin side of hashicorp/go-plugin's gRPC protocol, as the poolhost host speaks it.

It follows go-plugin's own Python example (examples/grpc/plugin-python: a TCP port on
127.0.0.1, the grpc.health.v1 service reporting "plugin", GRPCController/Shutdown) plus
what poolhost adds, from go-plugin's source (server.go, client.go, mtls.go, v1.8.0):

  1. The host sets POOLHOST_PLUGIN_MAGIC_COOKIE; without it we were run by hand.
  2. PLUGIN_PROTOCOL_VERSIONS lists the app protocol versions the host speaks ("1").
  3. PLUGIN_CLIENT_CERT holds the host's PEM client certificate (AutoMTLS, always on in
     poolhost; go-plugin's Python example runs without it). We make a self-signed CA
     certificate naming DNS "localhost" (the host verifies that name whatever the
     address), require and verify the host's certificate, and send ours as the last field
     of the handshake line: DER bytes, base64 WITHOUT padding (Go's RawStdEncoding).
  4. We print exactly one line on stdout:  1|1|tcp|127.0.0.1:PORT|grpc|<cert>
     stdout carries nothing else: anything printed there before the line breaks the
     handshake, so sys.stdout is pointed at the log (stderr) for the process's life.
  5. SIGINT is ignored, as go-plugin plugins do: a Ctrl-C in the operator's terminal
     reaches the whole process group, and the host decides when its plugins stop.
     SIGTERM and GRPCController/Shutdown stop the server and exit 0.
"""
import base64
import datetime
import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

from .errors import PluginError, permanent, to_proto_error, to_status, unsupported
from .wire import (adapter_pb2, adapter_pb2_grpc, grpc_controller_pb2, grpc_controller_pb2_grpc, health_pb2,
                   health_pb2_grpc)

MAGIC_COOKIE_KEY = "POOLHOST_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "6f6c2a1e0d8b4c7f9a3e5b2d1c0f8e7a"
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 1

log = logging.getLogger("goplugin")


def server_certificate():
    """The AutoMTLS server certificate, as go-plugin's own generateCert makes it:
    self-signed, a CA (the host trusts exactly this certificate as its root), DNS name
    localhost, usable for server and client auth. Returns (key PEM, cert PEM, cert DER).
    Python's ssl module cannot make a certificate; python3-cryptography (Debian's) can."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "poolhost plugin")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=30))
            .not_valid_after(now + datetime.timedelta(hours=262980))  # go-plugin's 30 years
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def handshake_cert(der):
    """The handshake line's last field: unpadded standard base64 (padded fails on the host)."""
    return base64.b64encode(der).decode().rstrip("=")


def check_launch(env):
    """Exits with an explanation when we were not started by a poolhost host."""
    if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write("This program is a poolhost provider plugin: the poolhost host starts it itself.\n"
                         'Configure it in a provider block (binary = "…") and run `poolhost plugins check`,\n'
                         "or test it with `poolhost plugins test PATH --fixtures DIR`.\n")
        sys.exit(1)
    offered = [s.strip() for s in env.get("PLUGIN_PROTOCOL_VERSIONS", "").split(",")]
    if str(APP_PROTOCOL_VERSION) not in offered:
        sys.stderr.write(f'poolhost plugin: the host offers protocol versions "{",".join(offered)}"; '
                         f"this plugin speaks only {APP_PROTOCOL_VERSION}\n")
        sys.exit(1)


class _LogWriter:
    """sys.stdout once the real stdout is the handshake's: print() becomes INFO log lines."""

    def __init__(self, logger):
        self._log = logger
        self._buf = ""

    def write(self, s):
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line:
                self._log.info(line)
        return len(s)

    def flush(self):
        pass


def _unary(method, fn):
    """A gRPC handler around fn(request): a PluginError answers with its kind's status code
    and an ErrorDetail in grpc-status-details-bin; any other exception answers INTERNAL
    with its message, its traceback staying in the plugin's log."""

    def handler(self, request, context):
        try:
            return fn(self, request)
        except Exception as err:  # noqa: BLE001 - every failure must answer the host
            if not isinstance(err, PluginError):
                log.exception("exception in an adapter call", extra={"method": method})
            code, message, details = to_status(err, method)
        # abort() raises; it must run outside the try above.
        context.set_trailing_metadata((("grpc-status-details-bin", details),))
        context.abort(code, message)

    return handler


def _adapt(name, attr):
    def call(self, request):
        fn = getattr(self.adapter, attr, None)
        if fn is None:
            raise unsupported(f"{name} is not offered by this plugin")
        return fn(request)

    return _unary(name, call)


class AdapterServicer(adapter_pb2_grpc.AdapterServicer):
    """Serves an adapter object: each gRPC method calls the adapter's snake_case method with
    the request message, and one the adapter lacks answers UNIMPLEMENTED. Every method is
    listed, none left to the generated base class: its UNIMPLEMENTED raises
    NotImplementedError, which grpcio logs at ERROR ("Exception calling application") on
    every call the host makes to an optional method, e.g. Subscribe at each connect.
    IngestWebhook is verify_webhook then webhook."""

    def __init__(self, adapter):
        self.adapter = adapter

    def _describe(self, request):
        # Checked as the Go SDK's Serve checks it (sdk.CheckCapabilities): a description
        # promising polls from an adapter without poll_readings is refused, so the host
        # refuses the plugin at start, saying why, instead of polling every account into
        # "PollReadings is not offered" and a backoff.
        fn = getattr(self.adapter, "describe", None)
        if fn is None:
            raise unsupported("Describe is not offered by this plugin")
        d = fn(request)
        if d.capabilities.poll and getattr(self.adapter, "poll_readings", None) is None:
            raise permanent("capabilities.poll is set but the adapter has no poll_readings method")
        return d

    Describe = _unary("Describe", _describe)
    Configure = _adapt("Configure", "configure")
    Connect = _adapt("Connect", "connect")
    Callback = _adapt("Callback", "callback")
    DiscoverDevices = _adapt("DiscoverDevices", "discover_devices")
    PollReadings = _adapt("PollReadings", "poll_readings")
    Health = _adapt("Health", "health")
    SendCommand = _adapt("SendCommand", "send_command")
    Subscribe = _adapt("Subscribe", "subscribe")
    Unsubscribe = _adapt("Unsubscribe", "unsubscribe")

    def _verify(self, request):
        self.adapter.verify_webhook(request.webhook)
        return adapter_pb2.VerifyWebhookResponse()

    def _webhook(self, request):
        return adapter_pb2.WebhookResponse(result=self.adapter.webhook(request.webhook))

    def _ingest(self, request):
        # A verification failure is the call's status: the host stores nothing.
        self.adapter.verify_webhook(request.webhook)
        # An authentic payload that fails to parse travels in the response, so the host
        # keeps it for retry or as a dead letter.
        try:
            return adapter_pb2.IngestWebhookResponse(result=self.adapter.webhook(request.webhook))
        except Exception as err:  # noqa: BLE001
            if not isinstance(err, PluginError):
                log.exception("exception in an adapter call", extra={"method": "Webhook"})
            return adapter_pb2.IngestWebhookResponse(webhook_error=to_proto_error(err))

    VerifyWebhook = _unary("VerifyWebhook", _verify)
    Webhook = _unary("Webhook", _webhook)
    IngestWebhook = _unary("IngestWebhook", _ingest)

    def IngestWebhooks(self, request_iterator, context):
        # The host's pooled stream of deliveries is optional (PLUGINS.md): UNIMPLEMENTED,
        # answered here rather than by the base class (which logs an ERROR), makes the
        # host call IngestWebhook once per delivery instead.
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "IngestWebhooks is not offered; use IngestWebhook")

    def IngestWebhookBatchAnswers(self, request_iterator, context):
        # Batches of deliveries are optional too: UNIMPLEMENTED makes the host try
        # IngestWebhookBatches, then IngestWebhooks, then IngestWebhook.
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "IngestWebhookBatchAnswers is not offered; use IngestWebhook")

    def IngestWebhookBatches(self, request_iterator, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "IngestWebhookBatches is not offered; use IngestWebhook")


class HealthServicer(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        # go-plugin's client pings service "plugin"; "" is the server as a whole.
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service}")


class ControllerServicer(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop):
        self._stop = stop

    def Shutdown(self, request, context):
        log.debug("shutdown requested by the host")
        self._stop.set()  # the main thread stops the server, letting this answer leave first
        return grpc_controller_pb2.Empty()


def serve(adapter, env=None):
    """Runs adapter as a poolhost plugin until the host shuts it down; returns the exit code."""
    env = os.environ if env is None else env
    check_launch(env)
    handshake_out = sys.stdout
    sys.stdout = _LogWriter(logging.getLogger("stdout"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    adapter_pb2_grpc.add_AdapterServicer_to_server(AdapterServicer(adapter), server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(ControllerServicer(stop), server)

    client_cert = env.get("PLUGIN_CLIENT_CERT", "")
    if client_cert:
        key_pem, cert_pem, der = server_certificate()
        # require_client_auth: the TLS handshake fails for any peer that does not present
        # the host's certificate (the only root we trust).
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert.encode(),
                                            require_client_auth=True)
        port = server.add_secure_port("127.0.0.1:0", creds)
        cert_field = handshake_cert(der)
    else:
        # go-plugin without AutoMTLS (poolhost always sets it): plaintext, empty cert field.
        log.warning("PLUGIN_CLIENT_CERT is not set: serving without TLS")
        port = server.add_insecure_port("127.0.0.1:0")
        cert_field = ""
    if port == 0:
        log.error("plugin init error: could not listen on 127.0.0.1")
        return 1
    server.start()
    log.debug("plugin address", extra={"network": "tcp", "address": f"127.0.0.1:{port}"})
    handshake_out.write(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|127.0.0.1:{port}|grpc|{cert_field}\n")
    handshake_out.flush()

    stop.wait()
    # Calls in flight (the Shutdown answer among them) get a moment to finish; the host
    # kills a plugin still running 2 seconds after Shutdown.
    server.stop(grace=1).wait()
    return 0
