"""Write one script's section of ``benchmarks/RESULTS.md``, leaving the other sections intact.

Each section sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. A section that
is not there yet is appended. Writes are atomic and serialised with a lock file, so two
benchmark scripts finishing together do not lose each other's section.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import platform
import re
from pathlib import Path

__all__ = ["RESULTS_PATH", "update_section", "run_header"]

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"

_TITLE = (
    "# Benchmark results\n\n"
    "Written by the scripts in `benchmarks/` (see `benchmarks/README.md`); each updates only its own section.\n"
)


def run_header(command: str) -> str:
    """One line saying when, where and how a section was produced."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    return f"_{now}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}: `{command}`_"


def update_section(name: str, body: str, *, path: Path = RESULTS_PATH) -> None:
    """Replace (or append) the section `name` of `path` with `body`.

    Parameters
    ----------
    name : str
        Section id, e.g. ``"robustness"``; letters, digits, ``-`` and ``_``.
    body : str
        Markdown, written between the markers.
    """
    if not re.fullmatch(r"[\w-]+", name):
        raise ValueError(f"section name must be letters, digits, - or _; got {name!r}")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    lock_path = Path(__file__).resolve().parent / ".cache" / "results.lock"  # git-ignored
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else _TITLE
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
