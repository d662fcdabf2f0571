"""Tests for provenance.signing: real certificates, real c2pa signing and reading."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import multiprocessing
import stat
import struct
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from provenance import signing
from provenance.errors import ConfigError, InvalidInputError, ManifestError
from provenance.settings import Settings
from provenance.signing import (
    DEV_ORGANIZATION,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_ALG,
    SigningCredentials,
    ai_generated_manifest,
    check_signing_credentials,
    load_credentials,
    sign_asset,
)

WATERMARK_ID = "5f3a09c2e4b17d06"
NOW = dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _image_bytes(fmt: str, *, size: int = 48, seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _read(data: bytes, mime: str, anchors: bytes | None = None) -> tuple[str, dict, list[str]]:
    """Read a signed file offline; return (validation_state, active manifest, failure codes)."""
    config: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}}
    if anchors is not None:
        config["trust"] = {"user_anchors": anchors.decode()}
    with c2pa.Context.from_dict(config) as context:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            state = reader.get_validation_state()
            manifest = reader.get_active_manifest()
            results = reader.get_validation_results() or {}
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    return state, manifest, failures


def _assertion(manifest: dict, label: str) -> dict:
    for item in manifest["assertions"]:
        if item["label"] == label:
            return item["data"]
    raise AssertionError(f"no {label} assertion in {[a['label'] for a in manifest['assertions']]}")


def _new_key(alg: str):
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ps256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def _ku(*, signing_cert: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing_cert, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=not signing_cert,
        crl_sign=not signing_cert, encipher_only=False, decipher_only=False,
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_pki(
    directory: Path,
    alg: str = "es256",
    *,
    leaf_is_ca: bool = False,
    ekus: list | None = None,
    digital_signature: bool = True,
    not_after: dt.datetime | None = None,
    self_signed: bool = False,
) -> tuple[Path, Path, bytes]:
    """Write a test CA and leaf (leaf key type per `alg`); return (chain path, key path, CA PEM)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("Test Root")).issuer_name(_name("Test Root"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ku(signing_cert=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = _new_key(alg)
    issuer_key, issuer_name = (key, _name("Test Signer")) if self_signed else (ca_key, ca.subject)
    ekus = [ExtendedKeyUsageOID.EMAIL_PROTECTION] if ekus is None else ekus
    builder = (
        x509.CertificateBuilder().subject_name(_name("Test Signer")).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=400))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=leaf_is_ca, path_length=None), critical=True)
        .add_extension(_ku(signing_cert=digital_signature), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    leaf = builder.sign(issuer_key, algorithm)
    chain_path, key_path = directory / "chain.pem", directory / "key.pem"
    chain_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain_path, key_path, ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings().with_instance(tmp_path / "instance")


@pytest.fixture
def dev_credentials(settings: Settings) -> SigningCredentials:
    return load_credentials(settings)


@pytest.fixture
def manifest() -> dict:
    return ai_generated_manifest(generator="test-diffusion 1.0", watermark_id=WATERMARK_ID, title="out.png")


# ---------------------------------------------------------------------------
# development credentials
# ---------------------------------------------------------------------------


def test_dev_credentials_created_once_and_reused(settings: Settings) -> None:
    first = load_credentials(settings)
    folder = settings.instance_path / signing.DEV_SIGNING_DIRNAME
    files = {p.name for p in folder.iterdir()}
    assert {"ca.pem", "ca-key.pem", "es256.pem", "es256-key.pem"} <= files
    for name in ("ca-key.pem", "es256-key.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.pem")}

    second = load_credentials(settings)
    assert second == first  # same certificate, key and CA bytes
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.pem")} == mtimes
    assert first.is_development and first.ca_pem is not None and first.alg == "es256"
    assert first.tsa_url is None
    assert "PRIVATE KEY" in first.private_key_pem.decode()
    assert "PRIVATE" not in repr(first) and "private_key_pem" not in repr(first)


def test_dev_credentials_share_one_ca_across_algorithms(settings: Settings) -> None:
    es = load_credentials(settings)
    ed = load_credentials(dataclasses.replace(settings, signing_alg="ed25519"))
    assert ed.ca_pem == es.ca_pem
    assert ed.cert_chain_pem != es.cert_chain_pem
    assert isinstance(x509.load_pem_x509_certificate(ed.cert_chain_pem).public_key(), ed25519.Ed25519PublicKey)


