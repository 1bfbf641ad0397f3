"""C2PA manifests signed with a throwaway CA: valid when intact, trusted with the CA, invalid after a change."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("c2pa")
from rig.provenance import c2pa_manifest as cm  # noqa: E402
from rig.provenance import metadata as md  # noqa: E402


@pytest.fixture(scope="module")
def png(utkface_photos):
    buf = io.BytesIO()
    Image.fromarray(utkface_photos(1, seed=9)[0]).save(buf, format="PNG")
    return buf.getvalue()


def _manifest():
    return cm.manifest_definition("test.png", md.TRAINED, "0.1.0", {"command": "edit", "yaw": 20})


def test_sign_read_trust_and_tamper(png, credentials):
    ca, chain, key = credentials
    signed = cm.sign(md.add_xmp(png, md.xmp_packet(md.Provenance(md.TRAINED))), "png", _manifest(),
                     cm.SigningKey.load(chain, key))
    found = cm.read(signed, "png")
    assert found.state == "valid" and found.digital_source_type == md.TRAINED and found.failures == []
    assert found.claim_generator == "facerig 0.1.0"
    assert cm.read(signed, "png", trust_anchors=ca.read_bytes()).state == "trusted"
    assert md.parse_xmp(md.read_xmp(signed)).synthetic          # our XMP chunk survives signing
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(signed))), np.asarray(Image.open(io.BytesIO(png))))
    assert len(signed) - len(png) < 8000                          # no claim thumbnail
    # change one pixel's bytes: re-encode a modified copy keeping the manifest chunk
    body = bytearray(signed)
    idat = body.find(b"IDAT")
    body[idat + 40] ^= 0x01
    assert cm.read(bytes(body), "png").state == "invalid"
    assert cm.read(png, "png").state == "absent"


def test_key_checks(credentials, tmp_path, monkeypatch):
    ca, chain, key = credentials
    assert cm.SigningKey.load(chain, key).alg == "es256"
    with pytest.raises(cm.SigningError, match="does not belong"):
        cm.SigningKey.load(ca, key)
    with pytest.raises(cm.SigningError, match="cannot read"):
        cm.SigningKey.load(tmp_path / "missing.pem", key)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(cm.SigningError, match="not an unencrypted PEM"):
        cm.SigningKey.load(chain, tmp_path / "junk.pem")
    monkeypatch.delenv(cm.ENV_CERT, raising=False)
    monkeypatch.delenv(cm.ENV_KEY, raising=False)
    assert cm.signing_key_from(None, None) is None
    with pytest.raises(cm.SigningError, match="both"):
        cm.signing_key_from(chain, None)
    monkeypatch.setenv(cm.ENV_CERT, str(chain))
    monkeypatch.setenv(cm.ENV_KEY, str(key))
    assert cm.signing_key_from(None, None).cert_pem == chain.read_bytes()


def test_self_signed_leaf_is_refused(png, tmp_path):
    """The C2PA library's certificate profile rejects a self-signed signer; facerig says so in one line."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(k, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    with pytest.raises(cm.SigningError, match="C2PA signing failed"):
        cm.sign(png, "png", _manifest(), cm.SigningKey.load(tmp_path / "c.pem", tmp_path / "k.pem"))
