"""The generated protobuf and gRPC modules (provider/gen, made by generate.sh).

protoc's Python output imports its siblings by absolute name ("from poolhost.adapter.v1
import adapter_pb2"), so gen/ goes on sys.path; its top-level names (poolhost, health,
grpc_controller_pb2, google.rpc) were chosen by generate.sh not to shadow an installed
package.
"""
import os
import sys

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")
if GEN not in sys.path:
    sys.path.insert(0, GEN)

from google.protobuf import any_pb2, timestamp_pb2  # noqa: E402  (python3-protobuf)
from google.rpc import status_pb2  # noqa: E402
from health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from poolhost.adapter.v1 import adapter_pb2, adapter_pb2_grpc  # noqa: E402
import grpc_controller_pb2  # noqa: E402
import grpc_controller_pb2_grpc  # noqa: E402

__all__ = [
    "adapter_pb2", "adapter_pb2_grpc", "any_pb2", "grpc_controller_pb2",
    "grpc_controller_pb2_grpc", "health_pb2", "health_pb2_grpc", "status_pb2", "timestamp_pb2",
]
