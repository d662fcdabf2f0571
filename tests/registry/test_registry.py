"""Tests for provenance.registry on SQLite and, when configured, PostgreSQL.

PostgreSQL cases use ``PROVENANCE_TEST_POSTGRES_URL`` (``scripts/postgres`` prints
one) and a fresh schema per test. Without it they are skipped locally and fail
when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from provenance import registry as registry_module
from provenance.errors import InvalidInputError, RegistryError
from provenance.registry import (
    MAX_DETAIL_BYTES,
    MIGRATIONS,
    SCHEMA_VERSION,
    AuditEvent,
    DuplicateStampError,
    Registry,
    StampRecord,
    new_stamp_id,
)
from provenance.registry.engine import parse_url
from provenance.registry.migrations import apply_migrations
from provenance.settings import Settings

PG_ENV = "PROVENANCE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def _sha(n: int) -> str:
    return f"{n:064x}"


def _record(n: int = 1, **overrides) -> StampRecord:
    fields = dict(
        stamp_id=f"{n:016x}",
        created_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc),
        generator="test-diffusion-v1",
        manifest_json=json.dumps({"claim_generator": "provenance/0.1", "n": n}),
        manifest_store=bytes(range(256)) * 4 + b"\x00jumb",
        sha256=_sha(n),
        phash="f" * 64,
        prompt_hash=_sha(10_000 + n),
        requester="alice@example.org",
        key_id="k2024",
    )
    fields.update(overrides)
    return StampRecord(**fields)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pg_admin() -> sa.Engine:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set but CI is: CI must test PostgreSQL; export {PG_ENV}=\"$(scripts/postgres)\"")
        pytest.skip(f"{PG_ENV} not set; export {PG_ENV}=\"$(scripts/postgres)\" to test PostgreSQL")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    yield engine
    engine.dispose()


def _fresh_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path, name: str = "registry") -> str:
    """A URL to an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
    admin = request.getfixturevalue("pg_admin")
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")

    request.addfinalizer(drop)
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _fresh_url(request, request.param, tmp_path)


@pytest.fixture
def registry(db_url: str) -> Registry:
    with Registry(db_url) as reg:
        yield reg


def _raw_engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


# --------------------------------------------------------------------------- values


def test_new_stamp_id_is_random_16_lowercase_hex():
    ids = {new_stamp_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 and i == i.lower() and int(i, 16) >= 0 for i in ids)


def test_stamp_record_normalises_case_and_time():
    plus_two = timezone(timedelta(hours=2))
    rec = _record(stamp_id="ABCDEF0123456789", sha256="AB" * 32,
                  created_at=datetime(2024, 1, 1, 12, 0, tzinfo=plus_two))
    assert rec.stamp_id == "abcdef0123456789"
    assert rec.sha256 == "ab" * 32
    assert rec.created_at == datetime(2024, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert rec.created_at.tzinfo is timezone.utc


def test_stamp_record_new_fills_id_and_time():
    before = datetime.now(timezone.utc)
    rec = StampRecord.new(generator="g", manifest_json="{}", sha256=_sha(7), manifest_store=bytearray(b"x"))
    assert len(rec.stamp_id) == 16 and before <= rec.created_at <= datetime.now(timezone.utc)
    assert rec.manifest_store == b"x" and isinstance(rec.manifest_store, bytes)
    assert rec.phash is None and rec.requester is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"stamp_id": "123"},
        {"stamp_id": "0" * 17},
        {"stamp_id": "g" * 16},
        {"stamp_id": 0x1234},
        {"sha256": "a" * 63},
        {"sha256": "z" * 64},
        {"phash": "0" * 16},
        {"prompt_hash": "prompt text, not a hash"},
        {"created_at": datetime(2024, 1, 1)},
        {"created_at": "2024-01-01T00:00:00Z"},
        {"generator": ""},
        {"manifest_json": "{not json"},
        {"manifest_json": {"a": 1}},
        {"manifest_store": "text"},
        {"requester": "x" * 1000},
        {"key_id": ""},
    ],
)
def test_stamp_record_rejects_bad_fields(overrides):
    with pytest.raises(InvalidInputError):
        _record(**overrides)


def test_audit_event_to_dict_is_json_ready():
    ev = AuditEvent(3, datetime(2024, 1, 2, tzinfo=timezone.utc), "verify", _sha(1), "ok", None, {"score": 0.9})
    assert json.loads(json.dumps(ev.to_dict())) == {
        "event_id": 3, "occurred_at": "2024-01-02T00:00:00+00:00", "kind": "verify",
        "sha256": _sha(1), "verdict": "ok", "stamp_id": None, "detail": {"score": 0.9},
    }


