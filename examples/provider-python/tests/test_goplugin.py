"""The plugin launched as the host launches it: cookie, AutoMTLS with a P-521 client
certificate like the host's, the handshake line, Health, a rejection's trailer, Shutdown."""
import base64
import datetime
import os
import subprocess
import sys
import unittest

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provider import acme, goplugin
from provider.wire import adapter_pb2, adapter_pb2_grpc, grpc_controller_pb2, grpc_controller_pb2_grpc, health_pb2, \
    health_pb2_grpc, status_pb2

def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugin")


def client_certificate():
    """A certificate like go-plugin's host makes for AutoMTLS: ECDSA P-521, self-signed."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


class LaunchTest(unittest.TestCase):
    def test_run_by_hand_it_explains_itself(self):
        p = subprocess.run([PLUGIN], env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("poolhost provider plugin", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_handshake_over_mutual_tls(self):
        key_pem, cert_pem = client_certificate()
        env = {"PATH": os.environ.get("PATH", ""), goplugin.MAGIC_COOKIE_KEY: goplugin.MAGIC_COOKIE_VALUE,
               "PLUGIN_PROTOCOL_VERSIONS": "1", "PLUGIN_CLIENT_CERT": cert_pem.decode()}
        p = subprocess.Popen([PLUGIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(stop, p)
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        line = p.stdout.readline().rstrip("\n")
        core, app, network, addr, proto, cert = line.split("|")
        self.assertEqual((core, app, network, proto), ("1", "1", "tcp", "grpc"))
        self.assertNotIn("=", cert)  # unpadded, as Go's RawStdEncoding
        der = base64.b64decode(cert + "=" * (-len(cert) % 4))
        server = x509.load_der_x509_certificate(der)
        self.assertEqual(server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName), ["localhost"])
        self.assertTrue(server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)

        creds = grpc.ssl_channel_credentials(root_certificates=server.public_bytes(serialization.Encoding.PEM),
                                             private_key=key_pem, certificate_chain=cert_pem)
        with grpc.secure_channel(addr, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
            check = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=30)
            self.assertEqual(check.status, health_pb2.HealthCheckResponse.SERVING)
            stub = adapter_pb2_grpc.AdapterStub(ch)
            self.assertEqual(stub.Describe(adapter_pb2.DescribeRequest(), timeout=30).id, acme.ID)
            # Not configured yet: a temporary failure, with the ErrorDetail trailer.
            with self.assertRaises(grpc.RpcError) as cm:
                stub.Health(adapter_pb2.HealthRequest(), timeout=30)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            stub.Configure(adapter_pb2.ConfigureRequest(), timeout=30)
            # No provider secret configured: rejected, the status and the trailer agreeing.
            raw = adapter_pb2.RawWebhook(body=b"{}")
            with self.assertRaises(grpc.RpcError) as cm:
                stub.IngestWebhook(adapter_pb2.IngestWebhookRequest(webhook=raw), timeout=30)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            trailer = dict(cm.exception.trailing_metadata())["grpc-status-details-bin"]
            self.assertEqual(status_pb2.Status.FromString(trailer).code, grpc.StatusCode.PERMISSION_DENIED.value[0])
            # Optional methods the adapter lacks: UNIMPLEMENTED, without an ERROR log line
            # (the host calls Subscribe at every connect).
            for call, req in ((stub.PollReadings, adapter_pb2.PollReadingsRequest()),
                              (stub.Subscribe, adapter_pb2.SubscribeRequest()),
                              (stub.SendCommand, adapter_pb2.SendCommandRequest())):
                with self.assertRaises(grpc.RpcError) as cm:
                    call(req, timeout=30)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
            grpc_controller_pb2_grpc.GRPCControllerStub(ch).Shutdown(grpc_controller_pb2.Empty(), timeout=30)
        self.assertEqual(p.wait(timeout=60), 0)
        log = p.stderr.read()
        self.assertNotIn('"@level": "error"', log)
        self.assertIn("shutdown requested by the host", log)

    def test_a_client_without_the_hosts_certificate_is_refused(self):
        _, host_cert = client_certificate()
        other_key, other_cert = client_certificate()
        env = {"PATH": os.environ.get("PATH", ""), goplugin.MAGIC_COOKIE_KEY: goplugin.MAGIC_COOKIE_VALUE,
               "PLUGIN_PROTOCOL_VERSIONS": "1", "PLUGIN_CLIENT_CERT": host_cert.decode()}
        p = subprocess.Popen([PLUGIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(p.stdout.close)
        self.addCleanup(stop, p)
        _, _, _, addr, _, cert = p.stdout.readline().rstrip("\n").split("|")
        server = x509.load_der_x509_certificate(base64.b64decode(cert + "=" * (-len(cert) % 4)))
        creds = grpc.ssl_channel_credentials(root_certificates=server.public_bytes(serialization.Encoding.PEM),
                                             private_key=other_key, certificate_chain=other_cert)
        with grpc.secure_channel(addr, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
            with self.assertRaises(grpc.RpcError) as cm:
                adapter_pb2_grpc.AdapterStub(ch).Describe(adapter_pb2.DescribeRequest(), timeout=30)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
