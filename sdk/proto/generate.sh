#!/bin/sh
# Regenerates sdk/internal/adapterv1 from sdk/proto. Called by `make generate`.
#
# The generators are pinned and installed into bin/tools so the committed code reproduces
# byte for byte. protoc's own version is written into the generated headers too, so it
# must match as well (the committed code was generated with libprotoc 3.21.12).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
PROTOC_VERSION="libprotoc 3.21.12"

tools="$root/bin/tools"
mkdir -p "$tools"
GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"

PROTOC=${PROTOC:-protoc}
have=$("$PROTOC" --version)
if [ "$have" != "$PROTOC_VERSION" ]; then
	echo "generate.sh: warning: $PROTOC is '$have', committed code was made with '$PROTOC_VERSION';" \
		"the generated header comments will differ" >&2
fi

PATH="$tools:$PATH" "$PROTOC" \
	--proto_path=sdk/proto \
	--go_out=. --go_opt=module=github.com/poolhost/poolhost \
	--go-grpc_out=. --go-grpc_opt=module=github.com/poolhost/poolhost \
	sdk/proto/poolhost/adapter/v1/adapter.proto
