"""The production server: webapp/gunicorn_conf.py read from PROVENANCE_* and a real gunicorn on loopback."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "webapp" / "gunicorn_conf.py"


def test_conf_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("PROVENANCE_HOST", "0.0.0.0")
    monkeypatch.setenv("PROVENANCE_PORT", "9123")
    monkeypatch.setenv("PROVENANCE_WORKERS", "3")
    monkeypatch.setenv("PROVENANCE_REQUEST_TIMEOUT", "17")
    conf = runpy.run_path(str(CONF))
    assert (conf["bind"], conf["workers"], conf["timeout"], conf["worker_class"]) == ("0.0.0.0:9123", 3, 17, "webapp.gunicorn_conf.ProvenanceSyncWorker")


def test_conf_shares_the_bank_index_unless_set_empty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PROVENANCE_FFT_WORKERS"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("PROVENANCE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PROVENANCE_BANK_INDEX_DIR", raising=False)
    runpy.run_path(str(CONF))
    assert os.environ["PROVENANCE_BANK_INDEX_DIR"] == str(tmp_path / "bank-index")  # the workers share one
    monkeypatch.setenv("PROVENANCE_BANK_INDEX_DIR", "")
    runpy.run_path(str(CONF))
    assert os.environ["PROVENANCE_BANK_INDEX_DIR"] == ""  # each worker builds its own


def test_workers_fix_the_allocator_thresholds_unless_the_environment_does(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PROVENANCE_FFT_WORKERS"):
        monkeypatch.setenv(name, "1")
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(CONF))
    assert conf["MALLOC_MMAP_THRESHOLD_BYTES"] == 32 * 1024 * 1024  # glibc's largest
    assert callable(conf["post_fork"])
    if "CS_GNU_LIBC_VERSION" in os.confstr_names and os.confstr("CS_GNU_LIBC_VERSION"):
        assert conf["tune_malloc"]() is True  # glibc accepted both thresholds
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(64 * 1024 * 1024))
    assert conf["tune_malloc"]() is False  # the operator's setting stands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(env: dict, log: Path, port: int) -> subprocess.Popen:
    """A real gunicorn with webapp/gunicorn_conf.py, once /healthz answers (its output in `log`)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(gunicorn), "-c", str(CONF), "webapp:create_app()"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert json.load(r)["status"] == "ok"
            return proc
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(log.read_text()) from None
            time.sleep(0.2)


@pytest.mark.slow
def test_gunicorn_serves_the_app(tmp_path: Path, media) -> None:
    port = _free_port()
    env = {**os.environ, "PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst"), "PROVENANCE_PORT": str(port),
           "PROVENANCE_WORKERS": "1"}
    log = tmp_path / "gunicorn.log"
    proc = _start_gunicorn(env, log, port)
    try:
        base = f"http://127.0.0.1:{port}"
        req = urllib.request.Request(base + "/api/v1/verify", data=media.photo_jpeg, headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert json.load(r)["verdict"]["code"] == "no_signals"
        req = urllib.request.Request(base + "/api/v1/verify", data=media.text, headers={"Content-Type": "text/plain"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=60)
        assert err.value.code == 415 and json.load(err.value)["error"]["code"] == "unsupported_type"
        err.value.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    access = log.read_text()
    assert '"POST /api/v1/verify HTTP/1.1" 200' in access
    assert media.photo_jpeg[:64].decode("latin-1") not in access


@pytest.mark.slow
def test_gunicorn_master_builds_the_shared_bank_index_before_the_workers(tmp_path: Path) -> None:
    import numpy as np

    from provenance import Settings
    from provenance.banks import Banks
    from provenance.banks.index import unpack_hex

    inst = tmp_path / "inst"
    settings = Settings.from_env({"PROVENANCE_INSTANCE_PATH": str(inst)})
    values = unpack_hex(np.random.default_rng(3).integers(0, 2**63, size=(30_000, 4), dtype=np.uint64))
    with Banks.open(settings) as banks:
        banks.create("reported", label="test")
        banks.add("reported", values)
    port = _free_port()
    env = {**os.environ, "PROVENANCE_INSTANCE_PATH": str(inst), "PROVENANCE_PORT": str(port), "PROVENANCE_WORKERS": "1"}
    env.pop("PROVENANCE_BANK_INDEX_DIR", None)  # the default: one shared index under the instance
    log = tmp_path / "gunicorn.log"
    proc = _start_gunicorn(env, log, port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    text = log.read_text()
    assert "bank indexes ready: 30000 PDQ hashes" in text, text
    # Built by the master, before it booted a worker.
    assert text.index("bank indexes ready") < text.index("Booting worker")
    assert [p for p in (inst / "bank-index").iterdir() if p.suffix != ".lock"]
