#!/bin/sh
# Regenerates provider/gen/ (the committed *_pb2.py and *_pb2_grpc.py) from poolhost's
# protos. Run it from anywhere; PROTO_DIR is sdk/proto of a poolhost checkout (default:
# this repository's, ../../sdk/proto).
#
# The generators are Debian bookworm's, matching its runtime packages: protoc from
# protobuf-compiler 3.21.12 (code for the python3-protobuf 3.21 / 4.21.12 runtime: newer
# protoc output refuses to load on it) and grpc_python_plugin from
# protobuf-compiler-grpc 1.51.1 (python3-grpcio 1.51.1):
#   apt-get install protobuf-compiler protobuf-compiler-grpc
set -eu

here=$(cd "$(dirname "$0")" && pwd)
proto=${PROTO_DIR:-$here/../../sdk/proto}
proto=$(cd "$proto" && pwd)
out=$here/provider/gen

want="libprotoc 3.21.12"
have=$(protoc --version)
if [ "$have" != "$want" ]; then
	echo "generate.sh: protoc is '$have'; the committed code was made with '$want' for python3-protobuf 3.21" >&2
	exit 1
fi
plugin=$(command -v grpc_python_plugin) || {
	echo "generate.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2
	exit 1
}

rm -rf "$out"
mkdir -p "$out"
# poolhost's own proto keeps its path: module poolhost.adapter.v1.adapter_pb2.
protoc --proto_path="$proto" --python_out="$out" --grpc_python_out="$out" \
	--plugin=protoc-gen-grpc_python="$plugin" \
	"$proto/poolhost/adapter/v1/adapter.proto"
# The third-party ones are generated from their own directories, so no module is named
# grpc.* (it would shadow the grpc package itself) or go-plugin.* (not a Python name):
# health.v1.health_pb2, grpc_controller_pb2, google.rpc.status_pb2.
tp=$proto/third_party
protoc --proto_path="$tp/grpc" --python_out="$out" --grpc_python_out="$out" \
	--plugin=protoc-gen-grpc_python="$plugin" "$tp/grpc/health/v1/health.proto"
protoc --proto_path="$tp/go-plugin" --python_out="$out" --grpc_python_out="$out" \
	--plugin=protoc-gen-grpc_python="$plugin" "$tp/go-plugin/grpc_controller.proto"
protoc --proto_path="$tp" --python_out="$out" "$tp/google/rpc/status.proto"
echo "generated $(cd "$out" && find . -name '*.py' | sort | tr '\n' ' ')"
