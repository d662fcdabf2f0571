"""Soft Binding Resolution API: server latency per route, and what asking a resolver adds to a verification.

Installation A (a werkzeug server in a thread on 127.0.0.1, SQLite registry, public resolution)
stamps a Kodak photograph (768x512); its copy is re-encoded as JPEG 90 without metadata.

Server: median ms over ``--runs`` HTTP requests (after one warm-up) from this process with
urllib, per route. Client: installation B (its own instance, registry and watermark key, so it
finds A's stamp by PDQ) verifies the stripped copy with ``Verifier.verify`` with and without
``PROVENANCE_RESOLVERS`` pointing at A, alternating the two, median of ``--runs`` each; and with
a resolver that refuses connections. Times taken while other processes run are noisy: compare
the two columns of one run, not runs with each other.

Usage::

    python benchmarks/resolution.py               # writes its section of RESULTS.md
    python benchmarks/resolution.py --runs 5 --no-write
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from PIL import Image
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import run_header, update_section  # noqa: E402

from provenance import Settings  # noqa: E402
from provenance.hashing import pdq_hash_file  # noqa: E402
from provenance.report import Verifier  # noqa: E402
from provenance.resolution import PDQ_ALG, WATERMARK_ALG  # noqa: E402
from provenance.stamp import Stamper  # noqa: E402
from webapp import create_app  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "kodim03.png"


def _ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def _call(method: str, url: str, body: bytes | None = None, ctype: str | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype} if ctype else {})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a = Settings(instance_path=Path(tmp) / "a", resolution_public=True, watermark_search="quick",
                     rate_limit="1000000 per minute")
        with Stamper(a) as stamper:
            result = stamper.stamp_image(SAMPLE, generator="bench", output_format="PNG", requester="bench")
        out = io.BytesIO()
        Image.open(io.BytesIO(result.data)).convert("RGB").save(out, "JPEG", quality=90)
        stripped = out.getvalue()
        server = make_server("127.0.0.1", 0, create_app({"PROVENANCE_SETTINGS": a}),
                             threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}/c2pa/v1"
        wm = base64.b64encode(bytes.fromhex(result.stamp_id)).decode()
        pdq = base64.b64encode(bytes.fromhex(pdq_hash_file(stripped).to_hex())).decode()
        routes = {
            "GET matches/byBinding (watermark ID)": lambda: _call(
                "GET", f"{base}/matches/byBinding?alg={WATERMARK_ALG}&value={wm}"),
            "POST matches/byBinding (PDQ)": lambda: _call(
                "POST", f"{base}/matches/byBinding", json.dumps({"alg": PDQ_ALG, "value": pdq}).encode(),
                "application/json"),
            "GET manifests/{id}": lambda: _call("GET", f"{base}/manifests/{result.stamp_id}"),
            "POST matches/byContent (768x512 JPEG)": lambda: _call(
                "POST", f"{base}/matches/byContent", stripped, "image/jpeg"),
            "GET services/supportedAlgorithms": lambda: _call("GET", f"{base}/services/supportedAlgorithms"),
        }
        server_ms = {name: _ms(fn, args.runs) for name, fn in routes.items()}

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}/c2pa/v1"
        b = Settings(instance_path=Path(tmp) / "b", watermark_search="quick")
        configs = {"offline (no resolvers)": b, "resolver A": Settings(**{**b.__dict__, "resolvers": (base,)}),
                   "refusing resolver": Settings(**{**b.__dict__, "resolvers": (dead,)})}
        verifiers = {name: Verifier(s) for name, s in configs.items()}
        times: dict[str, list[float]] = {name: [] for name in configs}
        statuses = {}
        for name, v in verifiers.items():  # warm-up
            report = v.verify(stripped)
            statuses[name] = report.remote_resolution.status if report.remote_resolution else "not asked"
        for _ in range(args.runs):
            for name, v in verifiers.items():  # alternating
                t = time.perf_counter()
                v.verify(stripped)
                times[name].append(1000 * (time.perf_counter() - t))
        for v in verifiers.values():
            v.close()
        server.shutdown()
        server.server_close()
    med = {name: statistics.median(t) for name, t in times.items()}
    offline = med["offline (no resolvers)"]
    load = os.getloadavg()[0]
    lines = [
        "## Soft Binding Resolution API",
        "",
        run_header(f"python benchmarks/resolution.py --runs {args.runs}"),
        "",
        f"Server (werkzeug, one process, SQLite, loopback HTTP with urllib), median ms of {args.runs} requests:",
        "",
        "| route | ms |",
        "|---|---:|",
        *[f"| {name} | {ms:.1f} |" for name, ms in server_ms.items()],
        "",
        f"Client: `Verifier.verify` of the stripped copy on installation B, median ms of {args.runs} alternating runs:",
        "",
        "| resolvers | remote status | ms | × offline |",
        "|---|---|---:|---:|",
        *[f"| {name} | {statuses[name]} | {ms:.0f} | {ms / offline:.2f} |" for name, ms in med.items()],
        "",
        f"- 1-minute load average {load:.1f} on {os.cpu_count()} CPUs at the end",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section("resolution", text)


if __name__ == "__main__":
    main()
