"""``provenance batch``: the same verdicts as ``provenance verify``, on real Dask clusters; resume; bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.batch import list_sources, read_rows
from provenance.cli import main
from provenance.cli.common import EXIT_ERROR, EXIT_SOME_FAILED
from provenance.errors import BatchSourceError

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _verify_json(folder: Path, env: dict) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["verify", str(folder), "--json"], env=env)
    assert result.exit_code == EXIT_SOME_FAILED, result.output  # the corrupt file
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {line["path"]: line for line in lines}


def _assert_same_verdicts(rows: list[dict], expected: dict[str, dict]) -> None:
    assert sorted(r["path"] for r in rows) == sorted(expected)
    for row in rows:
        want = expected[row["path"]]
        if "error" in want:
            assert row["error"] and row["verdict"] is None, row
        else:
            report = want["report"]
            assert row["error"] is None, row
            assert row["verdict"] == report["verdict"]["code"], row["path"]
            assert row["watermark_id"] == report["watermark"]["stamp_id"]
            assert row["manifest_state"] == report["manifest"]["state"]
            assert row["sha256"] == report["file"]["sha256"] and row["pdq"] == report["hash_match"]["pdq"]


@pytest.fixture(scope="module")
def expected(fifty: Path, batch_env: dict) -> dict[str, dict]:
    return _verify_json(fifty, batch_env)


def test_batch_verify_on_local_cluster_matches_cli(fifty: Path, expected: dict, cluster: str, batch_env: dict,
                                                   tmp_path: Path) -> None:
    assert sum(1 for v in expected.values() if "report" in v and v["report"]["verdict"]["code"] == "ai_generated_trusted") >= 2
    dest = tmp_path / "out"
    result = CliRunner().invoke(main, ["batch", "verify", str(fifty), "--out", str(dest), "--scheduler", cluster,
                                       "--batch-size", "8"], env=batch_env)
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert json.loads(result.stdout) == {"dest": str(dest), "listed": 50, "skipped": 0, "processed": 50, "failed": 1}
    _assert_same_verdicts(read_rows(dest), expected)
    again = CliRunner().invoke(main, ["batch", "verify", str(fifty), "--out", str(dest), "--scheduler", cluster],
                               env=batch_env)
    assert json.loads(again.stdout)["skipped"] == 50 and len(read_rows(dest)) == 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _parts(dest: Path) -> list[Path]:
    return [p for p in dest.glob("part-*")] if dest.is_dir() else []


def test_batch_verify_on_separate_scheduler_and_workers(fifty: Path, expected: dict, batch_env: dict,
                                                        tmp_path: Path) -> None:
    """`dask scheduler` and two `dask worker` processes on loopback; then the scheduler dies mid-job."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, **batch_env}
    procs = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard",
                                           "--nworkers", "1"], env=env, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        dest = tmp_path / "out.jsonl"
        result = CliRunner().invoke(main, ["batch", "verify", str(fifty), "--out", str(dest),
                                           "--batch-size", "8"], env={**batch_env, "DASK_SCHEDULER_ADDRESS": address})
        assert result.exit_code == EXIT_SOME_FAILED, result.output
        _assert_same_verdicts(read_rows(dest), expected)
        assert all(p.suffix == ".jsonl" for p in _parts(dest))

        # The scheduler goes away mid-job: a clear error, and what was done stays done.
        dest2 = tmp_path / "gone"
        job = subprocess.Popen([BIN / "provenance", "batch", "hash", str(fifty), "--out", str(dest2),
                                "--scheduler", address, "--batch-size", "1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: len(_parts(dest2)) >= 1, 60, "a first part file")
        procs[0].send_signal(signal.SIGKILL)
        out, err = job.communicate(timeout=90)
        assert job.returncode == EXIT_ERROR, (out, err)
        assert "Traceback" not in err and "error: " in err and "run the same command again to resume" in err, err
        done = [r["path"] for r in read_rows(dest2)]
        assert 0 < len(done) == len(set(done)) < 50
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)


def test_job_killed_midway_and_resumed_does_every_file_once(fifty: Path, expected: dict, cluster: str,
                                                             batch_env: dict, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    env = {**os.environ, **batch_env}
    job = subprocess.Popen([BIN / "provenance", "batch", "verify", str(fifty), "--out", str(dest),
                            "--workers", "2", "--batch-size", "2"], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_parts(dest)) >= 2, 120, "two part files")
        job.send_signal(signal.SIGKILL)  # the client, which also ran the LocalCluster
        job.wait(timeout=30)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # its worker processes, now orphans
    first = [r["path"] for r in read_rows(dest)]
    assert 0 < len(first) < 50
    result = CliRunner().invoke(main, ["batch", "verify", str(fifty), "--out", str(dest), "--scheduler", cluster],
                                env=batch_env)
    assert result.exit_code in (0, EXIT_SOME_FAILED), result.output  # 2 if the corrupt file was left for now
    summary = json.loads(result.stdout)
    assert summary["skipped"] == len(first) and summary["processed"] == 50 - len(first)
    rows = read_rows(dest)
    assert len(rows) == 50 and len({r["path"] for r in rows}) == 50
    _assert_same_verdicts(rows, expected)


def test_bad_sources_are_clear_errors(tmp_path: Path, batch_env: dict, fifty: Path, cluster: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    wrong = tmp_path / "list.parquet"
    pq.write_table(pa.table({"file": ["a.png"]}), wrong)
    with pytest.raises(BatchSourceError, match="no 'path' column"):
        list_sources(wrong)
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"path": [1, 2]}), numbers)
    with pytest.raises(BatchSourceError, match="not strings"):
        list_sources(numbers)
    with pytest.raises(BatchSourceError, match="does not exist"):
        list_sources(tmp_path / "missing")
    with pytest.raises(BatchSourceError, match="No media files"):
        list_sources(str(tmp_path / "*.nothing"))

    result = CliRunner().invoke(main, ["batch", "hash", str(wrong), "--out", str(tmp_path / "o"),
                                       "--scheduler", cluster], env=batch_env)
    assert result.exit_code == EXIT_ERROR and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and "no 'path' column" in result.stderr

    # A list naming missing and unreadable paths: rows with errors, the rest processed.
    listing = tmp_path / "list.txt"
    good = sorted(fifty.glob("crop0*.png"))[:3]
    listing.write_text("\n".join([*map(str, good), str(tmp_path / "gone.png"), str(tmp_path)]) + "\n")
    result = CliRunner().invoke(main, ["batch", "hash", str(listing), "--out", str(tmp_path / "h.jsonl"),
                                       "--scheduler", cluster], env=batch_env)
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    rows = {r["path"]: r for r in read_rows(tmp_path / "h.jsonl")}
    assert len(rows) == 5 and all(rows[str(p)]["pdq"] and rows[str(p)]["error"] is None for p in good)
    assert "No such file" in rows[str(tmp_path / "gone.png")]["error"]
    assert "directory" in rows[str(tmp_path)]["error"]

    missing = CliRunner().invoke(main, ["batch", "hash", str(listing), "--out", str(tmp_path / "x"),
                                        "--scheduler", "tcp://127.0.0.1:9"], env=batch_env)
    assert missing.exit_code == EXIT_ERROR and "Cannot reach the Dask scheduler" in missing.stderr


