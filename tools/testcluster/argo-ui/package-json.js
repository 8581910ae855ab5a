// Makes Argo's ui/package.json installable from the npm registry alone (node package-json.js FILE):
// - argo-ui is a git commit upstream (github.com/argoproj/argo-ui), which only the npm registry
//   can stand in for here: its one published version, 1.0.0;
// - ajv 8 as a devDependency: with --legacy-peer-deps npm hoists ajv 6, and the hoisted
//   schema-utils 4 (copy-webpack-plugin 12's) loads ajv-keywords 5, which needs ajv 8:
//   "Cannot find module 'ajv/dist/compile/codegen'";
// - yarn's "resolutions" (upstream builds with yarn) become npm's "overrides".
'use strict';
const fs = require('fs');

const file = process.argv[2];
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
const pinned = pkg.dependencies['argo-ui'];
if (!/^git\+https:\/\/github\.com\/argoproj\/argo-ui\.git#[0-9a-f]{40}$/.test(pinned || '')) {
    throw new Error(`${file}: argo-ui is ${JSON.stringify(pinned)}, not a github.com/argoproj/argo-ui commit; check the patch still fits`);
}
pkg.dependencies['argo-ui'] = '1.0.0';
pkg.devDependencies.ajv = '^8.17.1';
if (pkg.resolutions) {
    pkg.overrides = {...pkg.resolutions, ...(pkg.overrides || {})};
    delete pkg.resolutions;
}
fs.writeFileSync(file, JSON.stringify(pkg, null, 4) + '\n');
