'use strict';
// Loading the protos: poolhost's adapter.proto plus the three third-party protos every
// go-plugin gRPC plugin needs (sdk/proto/third_party in the repository).
const fs = require('node:fs');
const path = require('node:path');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const grpc = require('@grpc/grpc-js');

// protoRoot is a proto/ directory next to src/ when a copy of the plugin carries its own
// (a bundle or a team's repository: copy sdk/proto there), else the repository's sdk/proto.
// Neither there: say so, on stderr, where the host and `poolhost plugins test` show a
// plugin's last words when it dies before its handshake.
function protoRoot() {
  const adapter = path.join('poolhost', 'adapter', 'v1', 'adapter.proto');
  const own = path.join(__dirname, '..', 'proto');
  const repo = path.join(__dirname, '..', '..', '..', 'sdk', 'proto');
  for (const dir of [own, repo]) {
    if (fs.existsSync(path.join(dir, adapter))) return dir;
  }
  throw new Error(`poolhost's protos not found: copy poolhost's sdk/proto directory to ${own} (looked for ${adapter} there and in ${repo})`);
}

const ROOT = protoRoot();
const INCLUDE = [ROOT, path.join(ROOT, 'third_party')];
const FILES = {
  adapter: 'poolhost/adapter/v1/adapter.proto',
  health: 'grpc/health/v1/health.proto',
  controller: 'go-plugin/grpc_controller.proto',
  status: 'google/rpc/status.proto',
};

// keepCase: field names exactly as in the .proto (snake_case); longs (Timestamp.seconds)
// as strings; enums as their names; unset fields present with their defaults.
const packageDefinition = protoLoader.loadSync([FILES.adapter, FILES.health, FILES.controller], {
  includeDirs: INCLUDE,
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(packageDefinition);

// The raw protobufjs root encodes the two messages that travel inside the
// grpc-status-details-bin trailer: google.rpc.Status and poolhost's ErrorDetail.
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => {
  for (const dir of INCLUDE) {
    const p = path.join(dir, target);
    if (fs.existsSync(p)) return p;
  }
  return target; // google/protobuf/*.proto: protobufjs has them built in
};
root.loadSync([FILES.status, FILES.adapter], { keepCase: true });

module.exports = {
  protoRoot: ROOT,
  Adapter: loaded.poolhost.adapter.v1.Adapter.service,
  Health: loaded.grpc.health.v1.Health.service,
  GRPCController: loaded.plugin.GRPCController.service,
  Status: root.lookupType('google.rpc.Status'),
  ErrorDetail: root.lookupType('poolhost.adapter.v1.ErrorDetail'),
};
