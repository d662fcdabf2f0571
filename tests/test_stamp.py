"""Tests for provenance.stamp: watermark + C2PA + registry, all or nothing.

Real c2pa, the development CA in tmp_path, real SQLite and (with
``PROVENANCE_TEST_POSTGRES_URL``) PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import resource
import json
import sqlite3
from pathlib import Path

import numpy as np
import sqlalchemy as sa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from provenance import watermark
from provenance.errors import ConfigError, InvalidImageError, InvalidInputError, RegistryError
from provenance.hashing import PerceptualHash, pdq_hash
from provenance.images import decode_image
from provenance.manifest import read_manifest
from provenance.registry import Registry
from provenance.settings import Settings
from provenance.signing import WATERMARK_ALG
from provenance.stamp import Stamper, embedded_manifest_store

PROMPT_HASH = hashlib.sha256(b"a cat in a hat").hexdigest()


@pytest.fixture(scope="module")
def photo(shared_dir: Path) -> Path:
    return shared_dir / "samples" / "kodim03.png"  # 768 x 512


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(instance_path=tmp_path / "instance")


@pytest.fixture
def stamper(settings: Settings):
    with Stamper(settings) as s:
        yield s


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix, mime", [(".png", "image/png"), (".jpg", "image/jpeg"), (".webp", "image/webp")])
def test_stamp_file_marks_signs_and_records(
    stamper: Stamper, photo: Path, tmp_path: Path, suffix: str, mime: str
) -> None:
    out = tmp_path / f"out{suffix}"
    result = stamper.stamp_file(photo, out, generator="test-diffusion 1.0", prompt_hash=PROMPT_HASH, requester="alice")
    data = out.read_bytes()
    assert result.path == out and result.data == data and result.mime == mime
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (result.width, result.height) == (768, 512)

    # the watermark carries the registry ID
    found = watermark.detect(decode_image(data), key=stamper.keyring.active.secret)
    assert found.detected and found.payload_hex == result.stamp_id

    # the credentials: trusted with the dev CA, AI-generated, soft binding = the ID
    summary = read_manifest(data, settings=stamper.settings, extra_trust_anchors=[stamper.credentials.ca_pem])
    assert summary.state == "trusted" and summary.ai_disclosure == "ai_generated"
    assert [(b.alg, b.value) for b in summary.soft_bindings] == [(WATERMARK_ALG, result.stamp_id)]
    assert {a.action for a in summary.actions} >= {"c2pa.created", "c2pa.watermarked"}
    created = [a.digital_source_type_name for a in summary.actions if a.action == "c2pa.created"]
    assert created == ["trainedAlgorithmicMedia"] and summary.claim_generator.startswith("provenance")
    assert summary.title == out.name

    # the registry row
    record = stamper.registry.get_stamp(result.stamp_id)
    assert record is not None
    assert (record.generator, record.sha256, record.phash) == ("test-diffusion 1.0", result.sha256, result.phash)
    assert (record.prompt_hash, record.requester, record.key_id) == (PROMPT_HASH, "alice", "dev-1")
    assert json.loads(record.manifest_json)["active_manifest"] == summary.active_manifest_label
    assert record.manifest_store == embedded_manifest_store(data, mime)
    assert PerceptualHash.from_hex(record.phash) - pdq_hash(decode_image(data)) <= 8
    events = stamper.registry.audit_events()
    assert [(e.kind, e.stamp_id, e.sha256) for e in events] == [("stamp", result.stamp_id, result.sha256)]
    assert _files(tmp_path) == ["instance", out.name]  # no temp file left


def test_stored_manifest_store_checks_out_as_a_sidecar(stamper: Stamper, photo: Path) -> None:
    result = stamper.stamp_image(photo, generator="g", output_format="JPEG")
    store = stamper.registry.get_stamp(result.stamp_id).manifest_store
    sidecar = read_manifest(store, mime="application/c2pa", extra_trust_anchors=[stamper.credentials.ca_pem])
    # the signature holds; only the content hash cannot be checked without the asset
    assert sidecar.signer_common_name == read_manifest(result.data).signer_common_name
    assert {f.code for f in sidecar.failures} <= {"assertion.dataHash.mismatch"}


def test_stamp_image_keeps_alpha_and_accepts_arrays(stamper: Stamper, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, size=(300, 320, 4), dtype=np.uint8)
    rgba[..., 3] = 200
    before = rgba.copy()
    result = stamper.stamp_image(rgba, generator="g", output_format="webp")
    assert np.array_equal(rgba, before)  # the caller's array is untouched
    assert Image.open(io.BytesIO(result.data)).mode == "RGBA"
    with pytest.raises(InvalidInputError, match="transparency"):
        stamper.stamp_image(rgba, generator="g", output_format="jpg")
    assert stamper.registry.count_stamps() == 1


def test_rotated_keys_stamp_with_the_first(settings: Settings, photo: Path, tmp_path: Path) -> None:
    keys = tmp_path / "wm.keys"
    keys.write_text(f"new:{'ab' * 32}\nold:{'cd' * 32}\n")
    with Stamper(Settings(instance_path=settings.instance_path, watermark_keys_path=keys)) as s:
        result = s.stamp_image(photo, generator="g")
    assert result.key_id == "new"
    assert watermark.detect(decode_image(result.data), key=bytes.fromhex("ab" * 32)).payload_hex == result.stamp_id


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"generator": ""}, InvalidInputError, "generator"),
        ({"generator": "g", "prompt_hash": "a cat"}, InvalidInputError, "SHA-256 of the prompt"),
        ({"generator": "g", "output_format": "gif"}, InvalidInputError, "PNG, JPEG, WEBP"),
    ],
)
def test_bad_arguments_record_nothing(stamper: Stamper, photo: Path, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        stamper.stamp_image(photo, **kwargs)
    assert stamper.registry.count_stamps() == 0


def test_bad_inputs_leave_no_file_and_no_row(stamper: Stamper, photo: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(photo.read_bytes()[:2000])
    text = tmp_path / "notes.jpg"  # wrong extension: a text file
    text.write_text("not an image")
    small = tmp_path / "small.png"
    Image.new("RGB", (200, 120), "gray").save(small)
    cases = [
        (corrupt, tmp_path / "a.png", InvalidImageError, "corrupt or truncated"),
        (text, tmp_path / "b.png", InvalidImageError, "not an image format"),
        (small, tmp_path / "c.png", InvalidImageError, "at least 256x256"),
        (tmp_path / "missing.png", tmp_path / "d.png", InvalidInputError, "no such file"),
        (photo, tmp_path / "e.gif", InvalidInputError, "PNG, JPEG, WEBP"),
        (photo, tmp_path / "e.xyz", InvalidInputError, "output format"),
        (photo, tmp_path / "nowhere" / "f.png", InvalidInputError, "does not exist"),
    ]
    before = _files(tmp_path)
    for source, out, error, message in cases:
        with pytest.raises(error, match=message):
            stamper.stamp_file(source, out, generator="g")
    assert _files(tmp_path) == before
    assert stamper.registry.count_stamps() == 0 and stamper.registry.audit_events() == []


def test_unreachable_database_is_registry_error_and_no_file(photo: Path, tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path / "instance", database_url="postgresql+psycopg://u:secret@127.0.0.1:1/x")
    with pytest.raises(RegistryError, match="PROVENANCE_DATABASE_URL") as info:
        Stamper(settings)
    assert "secret" not in str(info.value)
    assert not (tmp_path / "out.png").exists()


def test_locked_database_mid_stamp_leaves_no_file(settings: Settings, photo: Path, tmp_path: Path) -> None:
    settings.instance_path.mkdir(parents=True)
    registry = Registry(settings.effective_database_url, busy_timeout_s=0.2)
    blocker = sqlite3.connect(settings.instance_path / "provenance.sqlite")
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with Stamper(settings, registry=registry) as s:
            with pytest.raises(RegistryError):
                s.stamp_file(photo, tmp_path / "out.png", generator="g")
        blocker.rollback()
        assert registry.count_stamps() == 0
    finally:
        blocker.close()
        registry.close()
    assert _files(tmp_path) == ["instance"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a C2PA signer")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_wrong_profile_certificate_is_config_error_and_no_file(photo: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings = Settings(instance_path=tmp_path / "instance", signing_cert=cert, signing_key=key)
    with pytest.raises(ConfigError, match="keyUsage|extendedKeyUsage|self-signed"):
        Stamper(settings)
    assert not (tmp_path / "out.png").exists()
    assert not (tmp_path / "instance" / "provenance.sqlite").exists()


def test_missing_certificate_file_is_config_error(tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path, signing_cert=tmp_path / "no.pem", signing_key=tmp_path / "no-key.pem")
    with pytest.raises(ConfigError, match="does not exist"):
        Stamper(settings)


# --------------------------------------------------------------------------- PostgreSQL


def test_stamp_with_postgresql_registry(pg_url: str, photo: Path, tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path / "instance", database_url=pg_url)
    with Stamper(settings) as s:
        assert s.registry.dialect == "postgresql"
        result = s.stamp_file(photo, tmp_path / "out.jpg", generator="pg-gen")
        record = s.registry.get_stamp(result.stamp_id)
        assert record.sha256 == result.sha256 and record.manifest_store
        assert [e.kind for e in s.registry.audit_events()] == ["stamp"]
    assert (tmp_path / "out.jpg").read_bytes() == result.data


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_failed_write_rolls_the_registry_back(backend: str, request: pytest.FixtureRequest, photo: Path, tmp_path: Path) -> None:
    """The output cannot be written (here: the file-size limit, as on a full disk) after the stamp
    row was inserted: the row and its audit event are rolled back and no file or temp file stays."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    settings = Settings(instance_path=tmp_path / "instance", database_url=url)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with Stamper(settings) as s:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))  # the stamped PNG is ~600 KB
        try:
            with pytest.raises(InvalidInputError, match="Cannot write .*free space"):
                s.stamp_file(photo, out_dir / "out.png", generator="g")
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert s.registry.count_stamps() == 0 and s.registry.audit_events() == []
        assert list(out_dir.iterdir()) == []
        # and the registry still works: the next stamp goes through
        result = s.stamp_file(photo, out_dir / "out.png", generator="g")
        assert s.registry.get_stamp(result.stamp_id).sha256 == result.sha256
        assert s.registry.count_stamps() == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_failed_commit_brings_the_previous_file_back(backend: str, request: pytest.FixtureRequest, photo: Path,
                                                       tmp_path: Path) -> None:
    """The database refuses the commit after the output was renamed into place (here a deferred
    constraint, checked only at COMMIT): the file that was at that path before is back, unchanged."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    settings = Settings(instance_path=tmp_path / "instance", database_url=url)
    out = tmp_path / "out.png"
    out.write_bytes(b"the previous file, which must survive")
    with Stamper(settings) as s:
        engine = sa.create_engine(s.registry.url if url is None else url)
        with engine.begin() as conn:
            if backend == "sqlite":
                conn.exec_driver_sql("CREATE TABLE refuse (x INTEGER REFERENCES nowhere(id) DEFERRABLE INITIALLY DEFERRED)")
                conn.exec_driver_sql("CREATE TABLE nowhere (id INTEGER PRIMARY KEY)")
                conn.exec_driver_sql("CREATE TRIGGER refuse_stamps AFTER INSERT ON stamps BEGIN INSERT INTO refuse VALUES (1); END")
            else:
                conn.exec_driver_sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                                     "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$")
                conn.exec_driver_sql("CREATE CONSTRAINT TRIGGER refuse_stamps AFTER INSERT ON stamps "
                                     "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()")
        engine.dispose()
        with pytest.raises(RegistryError):
            s.stamp_file(photo, out, generator="g")
        assert s.registry.count_stamps() == 0
    assert out.read_bytes() == b"the previous file, which must survive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance", "out.png"]  # no temp or backup file left
