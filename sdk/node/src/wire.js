'use strict';
// Loading the protos: poolhost's adapter.proto plus the three third-party protos every
// go-plugin gRPC plugin needs (sdk/proto and sdk/proto/third_party in the repository).
const fs = require('node:fs');
const path = require('node:path');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const grpc = require('@grpc/grpc-js');

const FILES = require('./protofiles');

// In the repository, sdk/proto beside sdk/node (the one source of truth); in a packed or
// installed package, the package's own proto/ (`npm pack` copies them there, see
// scripts/copy-protos.js).
const PACKAGE_DIR = path.join(__dirname, '..');
const CANDIDATES = [path.join(PACKAGE_DIR, '..', 'proto'), path.join(PACKAGE_DIR, 'proto')];

// protoRoot returns the first candidate holding adapter.proto, and checks it holds every
// file we load. Otherwise it throws naming the missing file: a plugin dying here dies
// before its handshake line, and the host shows only its last stderr lines.
function protoRoot(candidates = CANDIDATES) {
  const root = candidates.find((dir) => fs.existsSync(path.join(dir, FILES.adapter)));
  if (!root) {
    throw new Error(`@poolhost/plugin: poolhost's protos are missing: no ${FILES.adapter} in ${candidates.join(' or ')} ` +
      '(install the package from `npm pack` of poolhost\'s sdk/node, which carries them in proto/)');
  }
  for (const f of Object.values(FILES)) {
    const p = path.join(root, f);
    if (!fs.existsSync(p)) throw new Error(`@poolhost/plugin: poolhost's protos are incomplete: ${p} is missing`);
  }
  return root;
}

// load reads the protos once, on first use (serve, or an error being encoded), so that a
// missing file is reported by serve rather than as an exception at require time.
let loaded;
function load() {
  if (loaded) return loaded;
  const root = protoRoot();
  const include = [root, path.join(root, 'third_party')];
  // keepCase: field names exactly as in the .proto (snake_case); longs (Timestamp.seconds)
  // as strings; enums as their names; unset fields present with their defaults.
  const def = protoLoader.loadSync([FILES.adapter, FILES.health, FILES.controller].map((f) => path.join(root, f)), {
    includeDirs: include,
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  // The raw protobufjs root encodes the two messages that travel inside the
  // grpc-status-details-bin trailer: google.rpc.Status and poolhost's ErrorDetail.
  const raw = new protobuf.Root();
  raw.resolvePath = (_origin, target) => {
    for (const dir of include) {
      const p = path.resolve(dir, target);
      if (fs.existsSync(p)) return p;
    }
    return target; // google/protobuf/*.proto: protobufjs has them built in
  };
  raw.loadSync([path.join(root, FILES.status), path.join(root, FILES.adapter)], { keepCase: true });
  loaded = {
    protoRoot: root,
    Adapter: pkg.poolhost.adapter.v1.Adapter.service,
    Health: pkg.grpc.health.v1.Health.service,
    GRPCController: pkg.plugin.GRPCController.service,
    Status: raw.lookupType('google.rpc.Status'),
    ErrorDetail: raw.lookupType('poolhost.adapter.v1.ErrorDetail'),
  };
  return loaded;
}

module.exports = { load, protoRoot, FILES };
