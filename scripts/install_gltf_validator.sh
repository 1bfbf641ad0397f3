#!/usr/bin/env bash
# Install the Khronos glTF validator (npm package `gltf-validator`) into the git-ignored
# .cache/node/ folder; tests/morphable/gltf_validator.py runs it with node.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${GLTF_VALIDATOR_PREFIX:-$ROOT/.cache/node}"
VERSION="${GLTF_VALIDATOR_VERSION:-2.0.0-dev.3.10}"
command -v npm >/dev/null || { echo "npm not found: install node.js (v18+) first" >&2; exit 1; }
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --silent "gltf-validator@$VERSION"
echo "gltf-validator $VERSION installed under $PREFIX/node_modules"
