'use strict';
// The proto files the package loads, relative to a proto root (the repository's sdk/proto
// or the package's own proto/). No dependencies: scripts/copy-protos.js uses it too.
module.exports = {
  adapter: 'poolhost/adapter/v1/adapter.proto',
  health: 'third_party/grpc/health/v1/health.proto',
  controller: 'third_party/go-plugin/grpc_controller.proto',
  status: 'third_party/google/rpc/status.proto',
};
