"""Run the Khronos glTF validator (npm `gltf-validator`, under .cache/node) on .glb bytes.

Used by the glTF tests; installs the validator with scripts/install_gltf_validator.sh when
node and npm exist but the package is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("GLTF_VALIDATOR_PREFIX", ROOT / ".cache" / "node"))
INSTALL = ROOT / "scripts" / "install_gltf_validator.sh"

# reads a .glb from stdin, prints the validator's JSON report on stdout
_SCRIPT = """
const validator = require(process.argv[1]);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const bytes = new Uint8Array(Buffer.concat(chunks));
  validator.validateBytes(bytes, {uri: 'export.glb', format: 'glb', maxIssues: 200})
    .then((report) => process.stdout.write(JSON.stringify(report)))
    .catch((err) => { process.stderr.write(String(err)); process.exit(3); });
});
"""


def node_available() -> bool:
    """True when node is on PATH (the only reason the glTF validation tests may skip)."""
    return shutil.which("node") is not None


def ensure_installed() -> Path:
    """Path of the installed gltf-validator package, installing it first if needed."""
    package = PREFIX / "node_modules" / "gltf-validator"
    if not (package / "index.js").is_file():
        env = dict(os.environ, GLTF_VALIDATOR_PREFIX=str(PREFIX))
        subprocess.run(["bash", str(INSTALL)], check=True, env=env, timeout=300)
    return package


def validate_glb(data: bytes) -> dict:
    """The validator's report for a .glb: report['issues'] has numErrors, numWarnings, messages."""
    package = ensure_installed()
    proc = subprocess.run(["node", "-e", _SCRIPT, str(package)], input=data, capture_output=True,
                          timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"gltf-validator failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(proc.stdout)


def summary(report: dict) -> str:
    """One line per error/warning message, for assertion messages."""
    return "\n".join(f"{m.get('severity')} {m.get('code')} {m.get('pointer', '')}: {m.get('message')}"
                     for m in report["issues"]["messages"])