def test_dev_leaf_is_reissued_by_the_same_ca_when_missing(settings: Settings) -> None:
    first = load_credentials(settings)
    (settings.instance_path / signing.DEV_SIGNING_DIRNAME / "es256.pem").unlink()
    second = load_credentials(settings)
    assert second.ca_pem == first.ca_pem
    assert second.cert_chain_pem != first.cert_chain_pem


@pytest.mark.slow
def test_dev_credentials_agree_across_concurrent_processes(settings: Settings) -> None:
    # ps256 makes an RSA key, so the creation window is long and the workers overlap in it.
    ps = dataclasses.replace(settings, signing_alg="ps256")
    with ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(load_credentials, [ps] * 3))
    assert len({r.ca_pem for r in results}) == 1
    assert len({r.cert_chain_pem for r in results}) == 1
    assert results[0] == load_credentials(ps)


def test_dev_leaf_fits_the_c2pa_certificate_profile(dev_credentials: SigningCredentials) -> None:
    leaf = x509.load_pem_x509_certificate(dev_credentials.cert_chain_pem)
    ca = x509.load_pem_x509_certificate(dev_credentials.ca_pem)
    ext = leaf.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    ekus = set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in ekus
    assert ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ekus
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    leaf.verify_directly_issued_by(ca)
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == DEV_ORGANIZATION
    assert leaf.not_valid_before_utc <= NOW < leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc - NOW < dt.timedelta(days=3 * 365)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    check_signing_credentials(dev_credentials.cert_chain_pem, dev_credentials.private_key_pem, "es256")


