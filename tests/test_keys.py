"""Tests for provenance.keys: key files, rotation order, the development key."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from provenance.errors import ConfigError
from provenance.keys import DEV_KEY_FILENAME, DEV_KEY_ID, KeyRing, WatermarkKey, load_keyring, parse_key_file
from provenance.settings import Settings

A = "11" * 32
B = "22" * 16


def _settings(tmp_path: Path, keys: Path | None = None) -> Settings:
    return Settings(instance_path=tmp_path / "instance", watermark_keys_path=keys)


def test_parse_keeps_order_and_skips_comments() -> None:
    keys = parse_key_file(f"# rotated 2025\n\nk2025:{A}  # active\n k2024 : {B.upper()}\n")
    assert [k.key_id for k in keys] == ["k2025", "k2024"]
    assert keys[0].secret == bytes.fromhex(A) and keys[1].secret == bytes.fromhex(B)


def test_secret_not_in_repr() -> None:
    key = WatermarkKey("k1", bytes.fromhex(A))
    assert A not in repr(key) and "k1" in repr(key)


@pytest.mark.parametrize(
    "text, message",
    [
        (f"k1 {A}\n", "Line 1"),
        (f"k1:{A}\nk 2:{A}\n", "Line 2"),
        (f"k1:{A}z\n", "Line 1"),
        (f"k1:{A[:-1]}\n", "Line 1"),  # odd number of hex digits
        (f"k1:{A}\nk1:{B}\n", "appears twice"),
        ("k1:" + "ab" * 15 + "\n", "at least 16"),
        ("# nothing here\n", "holds no key"),
    ],
)
def test_malformed_files_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_key_file(text)


def test_configured_file(tmp_path: Path) -> None:
    path = tmp_path / "wm.keys"
    path.write_text(f"new:{B}\nold:{A}\n")
    ring = load_keyring(_settings(tmp_path, path))
    assert ring.active.key_id == "new" and len(ring) == 2 and not ring.is_development
    assert ring.get("old").secret == bytes.fromhex(A) and ring.get("nope") is None
    assert not (tmp_path / "instance" / DEV_KEY_FILENAME).exists()


def test_missing_configured_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist.*PROVENANCE_WATERMARK_KEYS|PROVENANCE_WATERMARK_KEYS.*does not exist"):
        load_keyring(_settings(tmp_path, tmp_path / "missing.keys"))


def test_duplicate_ids_refused_by_keyring() -> None:
    with pytest.raises(ConfigError, match="unique"):
        KeyRing((WatermarkKey("a", b"x" * 16), WatermarkKey("a", b"y" * 16)))
    with pytest.raises(ConfigError, match="at least one"):
        KeyRing(())


def test_dev_key_made_once_mode_0600(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = load_keyring(settings)
    path = tmp_path / "instance" / DEV_KEY_FILENAME
    assert first.is_development and first.active.key_id == DEV_KEY_ID and len(first.active.secret) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keyring(settings).active.secret == first.active.secret
    assert [p.name for p in path.parent.iterdir()] == [DEV_KEY_FILENAME]  # no temp files left


def test_dev_key_concurrent_creation_agrees(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_keyring(settings).active.secret)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1


def test_unwritable_instance_is_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="PROVENANCE_INSTANCE_PATH"):
        load_keyring(Settings(instance_path=blocker / "instance"))


def test_a_key_records_its_watermark_scheme():
    from provenance.keys import SCHEMES
    from provenance.watermark import SCHEME

    secret = "ab" * 16
    keys = parse_key_file(f"plain:{secret}\nnamed:{SCHEME}:{secret}\n")
    assert [k.scheme for k in keys] == [SCHEME, SCHEME] == [SCHEMES[0]] * 2
    with pytest.raises(ConfigError, match="scheme 'v1'.*v2"):
        parse_key_file(f"old:v1:{secret}\n")
    with pytest.raises(ConfigError, match="not 'key_id:hex'"):
        parse_key_file(f"bad:v2:{secret}:extra\n")


def test_load_secret_file_makes_one_secret_under_a_race_and_checks_length(tmp_path) -> None:
    import threading

    from provenance.keys import load_secret_file

    path = tmp_path / "sub" / "webhook_secret"
    got: list[bytes] = []
    threads = [threading.Thread(target=lambda: got.append(
        load_secret_file(path, what="webhook secret", min_bytes=16, setting="PROVENANCE_WEBHOOK_SECRET_FILE")))
        for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1 and len(got[0]) == 64
    assert (path.stat().st_mode & 0o777) == 0o600
    path.write_text("short")
    with pytest.raises(ConfigError, match="webhook secret .* shorter than 16 bytes"):
        load_secret_file(path, what="webhook secret", min_bytes=16, setting="PROVENANCE_WEBHOOK_SECRET_FILE")