def test_batch_stamp_records_each_file_once_across_reruns(shared_dir: Path, cluster: str, batch_env: dict,
                                                          tmp_path: Path) -> None:
    from provenance.registry import Registry
    from provenance.settings import Settings

    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in sorted((shared_dir / "samples").glob("*.png"))[:3]) + "\n")
    args = ["batch", "stamp", str(listing), "--stamped-dir", str(tmp_path / "stamped"), "--generator", "g",
            "--scheduler", cluster]
    with Registry.open(Settings.from_env(batch_env)) as reg:
        before = reg.count_stamps()
    first = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")], env=batch_env)
    assert first.exit_code == 0, [r["error"] for r in read_rows(tmp_path / "a")]
    # A fresh DEST (as if the first run's rows were lost): the outputs are found in the registry, not stamped again.
    second = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b")], env=batch_env)
    assert second.exit_code == 0, second.output
    a, b = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    assert sorted((r["path"], r["watermark_id"], r["output"]) for r in a) == \
        sorted((r["path"], r["watermark_id"], r["output"]) for r in b)
    assert all(r["watermark_id"] and Path(r["output"]).is_file() for r in a)
    with Registry.open(Settings.from_env(batch_env)) as reg:
        assert reg.count_stamps() == before + 3


# Another LocalCluster on this machine may hold Dask's default HTTP port; Dask then warns, leaks
# the socket it tried (collected as an unraisable ResourceWarning) and picks another port.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_local_cluster_workers_keep_freed_memory_and_one_fft_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dask's nanny would set MALLOC_TRIM_THRESHOLD_=65536: every verification then faulted its
    # image buffers back in (~17,000 page faults per file, the batch job ~1.5x slower than the CLI).
    from provenance.batch.runner import WORKER_ENVIRON, close, connect

    for name in WORKER_ENVIRON:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROVENANCE_FFT_WORKERS", "2")  # the operator's own setting wins
    client = connect(workers=1)
    try:
        seen = client.run(lambda: {k: os.environ.get(k) for k in WORKER_ENVIRON})
    finally:
        close(client)
    (env,) = seen.values()
    assert env == {**WORKER_ENVIRON, "PROVENANCE_FFT_WORKERS": "2"}