# ---------------------------------------------------------------------------
# signing and reading back
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_signed_file_reads_back_trusted_with_the_dev_ca(
    fmt: str, mime: str, dev_credentials: SigningCredentials, manifest: dict
) -> None:
    data = _image_bytes(fmt)
    signed = sign_asset(data, mime, manifest, dev_credentials)
    assert len(signed) > len(data)

    state, active, failures = _read(signed, mime, anchors=dev_credentials.ca_pem)
    assert state == "Trusted", failures
    assert failures == []
    actions = _assertion(active, "c2pa.actions.v2")["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert actions[0]["softwareAgent"]["name"] == "test-diffusion 1.0"
    assert "c2pa.watermarked" in [a["action"] for a in actions]
    soft = _assertion(active, "c2pa.soft-binding")
    assert soft["alg"] == WATERMARK_ALG
    assert soft["blocks"] == [{"scope": {}, "value": WATERMARK_ID}]
    assert active["signature_info"]["issuer"] == DEV_ORGANIZATION
    assert active["claim_generator_info"][0]["name"] == "provenance"
    assert "thumbnail" not in active
    with Image.open(io.BytesIO(signed)) as before, Image.open(io.BytesIO(data)) as after:
        assert before.size == after.size
        if fmt == "PNG":
            assert np.array_equal(np.asarray(before), np.asarray(after))


def test_signed_file_without_anchors_is_valid_but_untrusted(
    dev_credentials: SigningCredentials, manifest: dict
) -> None:
    signed = sign_asset(_image_bytes("PNG"), "image/png", manifest, dev_credentials)
    state, _, failures = _read(signed, "image/png")
    assert state == "Valid"
    assert failures == ["signingCredential.untrusted"]


def _flip_idat_byte(png: bytes) -> bytes:
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            target = pos + 8 + length // 2
            return png[:target] + bytes([png[target] ^ 0x01]) + png[target + 1 :]
        pos += 12 + length
    raise AssertionError("no IDAT chunk")


def test_one_flipped_pixel_byte_breaks_the_data_hash(dev_credentials: SigningCredentials, manifest: dict) -> None:
    signed = sign_asset(_image_bytes("PNG"), "image/png", manifest, dev_credentials)
    state, _, failures = _read(_flip_idat_byte(signed), "image/png", anchors=dev_credentials.ca_pem)
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in failures


@pytest.mark.parametrize("alg", ["es256", "es384", "ps256", "ed25519"])
def test_configured_certificates_sign_with_each_algorithm(tmp_path: Path, alg: str, manifest: dict) -> None:
    cert, key, ca_pem = _make_pki(tmp_path / "pki", alg)
    settings = Settings(signing_cert=cert, signing_key=key, signing_alg=alg).with_instance(tmp_path / "inst")
    credentials = load_credentials(settings)
    assert not credentials.is_development and credentials.ca_pem is None
    assert credentials.signer_name == "Test Signer"
    assert not (tmp_path / "inst" / signing.DEV_SIGNING_DIRNAME).exists()

    signed = sign_asset(_image_bytes("PNG"), "image/png", manifest, credentials)
    state, active, failures = _read(signed, "image/png", anchors=ca_pem)
    assert state == "Trusted", failures
    assert active["signature_info"]["alg"].lower() == alg
    assert active["signature_info"]["common_name"] == "Test Signer"


def test_dev_credentials_sign_with_ps256(settings: Settings, manifest: dict) -> None:
    credentials = load_credentials(dataclasses.replace(settings, signing_alg="ps256"))
    signed = sign_asset(_image_bytes("JPEG"), "image/jpeg", manifest, credentials)
    state, active, failures = _read(signed, "image/jpeg", anchors=credentials.ca_pem)
    assert state == "Trusted", failures
    assert active["signature_info"]["alg"] == "Ps256"


def test_thumbnail_is_opt_in(dev_credentials: SigningCredentials, manifest: dict) -> None:
    signed = sign_asset(_image_bytes("PNG"), "image/png", manifest, dev_credentials, thumbnail=True)
    state, active, _ = _read(signed, "image/png", anchors=dev_credentials.ca_pem)
    assert state == "Trusted"
    assert active["thumbnail"]["format"] == "image/jpeg"


# ---------------------------------------------------------------------------
# configuration errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leaf_is_ca": True}, "is a CA certificate"),
        ({"ekus": []}, "no extendedKeyUsage"),
        ({"ekus": [ExtendedKeyUsageOID.SERVER_AUTH]}, "none of which C2PA accepts"),
        ({"ekus": [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]}, "anyExtendedKeyUsage"),
        ({"digital_signature": False}, "digitalSignature"),
        ({"not_after": NOW - dt.timedelta(days=1)}, "expired on"),
        ({"self_signed": True}, "self-signed"),
    ],
)
def test_wrong_certificates_raise_config_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    cert, key, _ = _make_pki(tmp_path, **kwargs)
    with pytest.raises(ConfigError, match=message):
        load_credentials(Settings(signing_cert=cert, signing_key=key))


def test_key_of_another_certificate_raises_config_error(tmp_path: Path) -> None:
    cert, _, _ = _make_pki(tmp_path / "a")
    _, other_key, _ = _make_pki(tmp_path / "b")
    with pytest.raises(ConfigError, match="does not match"):
        load_credentials(Settings(signing_cert=cert, signing_key=other_key))