def test_all_names_exist():
    assert all(hasattr(registry_module, name) for name in registry_module.__all__)
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


# --------------------------------------------------------------------------- schema


def test_migrate_twice_is_idempotent_and_records_versions(db_url):
    with Registry(db_url) as first:
        first.record_stamp(_record(1))
        assert first.schema_version == SCHEMA_VERSION
    with Registry(db_url) as second:
        assert second.schema_version == SCHEMA_VERSION
        assert second.count_stamps() == 1  # reopening kept the data
    engine = _raw_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version, name FROM schema_version ORDER BY version")).all()
    finally:
        engine.dispose()
    assert [(v, n) for v, n in rows] == [(m.version, m.name) for m in MIGRATIONS]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_opens_migrate_once(request, tmp_path, backend):
    url = _fresh_url(request, backend, tmp_path)
    barrier, errors, versions = threading.Barrier(4), [], []

    def worker() -> None:
        barrier.wait()
        try:
            with Registry(url) as reg:
                versions.append(reg.schema_version)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and versions == [SCHEMA_VERSION] * 4
    with Registry(url) as reg:
        engine = _raw_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.scalar(sa.text("SELECT count(*) FROM schema_version")) == SCHEMA_VERSION
        finally:
            engine.dispose()
        assert reg.count_stamps() == 0


def test_upgrade_applies_only_missing_steps(db_url):
    engine = _raw_engine(db_url)
    try:
        assert apply_migrations(engine, MIGRATIONS[:1]) == 1
        with engine.begin() as conn:  # v1 alone: the audit log is not yet protected
            conn.execute(sa.text(
                "INSERT INTO audit_log (occurred_at, kind, sha256, verdict) VALUES (:t, 'verify', :s, 'old')"
            ), {"t": datetime(2024, 1, 1), "s": _sha(1)})
            conn.execute(sa.text("UPDATE audit_log SET verdict = 'older'"))
    finally:
        engine.dispose()
    with Registry(db_url) as reg:
        assert reg.schema_version == SCHEMA_VERSION
        assert [e.verdict for e in reg.audit_events()] == ["older"]  # data kept across the upgrade


def test_newer_schema_is_refused(db_url):
    Registry(db_url).close()
    engine = _raw_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', :t)"),
                         {"t": datetime(2030, 1, 1)})
    finally:
        engine.dispose()
    with pytest.raises(RegistryError, match="upgrade provenance"):
        Registry(db_url)


# --------------------------------------------------------------------------- stamps


def test_round_trip_keeps_every_field(registry):
    rec = _record(1)
    registry.record_stamp(rec)
    got = registry.get_stamp(rec.stamp_id)
    assert got == rec
    assert got.manifest_store == rec.manifest_store and isinstance(got.manifest_store, bytes)
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert registry.get_stamp(rec.stamp_id.upper()) == rec
    assert registry.find_by_sha256(rec.sha256) == rec
    assert registry.count_stamps() == 1


def test_round_trip_with_optional_fields_empty(registry):
    rec = _record(2, manifest_store=None, phash=None, prompt_hash=None, requester=None, key_id=None)
    registry.record_stamp(rec)
    assert registry.get_stamp(rec.stamp_id) == rec


def test_missing_stamp_is_none(registry):
    assert registry.get_stamp("00000000000000ff") is None
    assert registry.find_by_sha256(_sha(404)) is None
    assert registry.count_stamps() == 0


def test_find_by_sha256_returns_newest(registry):
    old = _record(1, sha256=_sha(5))
    new = _record(2, sha256=_sha(5), created_at=old.created_at + timedelta(seconds=1))
    registry.record_stamp(new)
    registry.record_stamp(old)
    assert registry.find_by_sha256(_sha(5)).stamp_id == new.stamp_id


def test_record_stamp_writes_stamp_audit_event(registry):
    rec = _record(3)
    registry.record_stamp(rec)
    [event] = registry.audit_events()
    assert (event.kind, event.sha256, event.stamp_id, event.verdict) == ("stamp", rec.sha256, rec.stamp_id, "stamped")


def test_duplicate_id_raises_and_changes_nothing(registry):
    first = _record(1)
    registry.record_stamp(first)
    clash = _record(1, sha256=_sha(99), generator="other")
    with pytest.raises(DuplicateStampError, match="new_stamp_id") as info:
        registry.record_stamp(clash)
    assert isinstance(info.value, RegistryError)
    assert registry.get_stamp(first.stamp_id) == first
    assert registry.count_stamps() == 1
    assert len(registry.audit_events()) == 1
    assert registry.find_by_sha256(_sha(99)) is None


