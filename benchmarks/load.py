"""Load benchmark of the web app: gunicorn on loopback, wrk posting 1024x1024 JPEGs to /api/v1/verify.

For each of two bodies, a stamped JPEG (watermark found, registry hit) and an unmarked photo
(full watermark search, no hit), it starts the production server (``gunicorn -c
webapp/gunicorn_conf.py``, ``--workers`` sync workers) on a free loopback port with a fresh
instance folder, warms it up, drives ``--connections`` closed-loop connections with wrk for
``--duration`` seconds, and reports requests/s, p50/p90/p99 latency, errors (socket errors and
non-200 answers) and the workers' RSS at the start and the end of the run. With ``--repeat N``
the bodies take turns N times (stamped, unmarked, unmarked crops, unmarked quick, stamped, ...), so a machine
whose speed drifts shows it as spread, and a summary gives each body's median and range.

The images are Kodak photographs from ``../shared/samples`` resized to 1024x1024 and saved as
JPEG 90 (the stamped one through the real Stamper, into the server's registry). The rate
limit is raised for the run (``PROVENANCE_RATE_LIMIT``). wrk is Debian's; this script installs
it with apt-get when missing (as root).

Usage::

    python benchmarks/load.py                   # 2 minutes per body, 2 workers
    python benchmarks/load.py --duration 30     # shorter
    python benchmarks/load.py --workers 3 --connections 4 --no-write
    python benchmarks/load.py --no-quick        # skip the unmarked runs with PROVENANCE_WATERMARK_SEARCH=crops, quick
    python benchmarks/load.py --repeat 3        # every body three times, interleaved; medians and ranges
    python benchmarks/load.py --workers 4 --bank-hashes 10000000 --bank-index both --only unmarked --no-quick

With ``--bank-hashes N`` the registry gets a bank of N random PDQ hashes first (through the
bank import path, see ``bank_fill.py``; ``--instance DIR`` keeps it for the next run), every
verification matches the upload against it, and the report goes to its own section with each
worker's RSS and PSS (PSS charges a shared page once, split between the processes mapping it,
so its total is what the machine pays). ``--bank-index`` picks how the workers hold the bank:
``shared`` (one memory-mapped index file per machine, the default), ``private`` (each worker
builds its own, as before issue 17) or ``both``, interleaved. The request timeout is raised for
such runs: a worker loads the bank on its first match, which takes longer than 30 s at 10M.
"""

from __future__ import annotations

import argparse
import io
import statistics
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

