"""C2PA manifests (PyPI c2pa-python): sign an output with the user's certificate, read and validate one.

facerig ships no private key. A user who wants a manifest passes a PEM certificate chain and its
private key (`--sign-cert/--sign-key`, or FACERIG_SIGN_CERT / FACERIG_SIGN_KEY); the signing
algorithm follows the key (EC P-256/384/521 -> ES256/384/512, Ed25519, RSA -> PS256). The C2PA
library refuses self-signed leaf certificates: the leaf must be issued by a CA (which may be your
own), have digitalSignature key usage and a C2PA-acceptable extended key usage (e.g. emailProtection).
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RigError

ENV_CERT = "FACERIG_SIGN_CERT"
ENV_KEY = "FACERIG_SIGN_KEY"
MIME = {"png": "image/png", "jpeg": "image/jpeg", "mp4": "video/mp4", "webp": "image/webp"}
ASSERTION = "org.facerig.parameters"


class SigningError(RigError):
    """The certificate or key cannot be used, or the C2PA library refused to sign."""


def available() -> bool:
    """True when c2pa-python imports (its native library loads) here."""
    import importlib

    try:
        importlib.import_module("c2pa")
    except Exception:  # noqa: BLE001 - a missing or broken native library means "unavailable"
        return False
    return True


@dataclass(frozen=True)
class SigningKey:
    """A PEM certificate chain (leaf first) and its private key, with the matching C2PA algorithm."""

    cert_pem: bytes
    key_pem: bytes
    alg: str

    @classmethod
    def load(cls, cert: str | Path, key: str | Path) -> "SigningKey":
        """Read and check both PEM files; SigningError with one clear line when unusable."""
        try:
            cert_pem, key_pem = Path(cert).read_bytes(), Path(key).read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read signing file: {exc.filename}: {exc.strerror}") from None
        return cls(cert_pem, key_pem, _algorithm(cert_pem, key_pem))


def _algorithm(cert_pem: bytes, key_pem: bytes) -> str:
    """The C2PA algorithm name for this key; checks the key matches the leaf certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise SigningError("the signing certificate is not a PEM X.509 certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise SigningError("the signing key is not an unencrypted PEM private key") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != leaf.public_key().public_bytes(enc, pub):
        raise SigningError("the signing key does not belong to the certificate's first (leaf) entry")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        names = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in names:
            raise SigningError(f"EC curve {key.curve.name} is not one C2PA signs with (P-256/384/521)")
        return names[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise SigningError(f"{type(key).__name__} keys cannot sign C2PA manifests")


def signing_key_from(cert: str | Path | None, key: str | Path | None) -> SigningKey | None:
    """The key from explicit paths, else from FACERIG_SIGN_CERT/KEY, else None (no manifest)."""
    cert = cert or os.environ.get(ENV_CERT) or None
    key = key or os.environ.get(ENV_KEY) or None
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SigningError("signing needs both a certificate and a key (--sign-cert and --sign-key)")
    return SigningKey.load(cert, key)


def _context(trust_anchors: bytes | None = None):
    """A c2pa Context without claim thumbnails (they would add ~100s of KB to a 64 px image)."""
    import c2pa

    config: dict = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors:
        config["trust"] = {"trust_anchors": trust_anchors.decode("ascii")}
        config["verify"] = {"verify_trust": True}
    return c2pa.Context(settings=c2pa.Settings.from_dict(config))


def manifest_definition(title: str, digital_source_type: str, tool_version: str, parameters: dict) -> dict:
    """The manifest facerig signs: a created action with the IPTC source type, and the parameters."""
    return {
        "claim_generator_info": [{"name": "facerig", "version": tool_version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2",
             "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": digital_source_type,
                                   "softwareAgent": {"name": "facerig", "version": tool_version}}]}},
            {"label": ASSERTION, "data": json.loads(json.dumps(parameters, default=str))},
        ],
    }


def sign(data: bytes, fmt: str, manifest: dict, key: SigningKey) -> bytes:
    """The file's bytes with an embedded, signed C2PA manifest (fmt: png, jpeg, webp or mp4)."""
    import c2pa

    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(key.alg, key.cert_pem, key.key_pem, None))
        with c2pa.Builder(manifest, context=_context()) as builder:
            out = io.BytesIO()
            builder.sign(signer, MIME[fmt], io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningError(f"C2PA signing failed: {str(exc).splitlines()[0][:200]}") from None
    return out.getvalue()


@dataclass
class ManifestReport:
    """What a C2PA reader found: state absent / valid / trusted / invalid / unreadable / unavailable."""

    state: str
    digital_source_type: str | None = None
    claim_generator: str | None = None
    issuer: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        """True when a manifest was found (valid or not)."""
        return self.state in ("valid", "trusted", "invalid")


def read(data: bytes, fmt: str, trust_anchors: bytes | None = None) -> ManifestReport:
    """Read and validate the embedded manifest; 'valid' means intact and signed, 'trusted' adds a known CA."""
    if not available():
        return ManifestReport("unavailable")
    import c2pa

    try:
        reader = c2pa.Reader.try_create(MIME[fmt], io.BytesIO(data), None, _context(trust_anchors))
    except c2pa.C2paError as exc:
        return ManifestReport("unreadable", failures=[str(exc).splitlines()[0][:200]])
    if reader is None:
        return ManifestReport("absent")
    with reader:
        state = (reader.get_validation_state() or "").lower()
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    failures = [f.get("code", "") for f in results.get("activeManifest", {}).get("failure", [])]
    dst = None
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                dst = dst or action.get("digitalSourceType")
    gen = active.get("claim_generator_info") or [{}]
    name = f"{gen[0].get('name', '')} {gen[0].get('version', '')}".strip() or None
    issuer = (active.get("signature_info") or {}).get("issuer")
    if state not in ("valid", "trusted"):
        state = "invalid"
    if state == "valid" and trust_anchors is None:
        # no trust list was given: an untrusted signer is expected; any other failure is not
        failures = [f for f in failures if f != "signingCredential.untrusted"]
    return ManifestReport(state, dst, name, issuer, failures)