@pytest.mark.parametrize("bad", ["123", "0" * 15, "g" * 16, "", None, 42])
def test_invalid_ids_are_rejected(registry, bad):
    with pytest.raises(InvalidInputError):
        registry.get_stamp(bad)
    with pytest.raises(InvalidInputError):
        registry.log_event("verify", sha256=_sha(1), verdict="ok", stamp_id=bad if bad is not None else "x")


@pytest.mark.parametrize("bad", ["a" * 63, "x" * 64, 1])
def test_invalid_sha256_is_rejected(registry, bad):
    with pytest.raises(InvalidInputError):
        registry.find_by_sha256(bad)


def test_record_stamp_needs_a_stamp_record(registry):
    with pytest.raises(InvalidInputError, match="StampRecord"):
        registry.record_stamp({"stamp_id": "0" * 16})
    assert registry.count_stamps() == 0


# --------------------------------------------------------------------------- recording()


def test_recording_commits_after_the_block(registry, db_url, tmp_path):
    rec = _record(4)
    out = tmp_path / "out.png"
    with Registry(db_url) as other:
        with registry.recording(rec):
            out.write_bytes(b"image bytes")
            assert other.get_stamp(rec.stamp_id) is None  # not visible before commit
        assert out.read_bytes() == b"image bytes"
        assert other.get_stamp(rec.stamp_id) == rec
        assert [e.kind for e in other.audit_events()] == ["stamp"]


def test_recording_rolls_back_when_the_block_raises(registry):
    rec = _record(5)
    with pytest.raises(OSError, match="disk full"):
        with registry.recording(rec):
            raise OSError("disk full")
    assert registry.get_stamp(rec.stamp_id) is None
    assert registry.count_stamps() == 0
    assert registry.audit_events() == []
    registry.record_stamp(rec)  # the ID is free again
    assert registry.get_stamp(rec.stamp_id) == rec


def test_recording_a_duplicate_stops_before_the_block(registry):
    registry.record_stamp(_record(6))
    ran = []
    with pytest.raises(DuplicateStampError):
        with registry.recording(_record(6, sha256=_sha(600))):
            ran.append(True)
    assert ran == []
    assert registry.count_stamps() == 1


# --------------------------------------------------------------------------- audit log


def test_audit_log_order_since_and_limit(registry):
    registry.log_event("verify", sha256=_sha(1), verdict="no_watermark")
    registry.log_event("verify", sha256=_sha(2), verdict="verified", stamp_id="00000000000000aa",
                       detail={"bit_errors": 3, "manifest": "valid"})
    registry.log_event("match", sha256=_sha(3), verdict="near_duplicate", detail={"distance": 12})
    events = registry.audit_events()
    assert [e.sha256 for e in events] == [_sha(1), _sha(2), _sha(3)]
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert events[1].detail == {"bit_errors": 3, "manifest": "valid"} and events[1].stamp_id == "00000000000000aa"
    assert events[0].detail is None and events[0].occurred_at.tzinfo is not None
    assert registry.audit_events(since=events[1].occurred_at) == events[1:]
    assert registry.audit_events(since=events[2].occurred_at + timedelta(seconds=1)) == []
    assert registry.audit_events(limit=2) == events[:2]
    assert registry.audit_events(since=events[1].occurred_at, limit=1) == events[1:2]


def test_audit_log_is_append_only(registry, db_url):
    registry.log_event("verify", sha256=_sha(1), verdict="verified")
    assert not any(hasattr(registry, n) for n in ("delete_event", "update_event", "clear_audit_log"))
    engine = _raw_engine(db_url)
    try:
        for statement in ("UPDATE audit_log SET verdict = 'forged'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    [event] = registry.audit_events()
    assert event.verdict == "verified"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "delete"},
        {"sha256": "abc"},
        {"verdict": ""},
        {"verdict": "v" * 65},
        {"stamp_id": "not-hex-at-all!!"},
        {"detail": {"image": b"\x89PNG"}},
        {"detail": {"pixels": "x" * MAX_DETAIL_BYTES}},
        {"detail": ["not", "a", "dict"]},
        {"detail": {"score": float("nan")}},
    ],
)
def test_log_event_rejects_bad_input(registry, kwargs):
    args = {"kind": "verify", "sha256": _sha(1), "verdict": "ok", **kwargs}
    kind = args.pop("kind")
    with pytest.raises(InvalidInputError):
        registry.log_event(kind, **args)
    assert registry.audit_events() == []


@pytest.mark.parametrize("kwargs", [{"since": datetime(2024, 1, 1)}, {"limit": 0}, {"limit": True}, {"limit": "5"}])
def test_audit_events_rejects_bad_arguments(registry, kwargs):
    with pytest.raises(InvalidInputError):
        registry.audit_events(**kwargs)


# --------------------------------------------------------------------------- sharing