def test_algorithm_that_does_not_fit_the_key_raises_config_error(tmp_path: Path) -> None:
    cert, key, _ = _make_pki(tmp_path, "ed25519")
    with pytest.raises(ConfigError, match=r"es256 .* Ed25519.*\(ed25519\)"):
        load_credentials(Settings(signing_cert=cert, signing_key=key, signing_alg="es256"))


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    _, key, _ = _make_pki(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_credentials(Settings(signing_cert=tmp_path / "nope.pem", signing_key=key))


def test_garbage_pem_raises_config_error(tmp_path: Path) -> None:
    cert, key, _ = _make_pki(tmp_path)
    (tmp_path / "garbage.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    (tmp_path / "der.bin").write_bytes(b"\x30\x82\x01\x00garbage")
    with pytest.raises(ConfigError, match="not valid PEM"):
        load_credentials(Settings(signing_cert=tmp_path / "garbage.pem", signing_key=key))
    with pytest.raises(ConfigError, match="not a PEM file"):
        load_credentials(Settings(signing_cert=cert, signing_key=tmp_path / "der.bin"))


def test_encrypted_key_raises_config_error(tmp_path: Path) -> None:
    cert, key_path, _ = _make_pki(tmp_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    )
    with pytest.raises(ConfigError, match="encrypted"):
        load_credentials(Settings(signing_cert=cert, signing_key=key_path))


def test_chain_in_wrong_order_raises_config_error(tmp_path: Path) -> None:
    cert, key, ca_pem = _make_pki(tmp_path)
    _, _, other_ca = _make_pki(tmp_path / "other")
    cert.write_bytes(cert.read_bytes() + other_ca)
    with pytest.raises(ConfigError, match="out of order"):
        load_credentials(Settings(signing_cert=cert, signing_key=key))
    cert.write_bytes(cert.read_bytes().replace(other_ca, ca_pem))
    assert load_credentials(Settings(signing_cert=cert, signing_key=key)).cert_chain_pem.count(b"BEGIN") == 2


def test_half_configured_or_unknown_algorithm_raises_config_error(tmp_path: Path) -> None:
    cert, _, _ = _make_pki(tmp_path)
    with pytest.raises(ConfigError, match="both"):
        load_credentials(Settings(signing_cert=cert))
    with pytest.raises(ConfigError, match="es256, es384, ps256, ed25519"):
        load_credentials(Settings(signing_alg="rs256").with_instance(tmp_path))


def test_unwritable_instance_folder_raises_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="PROVENANCE_INSTANCE_PATH"):
        load_credentials(Settings().with_instance(blocker))


# ---------------------------------------------------------------------------
# manifest definition and sign_asset input checks
# ---------------------------------------------------------------------------


def test_ai_generated_manifest_contents() -> None:
    m = ai_generated_manifest(generator=" gen ", watermark_id="ABCD", prompt_hash="00FF", title="a.png")
    assert m["title"] == "a.png"
    assert m["claim_generator_info"][0]["name"] == "provenance"
    actions = m["assertions"][0]["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.watermarked"]
    assert actions[0]["softwareAgent"] == {"name": "gen"}
    assert m["assertions"][1]["data"]["blocks"][0]["value"] == "abcd"
    assert m["assertions"][2] == {"label": "io.github.provenance.generation", "data": {"prompt_hash": "00ff"}}
    plain = ai_generated_manifest(generator="gen", watermark_id="ab")
    assert "title" not in plain and len(plain["assertions"]) == 2
    assert ai_generated_manifest(generator="gen", watermark_id="ab") is not plain


@pytest.mark.parametrize(
    "kwargs",
    [
        {"generator": "", "watermark_id": "ab"},
        {"generator": "g", "watermark_id": "not hex"},
        {"generator": "g", "watermark_id": ""},
        {"generator": "g", "watermark_id": "ab", "prompt_hash": "xyz"},
        {"generator": "g", "watermark_id": "ab", "watermark_alg": " "},
    ],
)
def test_ai_generated_manifest_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        ai_generated_manifest(**kwargs)


def test_sign_asset_rejects_bad_input(dev_credentials: SigningCredentials, manifest: dict) -> None:
    png = _image_bytes("PNG")
    with pytest.raises(InvalidInputError, match="supported image types"):
        sign_asset(png, "image/x-unknown", manifest, dev_credentials)
    with pytest.raises(InvalidInputError, match="non-empty"):
        sign_asset(b"", "image/png", manifest, dev_credentials)
    with pytest.raises(InvalidInputError, match="must be a dict"):
        sign_asset(png, "image/png", "{}", dev_credentials)  # type: ignore[arg-type]


def test_sign_asset_wraps_c2pa_errors(dev_credentials: SigningCredentials, manifest: dict) -> None:
    png = _image_bytes("PNG")
    with pytest.raises(ManifestError, match="complete image/png file"):
        sign_asset(b"not a png at all", "image/png", manifest, dev_credentials)
    with pytest.raises(ManifestError, match="manifest definition is invalid"):
        sign_asset(png, "image/png", {"assertions": 5}, dev_credentials)
    wrong_alg = dataclasses.replace(dev_credentials, alg="ed25519")
    with pytest.raises(ManifestError, match="PROVENANCE_SIGNING_CERT"):
        sign_asset(png, "image/png", manifest, wrong_alg)