import _results

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROVENANCE_SHARED", ROOT.parent / "shared"))
SIDE = 1024
#: The issue's bar on this 2-core machine.
TARGET_RPS = 40.0
TARGET_P99_MS = 250.0
#: gunicorn's request timeout when a large bank is loaded: a worker reads it on its first match.
BANK_TIMEOUT_S = 900
BANK_NAME = "load-bench"

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50=%d p90=%d p99=%d max=%d socket_errors=%d status_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing Debian's wrk ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-q"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def _photo(name: str) -> Image.Image:
    return Image.open(SHARED / "samples" / name).convert("RGB").resize((SIDE, SIDE), Image.LANCZOS)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def make_bodies(instance: Path, folder: Path) -> dict[str, Path]:
    """Write the stamped and the unmarked 1024x1024 JPEGs; the stamp is recorded in `instance`."""
    sys.path.insert(0, str(ROOT))
    from provenance import Settings
    from provenance.stamp import Stamper

    with Stamper(Settings(instance_path=instance)) as stamper:
        stamped = stamper.stamp_image(_jpeg(_photo("kodim03.png")), generator="load-benchmark", output_format="JPEG")
    bodies = {"stamped": folder / "stamped.jpg", "unmarked": folder / "unmarked.jpg"}
    bodies["stamped"].write_bytes(stamped.data)
    bodies["unmarked"].write_bytes(_jpeg(_photo("kodim07.png")))
    return bodies


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _workers(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


class Server:
    """gunicorn on a loopback port, stopped by :meth:`stop` (SIGTERM to its own process only)."""

    def __init__(self, instance: Path, workers: int, search: str = "full", bank_index: str = "shared",
                 timeout_s: int | None = None) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PROVENANCE_INSTANCE_PATH": str(instance),
            "PROVENANCE_HOST": "127.0.0.1",
            "PROVENANCE_PORT": str(self.port),
            "PROVENANCE_WORKERS": str(workers),
            "PROVENANCE_RATE_LIMIT": "1000000 per minute",
            "PROVENANCE_WATERMARK_SEARCH": search,
        }
        env.pop("PROVENANCE_BANK_INDEX_DIR", None)  # unset: gunicorn_conf.py shares one index per machine
        if bank_index == "private":
            env["PROVENANCE_BANK_INDEX_DIR"] = ""  # set but empty: each worker builds its own
        if timeout_s is not None:
            env["PROVENANCE_REQUEST_TIMEOUT"] = str(timeout_s)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = open(instance / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", "webapp/gunicorn_conf.py", "--access-logfile", "/dev/null", "webapp:create_app()"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the server did not come up; see {instance / 'gunicorn.log'}")

    def _post(self, body: bytes, timeout: float) -> float:
        start = time.perf_counter()
        req = urllib.request.Request(self.url + "/api/v1/verify", data=body, headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            assert r.status == 200
        return time.perf_counter() - start

    def warm_up(self, body: bytes, count: int) -> None:
        for _ in range(count):
            self._post(body, 60)

    def warm_up_all(self, body: bytes, workers: int, timeout: float) -> float:
        """Rounds of `workers` concurrent requests until one round is quick (every worker has loaded
        the banks, which each does on its first match); the seconds that took."""
        from concurrent.futures import ThreadPoolExecutor

        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            for _ in range(20):
                took = list(pool.map(lambda _i: self._post(body, timeout), range(workers)))
                if max(took) < 2.0:
                    break
        return time.perf_counter() - start - max(took)

    def pss(self) -> list[float]:
        return [_pss_mib(p) for p in _workers(self.proc.pid)]

    def rss(self) -> list[float]:
        return [_rss_mib(p) for p in _workers(self.proc.pid)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_one(wrk: str, name: str, body: Path, args: argparse.Namespace, folder: Path, instance: Path,
            search: str = "full", bank_index: str = "shared") -> dict:
    script = folder / "post.lua"
    script.write_text(LUA)
    banked = args.bank_hashes > 0
    server = Server(instance, args.workers, search, bank_index, timeout_s=BANK_TIMEOUT_S if banked else None)
    try:
        warm_s = server.warm_up_all(body.read_bytes(), args.workers, BANK_TIMEOUT_S) if banked else None
        server.warm_up(body.read_bytes(), 2 * args.workers)
        rss_start = server.rss()
        load_before = os.getloadavg()[0]
        out = subprocess.run(
            [wrk, "-t", "1", "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "30s",
             "-s", str(script), server.url + "/api/v1/verify"],
            capture_output=True, text=True, env={**os.environ, "LOAD_BODY": str(body)}, check=True,
        ).stdout
        rss_end = server.rss()
        pss_end = server.pss()
        load_after = os.getloadavg()[0]
    finally:
        server.stop()
    m = re.search(r"RESULT (.*)", out)
    if m is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return {
        "name": name if search == "full" else f"{name}, search={search}", "size_kib": body.stat().st_size / 1024, "requests": r["requests"],
        "rps": r["requests"] / (r["duration_us"] / 1e6), "p50": r["p50"] / 1e3, "p90": r["p90"] / 1e3,
        "p99": r["p99"] / 1e3, "max": r["max"] / 1e3, "errors": r["socket_errors"] + r["status_errors"],
        "rss_start": rss_start, "rss_end": rss_end, "pss_end": pss_end, "load": (load_before, load_after),
        "bank_index": bank_index, "warm_s": warm_s,
    }


def _met(r: dict) -> bool:
    return r["rps"] >= TARGET_RPS and r["p99"] <= TARGET_P99_MS and r["errors"] == 0


def _summary(rows: list[dict]) -> list[str]:
    """Markdown lines: per body, the median and range of req/s and p99 over its runs."""
    lines = [
        "| body | runs | req/s median (min-max) | p50 ms median | p99 ms median (min-max) | errors | target met |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in dict.fromkeys(r["name"] for r in rows):
        runs = [r for r in rows if r["name"] == name]
        rps = [r["rps"] for r in runs]
        p99 = [r["p99"] for r in runs]
        met = sum(_met(r) for r in runs)
        lines.append(
            f"| {name} | {len(runs)} | {statistics.median(rps):.1f} ({min(rps):.1f}-{max(rps):.1f}) "
            f"| {statistics.median(r['p50'] for r in runs):.0f} | {statistics.median(p99):.0f} "
            f"({min(p99):.0f}-{max(p99):.0f}) | {sum(r['errors'] for r in runs)} | in {met} of {len(runs)} runs |"
        )
    return lines


def _search_ratios(rows: list[dict]) -> list[str]:
    """Markdown lines: unmarked req/s of each search mode as a share of search=quick's, from the medians of one run."""
    rps = {r["name"]: statistics.median(x["rps"] for x in rows if x["name"] == r["name"]) for r in rows}
    quick = rps.get("unmarked, search=quick")
    if not quick:
        return []
    shares = [f"{label} {100 * rps[name] / quick:.0f}%" for label, name in
              (("full", "unmarked"), ("crops", "unmarked, search=crops")) if name in rps]
    return [f"Unmarked uploads, req/s as a share of search=quick's (medians, same run): {'; '.join(shares)}.", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=120, help="seconds of load per body (default 120)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--connections", type=int, default=None, help="concurrent connections (default: workers)")
    parser.add_argument("--only", choices=("stamped", "unmarked"), help="run one body only")
    parser.add_argument("--no-quick", action="store_true",
                        help="skip the extra unmarked runs with PROVENANCE_WATERMARK_SEARCH=crops and =quick")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every body this many times, interleaved, and summarise medians (default 1)")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument("--bank-hashes", type=int, default=0,
                        help="put a bank of this many random PDQ hashes in the registry first (default 0: no bank)")
    parser.add_argument("--bank-index", choices=("shared", "private", "both"), default="shared",
                        help="with --bank-hashes: one memory-mapped index per machine, one per worker, or both")
    parser.add_argument("--instance", type=Path, default=None,
                        help="instance folder to use and keep (a bank filled there is reused); default a temporary one")
    args = parser.parse_args(argv)
    args.connections = args.connections or args.workers
    if args.repeat < 1 or args.duration < 1 or args.bank_hashes < 0:
        parser.error("--repeat and --duration must be at least 1, --bank-hashes at least 0")
    wrk = _ensure_wrk()
    rows = []
    modes = ("private", "shared") if args.bank_index == "both" else (args.bank_index,)
    fill_note = ""
    with tempfile.TemporaryDirectory(prefix="provenance-load-") as tmp:
        folder = Path(tmp)
        instance = args.instance.resolve() if args.instance else folder / "instance"
        bodies = make_bodies(instance, folder)
        if args.bank_hashes:
            fill_note = _fill(instance, args.bank_hashes)
        runs = [(name, body, "full") for name, body in bodies.items() if not args.only or name == args.only]
        if not args.no_quick and any(name == "unmarked" for name, _, _ in runs):
            runs += [("unmarked", bodies["unmarked"], "crops"), ("unmarked", bodies["unmarked"], "quick")]
        for round_ in range(1, args.repeat + 1):
            for name, body, search in runs:
                for mode in modes if args.bank_hashes else ("shared",):
                    label = name if search == "full" else f"{name}, search={search}"
                    label += f", {mode} bank index" if args.bank_hashes else ""
                    turn = f" (run {round_} of {args.repeat})" if args.repeat > 1 else ""
                    print(f"{label}: {args.duration} s of load{turn} ...", file=sys.stderr, flush=True)
                    rows.append({**run_one(wrk, name, body, args, folder, instance, search, mode), "run": round_})
    if args.bank_hashes:
        return _bank_report(rows, args, fill_note, argv)
    fmt_rss = lambda v: "/".join(f"{x:.0f}" for x in v)  # noqa: E731
    repeats = f", each body {args.repeat} times, interleaved" if args.repeat > 1 else ""
    lines = [
        f"POST /api/v1/verify, 1024x1024 JPEG bodies, gunicorn {args.workers} sync workers, wrk {args.connections} "
        f"connections, {args.duration} s per run{repeats}, loopback, {os.cpu_count()} CPUs shared with the load "
        "generator.",
        "",
    ]
    if args.repeat > 1:
        lines += _summary(rows) + [""] + _search_ratios(rows) + ["Every run, in the order they ran:", ""]
    lines += [
        "| body | run | size KiB | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | worker RSS start MiB "
        "| end MiB | load avg before/after | target met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['run']} | {r['size_kib']:.0f} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} "
            f"| {r['p90']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | {r['errors']} | {fmt_rss(r['rss_start'])} "
            f"| {fmt_rss(r['rss_end'])} | {r['load'][0]:.1f}/{r['load'][1]:.1f} | {'yes' if _met(r) else 'no'} |"
        )
    lines += [
        "",
        "Target on 2 cores: >= 40 verify requests/s, p99 <= 250 ms, zero errors, flat memory. The load average "
        "(1 min) shows how much else the machine was running: above ~2.5 the figures understate the server. "
        "`search=quick` is the server run with PROVENANCE_WATERMARK_SEARCH=quick (unchanged grid only; whole-image "
        "resizes are found, rotations and crops that change the long side are not looked for); `search=crops` adds the "
        "lattices of crops (not rotations or perspective); the other rows use the default full search.",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        command = "python benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:])
        _results.update_section("load", f"## Web app load\n\n{_results.run_header(command.strip())}\n\n{report}")
        print(f"\nupdated section 'load' of {_results.RESULTS_PATH}")
    return 0


def _fill(instance: Path, hashes: int) -> str:
    """Fill the benchmark bank up to `hashes` (what an earlier run left in `instance` counts); a note for the report."""
    sys.path.insert(0, str(ROOT))
    from bank_fill import fill_bank

    from provenance import Settings
    from provenance.banks import Banks
    from provenance.errors import BankNotFoundError

    settings = Settings(instance_path=instance)
    with Banks.open(settings) as banks:
        try:
            have = banks.get(BANK_NAME).pdq_count
        except BankNotFoundError:
            have = 0
    if have > hashes:
        raise SystemExit(f"bank {BANK_NAME} in {instance} holds {have:,} hashes, more than --bank-hashes {hashes:,}; "
                         "use another --instance")
    if have == hashes:
        return f"bank of {hashes:,} random PDQ hashes (filled by an earlier run)"
    print(f"filling bank {BANK_NAME} with {hashes - have:,} random PDQ hashes ...", file=sys.stderr, flush=True)
    done = fill_bank(settings, BANK_NAME, hashes - have, seed=have,
                     progress=lambda n: print(f"  {have + n:,}", file=sys.stderr, flush=True))
    return f"bank of {done.hashes:,} random PDQ hashes, imported in {done.seconds:.0f} s"


def _bank_report(rows: list[dict], args: argparse.Namespace, fill_note: str, argv: list[str] | None) -> int:
    """Markdown table of runs with a bank: memory per worker and in total, latency, throughput."""
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    lines = [
        f"POST /api/v1/verify, 1024x1024 JPEG bodies, gunicorn {args.workers} sync workers, wrk {args.connections} "
        f"connections, {args.duration} s per run, loopback, {os.cpu_count()} CPUs shared with the load generator; "
        f"a {fill_note}, SQLite registry: every verification matches the upload's 8 dihedral PDQ hashes "
        "against it (threshold 31).",
        "",
        "| bank index | body | run | req/s | p50 ms | p99 ms | errors | RSS per worker MiB | RSS total MiB "
        "| PSS total MiB | warm-up s | load avg before/after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bank_index']} | {r['name']} | {r['run']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} "
            f"| {r['errors']} | {mean(r['rss_end']):,.0f} | {sum(r['rss_end']):,.0f} | {sum(r['pss_end']):,.0f} "
            f"| {r['warm_s']:.0f} | {r['load'][0]:.1f}/{r['load'][1]:.1f} |"
        )
    lines += [
        "",
        "RSS and PSS are read from /proc at the end of each run (workers only, not gunicorn's master). "
        "Warm-up: from the server answering /healthz until a round of one request per worker is quick, i.e. "
        "until every worker has loaded the bank (private: each reads it from the database and builds its index; "
        "shared: the first builds the machine's index file if it is missing, the others map it).",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        command = "python benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:])
        _results.update_section("load-bank", "## Web app load with a large bank: private vs shared index (issue 17)"
                                f"\n\n{_results.run_header(command.strip())}\n\n{report}")
        print(f"\nupdated section 'load-bank' of {_results.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