def test_two_registries_on_one_database_see_each_others_writes(db_url):
    with Registry(db_url) as a, Registry(db_url) as b:
        a.record_stamp(_record(1))
        assert b.get_stamp(_record(1).stamp_id) == _record(1)
        b.log_event("verify", sha256=_sha(1), verdict="verified", stamp_id=_record(1).stamp_id)
        assert [e.kind for e in a.audit_events()] == ["stamp", "verify"]
        assert a.count_stamps() == b.count_stamps() == 1


def test_concurrent_writers_all_land(db_url):
    regs = [Registry(db_url) for _ in range(2)]
    errors: list[Exception] = []

    def write(reg: Registry, offset: int) -> None:
        try:
            for i in range(15):
                reg.record_stamp(_record(offset + i))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(reg, 100 * k)) for k, reg in enumerate(regs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert regs[0].count_stamps() == 30
        assert len(regs[1].audit_events()) == 30
    finally:
        for reg in regs:
            reg.close()


def test_sqlite_uses_wal(tmp_path):
    path = tmp_path / "wal.sqlite"
    Registry(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_in_memory_sqlite_works():
    with Registry("sqlite://") as reg:
        reg.record_stamp(_record(1))
        assert reg.get_stamp(_record(1).stamp_id) == _record(1)


# --------------------------------------------------------------------------- opening and failures


def test_open_creates_the_instance_folder(tmp_path):
    settings = Settings().with_instance(tmp_path / "instance" / "deep")
    with Registry.open(settings) as reg:
        assert reg.dialect == "sqlite"
        reg.record_stamp(_record(1))
    assert (tmp_path / "instance" / "deep" / "provenance.sqlite").is_file()
    with Registry.open(settings) as again:
        assert again.count_stamps() == 1


def test_open_uses_the_configured_database_url(db_url, tmp_path):
    settings = Settings(instance_path=tmp_path / "unused", database_url=db_url)
    with Registry.open(settings) as reg:
        reg.record_stamp(_record(1))
        assert reg.dialect == db_url.split(":")[0].split("+")[0]
    with Registry(db_url) as other:
        assert other.count_stamps() == 1


def test_unwritable_instance_folder_is_a_registry_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RegistryError, match="PROVENANCE_INSTANCE_PATH"):
        Registry.open(Settings().with_instance(blocker / "instance"))


def test_missing_sqlite_folder_is_a_registry_error(tmp_path):
    with pytest.raises(RegistryError, match="cannot open SQLite database .*missing"):
        Registry(f"sqlite:///{tmp_path / 'missing' / 'r.sqlite'}")


def test_unreachable_postgres_fails_fast_with_a_fix():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(RegistryError) as info:
        Registry(f"postgresql+psycopg://someone:s3cret-pw@127.0.0.1:{port}/nothing")
    assert time.monotonic() - start < 6
    message = str(info.value)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in message
    assert "PROVENANCE_DATABASE_URL" in message
    assert "s3cret-pw" not in message


def test_wrong_postgres_password_is_a_registry_error(pg_admin):
    url = pg_admin.url.set(password="definitely-wrong").render_as_string(hide_password=False)
    with pytest.raises(RegistryError, match="cannot connect to PostgreSQL.*password"):
        Registry(url)


@pytest.mark.parametrize("url", ["mysql://u@localhost/db", "not a url", "oracle+cx_oracle://x"])
def test_unsupported_urls_are_registry_errors(url):
    with pytest.raises(RegistryError, match="PROVENANCE_DATABASE_URL"):
        Registry(url)


def test_plain_postgresql_scheme_means_psycopg():
    url = parse_url("postgresql://u:p@h:1/d")
    assert url.drivername == "postgresql+psycopg"
    assert parse_url("postgres://u:p@h/d").drivername == "postgresql+psycopg"


def test_close_is_idempotent_and_final(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'r.sqlite'}")
    reg.close()
    reg.close()
    assert reg.closed and "closed" in repr(reg)
    with pytest.raises(RegistryError, match="closed"):
        reg.count_stamps()


@pytest.mark.slow
def test_another_process_sees_writes_to_the_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    with Registry(url) as reg:
        reg.record_stamp(_record(1))
        script = (
            "import sys; from provenance.registry import Registry\n"
            "with Registry(sys.argv[1]) as r:\n"
            "    assert r.get_stamp(sys.argv[2]) is not None\n"
            "    r.log_event('verify', sha256='0' * 64, verdict='from-child', stamp_id=sys.argv[2])\n"
        )
        done = subprocess.run([sys.executable, "-c", script, url, _record(1).stamp_id],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [e.verdict for e in reg.audit_events()] == ["stamped", "from-child"]
