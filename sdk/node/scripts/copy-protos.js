'use strict';
// `npm run prepare` (npm pack and npm install --install-links run it): copy the protos
// the package loads from the repository's sdk/proto into the package's own proto/, so
// the tarball carries them. Outside the repository (an installed package) it does nothing.
const fs = require('node:fs');
const path = require('node:path');
const FILES = require('../src/protofiles');

const pkg = path.join(__dirname, '..');
const from = path.join(pkg, '..', 'proto');
if (fs.existsSync(path.join(from, FILES.adapter))) {
  for (const f of [...Object.values(FILES), 'third_party/README.md']) {
    fs.mkdirSync(path.dirname(path.join(pkg, 'proto', f)), { recursive: true });
    fs.copyFileSync(path.join(from, f), path.join(pkg, 'proto', f));
  }
}
