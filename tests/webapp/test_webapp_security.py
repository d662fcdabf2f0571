"""webapp/security.py: the secret key file, security headers on every kind of answer."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from provenance import ConfigError
from webapp.security import CSP, load_secret_key


def test_secret_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "inst" / "secret_key"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_secret_key(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 64  # every "worker" agrees on one key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary files left


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("short")
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        load_secret_key(path)


def test_secret_key_file_setting_is_used(app_factory, tmp_path: Path) -> None:
    path = tmp_path / "my.key"
    path.write_text("k" * 40)
    assert app_factory(secret_key_path=path).config["SECRET_KEY"] == b"k" * 40


@pytest.mark.parametrize("method, path", [("get", "/"), ("get", "/nowhere"), ("get", "/healthz"),
                                          ("post", "/api/v1/verify"), ("get", "/api/v1/openapi.json")])
def test_security_headers_on_every_answer(client, method: str, path: str) -> None:
    r = getattr(client, method)(path)
    assert r.headers["Content-Security-Policy"] == CSP and "'unsafe-inline'" not in CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
