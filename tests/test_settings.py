"""Tests for provenance.settings: PROVENANCE_* variables and their defaults."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from provenance.errors import ConfigError
from provenance.images import DEFAULT_MAX_PIXELS
from provenance.settings import Settings


def test_defaults_from_an_empty_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.instance_path == tmp_path / "instance"
    assert settings.instance_path.is_absolute()
    assert settings.database_url is None
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'instance' / 'provenance.sqlite'}"
    assert settings.watermark_keys_path is None
    assert (settings.signing_cert, settings.signing_key, settings.signing_alg) == (None, None, "es256")
    assert settings.tsa_url is None
    assert settings.trust_anchors == () and settings.trust_allowed is None and settings.trust_config is None
    assert settings.max_pixels == DEFAULT_MAX_PIXELS and settings.max_upload_mb == 50
    assert Settings.from_env({}) == Settings()  # code defaults and from_env agree


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst"),
        "PROVENANCE_DATABASE_URL": " postgresql+psycopg://u@localhost/prov ",
        "PROVENANCE_WATERMARK_KEYS": str(tmp_path / "keys"),
        "PROVENANCE_SIGNING_CERT": str(tmp_path / "cert.pem"),
        "PROVENANCE_SIGNING_KEY": str(tmp_path / "key.pem"),
        "PROVENANCE_SIGNING_ALG": " ES384 ",
        "PROVENANCE_TSA_URL": "http://timestamp.example",
        "PROVENANCE_TRUST_ANCHORS": os.pathsep.join([str(tmp_path / "a.pem"), "", str(tmp_path / "b.pem")]),
        "PROVENANCE_TRUST_ALLOWED": str(tmp_path / "allowed.pem"),
        "PROVENANCE_TRUST_CONFIG": str(tmp_path / "store.cfg"),
        "PROVENANCE_MAX_PIXELS": "4000000",
        "PROVENANCE_MAX_UPLOAD_MB": " 7 ",
    }
    s = Settings.from_env(env)
    assert s.instance_path == tmp_path / "inst"
    assert s.database_url == "postgresql+psycopg://u@localhost/prov"
    assert s.effective_database_url == "postgresql+psycopg://u@localhost/prov"
    assert s.watermark_keys_path == tmp_path / "keys"
    assert (s.signing_cert, s.signing_key, s.signing_alg) == (tmp_path / "cert.pem", tmp_path / "key.pem", "es384")
    assert s.tsa_url == "http://timestamp.example"
    assert s.trust_anchors == (tmp_path / "a.pem", tmp_path / "b.pem")
    assert s.trust_allowed == tmp_path / "allowed.pem" and s.trust_config == tmp_path / "store.cfg"
    assert (s.max_pixels, s.max_upload_mb) == (4_000_000, 7)


def test_home_is_expanded_in_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings.from_env({"PROVENANCE_WATERMARK_KEYS": "~/keys", "PROVENANCE_INSTANCE_PATH": "~/inst"})
    assert s.watermark_keys_path == tmp_path / "keys" and s.instance_path == tmp_path / "inst"


def test_blank_values_mean_unset() -> None:
    names = [
        "PROVENANCE_DATABASE_URL",
        "PROVENANCE_WATERMARK_KEYS",
        "PROVENANCE_MAX_PIXELS",
        "PROVENANCE_SIGNING_CERT",
        "PROVENANCE_SIGNING_KEY",
        "PROVENANCE_TSA_URL",
    ]
    blank = {name: "  " for name in names}
    s = Settings.from_env(blank)
    assert s.database_url is None and s.watermark_keys_path is None and s.tsa_url is None
    assert s.max_pixels == DEFAULT_MAX_PIXELS and s.signing_cert is None


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVENANCE_MAX_UPLOAD_MB", "3")
    assert Settings.from_env().max_upload_mb == 3


@pytest.mark.parametrize("name", ["PROVENANCE_MAX_PIXELS", "PROVENANCE_MAX_UPLOAD_MB"])
@pytest.mark.parametrize(
    "value, message", [("abc", "whole number"), ("1.5", "whole number"), ("0", "positive"), ("-4", "positive")]
)
def test_bad_integers(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be (a )?{message}"):
        Settings.from_env({name: value})


@pytest.mark.parametrize("present", ["PROVENANCE_SIGNING_CERT", "PROVENANCE_SIGNING_KEY"])
def test_half_configured_signing_pair(present: str) -> None:
    with pytest.raises(ConfigError, match="both PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY"):
        Settings.from_env({present: "/etc/provenance/x.pem"})


def test_unknown_signing_algorithm() -> None:
    with pytest.raises(ConfigError, match="PROVENANCE_SIGNING_ALG must be"):
        Settings.from_env({"PROVENANCE_SIGNING_ALG": "rs256"})


def test_with_instance_moves_the_default_database(tmp_path: Path) -> None:
    s = Settings.from_env({}).with_instance(tmp_path / "elsewhere")
    assert s.instance_path == tmp_path / "elsewhere"
    assert s.effective_database_url.endswith(f"{tmp_path / 'elsewhere' / 'provenance.sqlite'}")
    configured = Settings.from_env({"PROVENANCE_DATABASE_URL": "sqlite:///x.db"}).with_instance(tmp_path)
    assert configured.effective_database_url == "sqlite:///x.db"


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().max_pixels = 1  # type: ignore[misc]
    assert dataclasses.replace(Settings(), max_pixels=5).max_pixels == 5


# --------------------------------------------------------------------------- web app settings


def test_web_defaults() -> None:
    s = Settings.from_env({})
    assert s.max_upload_bytes == 50 * 1024 * 1024
    assert s.request_timeout_s == 30
    assert s.rate_limit == "120 per minute" and s.rate_limit_storage_uri == "memory://"
    assert s.secret_key_path is None
    assert (s.host, s.port, s.workers) == ("127.0.0.1", 8000, 2)


def test_web_variables_are_read(tmp_path: Path) -> None:
    s = Settings.from_env({
        "PROVENANCE_MAX_UPLOAD_BYTES": "1000",
        "PROVENANCE_REQUEST_TIMEOUT": "12",
        "PROVENANCE_RATE_LIMIT": "10/second; 1000 per day",
        "PROVENANCE_RATE_LIMIT_STORAGE": "redis://localhost:6379/0",
        "PROVENANCE_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "PROVENANCE_HOST": "0.0.0.0",
        "PROVENANCE_PORT": "9000",
        "PROVENANCE_WORKERS": "4",
    })
    assert (s.max_upload_bytes, s.request_timeout_s) == (1000, 12)
    assert s.rate_limit == "10/second; 1000 per day" and s.rate_limit_storage_uri == "redis://localhost:6379/0"
    assert s.secret_key_path == tmp_path / "secret"
    assert (s.host, s.port, s.workers) == ("0.0.0.0", 9000, 4)


def test_upload_limit_in_mib_sets_the_byte_limit_unless_bytes_are_given() -> None:
    assert Settings.from_env({"PROVENANCE_MAX_UPLOAD_MB": "3"}).max_upload_bytes == 3 * 1024 * 1024
    both = Settings.from_env({"PROVENANCE_MAX_UPLOAD_MB": "3", "PROVENANCE_MAX_UPLOAD_BYTES": "5"})
    assert both.max_upload_bytes == 5


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("PROVENANCE_RATE_LIMIT", "lots", "like '120 per minute'"),
        ("PROVENANCE_RATE_LIMIT", "10 per fortnight", "like '120 per minute'"),
        ("PROVENANCE_RATE_LIMIT_STORAGE", "ftp://x", "must start with one of"),
        ("PROVENANCE_PORT", "70000", "at most 65535"),
        ("PROVENANCE_WORKERS", "0", "must be positive"),
        ("PROVENANCE_MAX_UPLOAD_BYTES", "1e6", "whole number"),
        ("PROVENANCE_REQUEST_TIMEOUT", "-1", "must be positive"),
    ],
)
def test_bad_web_values(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_watermark_search_setting() -> None:
    assert Settings.from_env({}).watermark_search == "full"
    assert Settings.from_env({"PROVENANCE_WATERMARK_SEARCH": " Quick "}).watermark_search == "quick"
    assert Settings.from_env({"PROVENANCE_WATERMARK_SEARCH": "crops"}).watermark_search == "crops"
    with pytest.raises(ConfigError, match="PROVENANCE_WATERMARK_SEARCH"):
        Settings.from_env({"PROVENANCE_WATERMARK_SEARCH": "fast"})


def test_watermark_field_percent_setting() -> None:
    assert Settings.from_env({}).watermark_field_percent == 0.0
    assert Settings.from_env({"PROVENANCE_WATERMARK_FIELD_PERCENT": " 25 "}).watermark_field_percent == 25.0
    for bad, message in (("95", "at most 90"), ("-5", "0 to 100"), ("a lot", "0 to 100")):
        with pytest.raises(ConfigError, match=message):
            Settings.from_env({"PROVENANCE_WATERMARK_FIELD_PERCENT": bad})


def test_video_min_psnr_setting() -> None:
    assert Settings.from_env({}).video_min_psnr == 40.5
    assert Settings.from_env({"PROVENANCE_VIDEO_MIN_PSNR": "0"}).video_min_psnr == 0.0
    assert Settings.from_env({"PROVENANCE_VIDEO_MIN_PSNR": "42"}).video_min_psnr == 42.0
    for bad in ("-1", "80", "forty"):
        with pytest.raises(ConfigError, match="PROVENANCE_VIDEO_MIN_PSNR must be a number of decibels from 0 to 60"):
            Settings.from_env({"PROVENANCE_VIDEO_MIN_PSNR": bad})


def test_hostile_input_and_cli_variables_are_read_here(tmp_path: Path) -> None:
    s = Settings.from_env({
        "PROVENANCE_MAX_DECODE_MB": "256",
        "PROVENANCE_PROXY_HOPS": "2",
        "PROVENANCE_WATERMARK_KEY_FILE": str(tmp_path / "wm.key"),
        "PROVENANCE_SHARED": str(tmp_path / "shared"),
        "PROVENANCE_MAX_UPLOAD_MB": "3",
    })
    assert s.max_decode_bytes == 256 * 1024 * 1024 and s.proxy_hops == 2
    assert s.watermark_key_file == tmp_path / "wm.key" and s.shared_path == tmp_path / "shared"
    assert s.max_upload_bytes == 3 * 1024 * 1024 and s.max_upload_mb == 3  # _MB sets the byte limit
    assert Settings.from_env({}).proxy_hops == 0 and Settings.from_env({"PROVENANCE_PROXY_HOPS": "0"}).proxy_hops == 0
    with pytest.raises(ConfigError, match="PROVENANCE_MAX_DECODE_MB must be positive"):
        Settings.from_env({"PROVENANCE_MAX_DECODE_MB": "-1"})


def test_settings_is_the_only_reader_of_provenance_variables() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    # A read: os.environ.get(...), os.environ[...] not followed by an assignment, getenv, click's envvar.
    # (gunicorn_conf.py may *write* a default for its workers, which then read it through Settings.)
    reads = re.compile(
        r"(os\.environ\.get\s*\(\s*|os\.environ\s*\[\s*(?=['\"]PROVENANCE_\w*['\"]\s*\](?!\s*=[^=]))"
        r"|getenv\(\s*|envvar\s*=\s*)['\"]PROVENANCE_"
    )
    skip = {root / "provenance" / "settings.py"}
    offenders = [
        str(path.relative_to(root))
        for folder in ("provenance", "webapp")
        for path in (root / folder).rglob("*.py")
        if path not in skip and reads.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
