"""Banks is thread-safe: a matcher paused inside its search while another thread changes the bank
still answers from one consistent snapshot (probe finding 4).

Each test pauses one matcher thread at a chosen point of the search (a hook on the real search
function, no mocks), changes the bank from the main thread, then lets the matcher finish.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
import pytest

from provenance.banks import Banks
from provenance.hashing import PerceptualHash
from provenance.registry import Registry
from provenance.search import HashIndex

# Where the loaded-bank search lives (it calls brute_force_search on the appended delta) and the
# name of the delta size that triggers a rebuild of the index.
SEARCH_MODULE = "provenance.banks.index"
DELTA_MAX_NAME = "DELTA_MAX"


def _hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def _flip(hex_value: str, n: int, rng: np.random.Generator) -> str:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_value), dtype=np.uint8))
    bits[rng.choice(256, size=n, replace=False)] ^= 1
    return _hex(bits)


def _random(rng: np.random.Generator) -> str:
    return _hex(rng.integers(0, 2, 256))


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


class _Pause:
    """Wraps a search function (`hook`): its first call on a non-empty bank in the matcher thread
    waits after returning (the empty ``stamped-outputs`` bank is searched too)."""

    def __init__(self, fn):
        self.paused, self.resume, self.done = threading.Event(), threading.Event(), False

        def hook(*args, **kwargs):
            out = fn(*args, **kwargs)
            if threading.current_thread().name == "matcher" and len(args[0]) and not self.done:
                self.done = True
                self.paused.set()
                assert self.resume.wait(10), "the test never resumed the matcher"
            return out

        self.hook = hook


def _run_matcher(banks: Banks, query: str, pause: _Pause, change) -> tuple:
    result: dict = {}

    def target() -> None:
        try:
            result["matches"] = banks.match(PerceptualHash.from_hex(query, quality=100))
        except BaseException as exc:  # reported to the test below
            result["error"] = exc

    thread = threading.Thread(target=target, name="matcher")
    thread.start()
    assert pause.paused.wait(10), "the matcher never reached the search"
    try:
        change()
    finally:
        pause.resume.set()
        thread.join(10)
    assert "error" not in result, f"the matcher failed: {result.get('error')!r}"
    return result["matches"]


@pytest.fixture
def banks(tmp_path: Path):
    with Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}") as registry:
        with Banks(registry) as b:
            yield b


def test_threshold_change_during_a_search_is_not_mixed_in(banks: Banks, monkeypatch) -> None:
    rng = np.random.default_rng(1)
    query = _random(rng)
    near = _flip(query, 20, rng)
    banks.create("b", label="ncii", threshold=31)
    banks.add("b", [near] + [_random(rng) for _ in range(20)])
    banks.match(PerceptualHash.from_hex(query, quality=100))  # load
    pause = _Pause(HashIndex.search)
    monkeypatch.setattr(HashIndex, "search", pause.hook)

    def change() -> None:
        banks.update("b", threshold=10)
        assert banks.match(PerceptualHash.from_hex(query, quality=100)) == ()  # the new threshold is live

    matches = _run_matcher(banks, query, pause, change)
    assert [m.value for m in matches] == [near]
    assert all(m.distance <= m.threshold for m in matches), [(m.distance, m.threshold) for m in matches]
    assert matches[0].threshold == 31  # the snapshot the search started with


def test_index_rebuild_during_a_search_keeps_the_true_match(banks: Banks, monkeypatch) -> None:
    rng = np.random.default_rng(2)
    monkeypatch.setattr(HashIndex.__init__, "__kwdefaults__", {"min_indexed": 1})  # a sorted index, small
    monkeypatch.setattr(importlib.import_module(SEARCH_MODULE), DELTA_MAX_NAME, 0)
    query = _random(rng)
    banks.create("b", label="ncii")
    banks.add("b", [query] + [_random(rng) for _ in range(64)])
    banks.match(PerceptualHash.from_hex(query, quality=100))  # load
    pause = _Pause(HashIndex.search)
    monkeypatch.setattr(HashIndex, "search", pause.hook)
    # Nine hashes that sort first in the rebuilt index, shifting every old position.
    low = [f"{'0' * 63}{i + 1:x}" for i in range(9)]

    def change() -> None:
        banks.add("b", low)
        banks.match(PerceptualHash.from_hex(query, quality=100))  # appends 9 > 65 // 8: rebuilds the index

    matches = _run_matcher(banks, query, pause, change)
    assert [(m.value, m.distance) for m in matches] == [(query, 0)]
    assert all(_distance(m.value, query) == m.distance for m in matches)


def test_delta_compaction_during_a_search_does_not_fail(banks: Banks, monkeypatch) -> None:
    rng = np.random.default_rng(3)
    module = importlib.import_module(SEARCH_MODULE)
    monkeypatch.setattr(module, DELTA_MAX_NAME, 1)
    query = _random(rng)
    banks.create("b", label="ncii")
    banks.add("b", [_random(rng) for _ in range(4)])
    banks.match(PerceptualHash.from_hex(query, quality=100))  # load the index
    banks.add("b", [query])
    banks.match(PerceptualHash.from_hex(query, quality=100))  # the query's hash goes to the delta
    pause = _Pause(module.brute_force_search)
    monkeypatch.setattr(module, "brute_force_search", pause.hook)

    def change() -> None:
        banks.add("b", [_random(rng)])
        banks.match(PerceptualHash.from_hex(query, quality=100))  # delta 2 > 1: folded into the index

    matches = _run_matcher(banks, query, pause, change)
    assert [(m.value, m.distance) for m in matches] == [(query, 0)]
