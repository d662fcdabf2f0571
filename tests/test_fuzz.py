"""Fuzz the decoders through the web app: truncated and mutated fixtures of every image format get 4xx or
2xx, never 5xx, and no exception escapes (issue 11, finding 1).

A small seeded sample runs by default; the full set of ``benchmarks/fuzz.py`` (which also times it and
writes benchmarks/RESULTS.md) is marked slow: ``pytest --run-slow tests/test_fuzz.py``, and CI runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402

#: Mutations per format: 2 by default, the benchmark's 40 with ``--run-slow``.
QUICK_CASES, FULL_CASES = 2, 40


def _check(fmt: str, shared_dir: Path, count: int, seed: int) -> None:
    run = fuzz.run_format(fmt, seed=seed, count=count, shared=shared_dir)
    assert run.requests == count * len(fuzz.ENDPOINTS)
    assert (run.server_errors, run.uncaught) == (0, 0), run.failures
    assert run.ok + run.client_errors == run.requests


@pytest.mark.parametrize("fmt", list(fuzz.FIXTURES))
def test_mutated_files_never_get_a_5xx(fmt: str, shared_dir: Path) -> None:
    _check(fmt, shared_dir, QUICK_CASES, seed=7)


def test_mutations_are_seeded_and_damaged(shared_dir: Path) -> None:
    data = fuzz.fixture_bytes("PNG", shared_dir)
    first = list(fuzz.mutations(data, seed=3, count=6))
    assert first == list(fuzz.mutations(data, seed=3, count=6))
    assert all(copy != data for _, copy in first) and len(first[0][1]) < len(data)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(fuzz.FIXTURES))
def test_full_fuzz_never_gets_a_5xx(fmt: str, shared_dir: Path) -> None:
    _check(fmt, shared_dir, FULL_CASES, seed=11)
