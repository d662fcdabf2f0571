"""Tests for provenance.banks and provenance.search, on SQLite and the real PostgreSQL.

PostgreSQL cases use ``PROVENANCE_TEST_POSTGRES_URL`` (``scripts/postgres`` prints one) and a
fresh schema per test, as tests/test_registry.py does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from provenance.banks import (
    BankEntry,
    BankExistsError,
    BankNotFoundError,
    Banks,
    HashListError,
    REVIEW_NOTE,
    parse_hash_list,
)
from provenance.errors import InvalidInputError
from provenance.hashing import PerceptualHash, pdq_dihedral_hashes, pdq_hash
from provenance.registry import STAMPED_OUTPUTS_BANK, Registry, StampRecord
from provenance.search import HashIndex, brute_force_search

@pytest.fixture
def registry(db_url: str):
    with Registry(db_url) as reg:
        yield reg


@pytest.fixture
def banks(registry: Registry) -> Banks:
    return Banks(registry)


def _random_hexes(n: int, seed: int = 0) -> list[str]:
    raw = np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes().hex()
    return [raw[i : i + 64] for i in range(0, len(raw), 64)]


def _flip_bits(hex_value: str, count: int, seed: int = 1) -> str:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_value), dtype=np.uint8))
    where = np.random.default_rng(seed).choice(256, size=count, replace=False)
    bits[where] ^= 1
    return np.packbits(bits).tobytes().hex()


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("n", [0, 1, 5_000, 40_000])
@pytest.mark.parametrize("radius", [0, 7, 31, 39, 52])
def test_index_finds_exactly_what_brute_force_finds(n: int, radius: int) -> None:
    rng = np.random.default_rng(n + radius)
    codes = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)
    index = HashIndex(codes, min_indexed=1)  # force the tables even for small n
    # Queries near stored hashes at distances around the radius, plus random ones.
    picks = codes[rng.integers(0, max(n, 1), 12)] if n else rng.integers(0, 2**63, size=(12, 4), dtype=np.uint64)
    bits = np.unpackbits(picks.view(np.uint8), axis=1)
    for i in range(12):
        bits[i, rng.choice(256, size=max(0, radius - 6 + i), replace=False)] ^= 1
    queries = np.ascontiguousarray(np.packbits(bits, axis=1).view(np.uint64))
    got = index.search(queries, radius)
    want = brute_force_search(index.codes, queries, radius)
    assert np.array_equal(got.query, want.query)
    assert np.array_equal(got.position, want.position)
    assert np.array_equal(got.distance, want.distance)
    if n and radius >= 6:
        assert len(got) >= 1  # the near-copy at distance <= radius is found
    assert index.indexed == (n >= 1)


def test_index_built_in_threads_is_the_same_index(monkeypatch: pytest.MonkeyPatch) -> None:
    import provenance.search as search

    monkeypatch.setattr(search, "_THREADED_BUILD_MIN", 1_000)  # threads from 1,000 hashes, not 1M, to keep this fast
    codes = np.random.default_rng(8).integers(0, 2**64, size=(40_000, 4), dtype=np.uint64, endpoint=False)
    monkeypatch.setattr(search, "_BUILD_THREADS", 1)
    one = HashIndex(codes)
    monkeypatch.setattr(search, "_BUILD_THREADS", 4)
    four = HashIndex(codes)
    for a, b in zip(one.arrays(), four.arrays()):
        assert np.array_equal(a, b)
    assert len(four.search(codes[:5], 31)) >= 5


def test_index_memory_per_hash() -> None:
    from provenance.search import _bucket_bits

    codes = np.random.default_rng(3).integers(0, 2**64, size=(200_000, 4), dtype=np.uint64, endpoint=False)
    index = HashIndex(codes)
    # hash 32 + 7 permutations x 4 + offsets (8 tables of 2**bits + 1 int32)
    expected = 32 * 200_000 + 7 * 4 * 200_000 + 8 * ((1 << _bucket_bits(200_000)) + 1) * 4
    assert index.indexed and index.memory_bytes == expected and index.memory_bytes / len(index) <= 68
    # At 10M hashes (the memory bar) the buckets stop at 2**20 per table: <= 64 bytes per hash.
    n = 10_000_000
    assert _bucket_bits(n) == 20 and (32 * n + 28 * n + 8 * ((1 << 20) + 1) * 4) / n <= 64
    assert codes.flags.writeable and not index.codes.flags.writeable  # caller's array untouched, ours frozen


@pytest.mark.parametrize("bad", [np.zeros((3, 3), np.uint64), np.zeros((3, 4), np.int64), [[1, 2, 3, 4]]])
def test_search_rejects_bad_arrays(bad) -> None:
    with pytest.raises(InvalidInputError, match=r"\(N, 4\) uint64"):
        HashIndex(bad)
    with pytest.raises(InvalidInputError, match="queries"):
        HashIndex(np.zeros((2, 4), np.uint64)).search(bad, 31)


@pytest.mark.parametrize("radius", [-1, 129, 3.5, True])
def test_search_rejects_bad_radius(radius) -> None:
    with pytest.raises(InvalidInputError, match="max_distance"):
        HashIndex(np.zeros((2, 4), np.uint64)).search(np.zeros((1, 4), np.uint64), radius)


# --------------------------------------------------------------------------- bank management


def test_migration_makes_the_stamped_outputs_bank(banks: Banks) -> None:
    (bank,) = banks.list()
    assert bank.name == STAMPED_OUTPUTS_BANK and bank.label == "stamped-outputs"
    assert bank.threshold == 31 and bank.enabled and bank.entry_count == 0


def test_create_get_update_and_errors(banks: Banks) -> None:
    bank = banks.create("stopncii", label="ncii", description="StopNCII list")
    assert (bank.name, bank.label, bank.threshold, bank.enabled) == ("stopncii", "ncii", 31, True)
    with pytest.raises(BankExistsError, match="exists already"):
        banks.create("stopncii", label="ncii")
    with pytest.raises(BankNotFoundError, match="provenance bank list"):
        banks.get("nope")
    changed = banks.update("stopncii", threshold=20, enabled=False)
    assert (changed.threshold, changed.enabled) == (20, False) and changed.version > bank.version
    for kwargs, word in [({"label": "NCII!"}, "label"), ({"threshold": 300}, "threshold"), ({"label": ""}, "label")]:
        with pytest.raises(InvalidInputError, match=word):
            banks.create("other", **{"label": "x", **kwargs})
    with pytest.raises(InvalidInputError, match="bank name"):
        banks.create("../etc", label="x")
    assert [b.name for b in banks.list()] == [STAMPED_OUTPUTS_BANK, "stopncii"]


def test_import_csv_then_export_round_trip(banks: Banks, tmp_path: Path) -> None:
    banks.create("b", label="ncii")
    hexes = _random_hexes(50)
    rows = [f"{h},{i % 101},stopncii,case-{i},2024-05-06T07:08:09Z" for i, h in enumerate(hexes)]
    rows.append(f"{'ab' * 16},,ncmec,c-md5,2024-01-01")
    text = "hash,quality,source,case_id,date\n" + "\n".join(rows[:-1]) + "\n"
    result = banks.import_hashes("b", text.encode(), format="csv")
    assert result.added == 50 and result.skipped == 0
    banks.add("b", [BankEntry("AB" * 16, kind="md5", source="ncmec", case_id="c-md5")])
    assert banks.get("b").entry_count == 51 and banks.get("b").pdq_count == 50
    out = tmp_path / "b.json"
    assert banks.export("b", out, format="json") == 51
    doc = json.loads(out.read_text())
    by_hash = {h["hash"]: h for h in doc["hashes"]}  # exported in insertion order (sorted within an import)
    assert doc["label"] == "ncii" and set(by_hash) == set(hexes) | {"ab" * 16}
    assert by_hash[hexes[0]]["case_id"] == "case-0" and by_hash[hexes[0]]["date"] == "2024-05-06T07:08:09+00:00"
    assert doc["hashes"][-1] == {"hash": "ab" * 16, "kind": "md5", "quality": None, "source": "ncmec",
                                 "case_id": "c-md5", "date": None}
    banks.create("copy", label="ncii")
    assert banks.import_hashes("copy", out).added == 51  # our JSON export imports as is
    buf = io.StringIO()
    banks.export("copy", buf, format="csv")
    key = lambda e: (e.kind, e.value)  # noqa: E731
    assert sorted(parse_hash_list(buf.getvalue().encode(), format="csv"), key=key) == sorted(banks.entries("b"), key=key)


def test_bare_list_of_hashes_imports(banks: Banks) -> None:
    banks.create("bare", label="terror")
    hexes = _random_hexes(3, seed=9)
    assert banks.import_hashes("bare", ("\n".join(h.upper() for h in hexes) + "\n").encode()).added == 3
    assert sorted(e.value for e in banks.entries("bare")) == sorted(hexes)  # stored lowercase


@pytest.mark.parametrize(
    "text, message",
    [
        ("hash\n" + "g" * 64 + "\n", "line 2: a hash may contain only hex digits"),
        ("hash\n" + "a" * 63 + "\n", "line 2: a pdq hash is 64 hex digits; got 63"),
        ("hash,kind\n" + "a" * 64 + ",md5\n", "a md5 hash is 32 hex digits"),
        ("hash,kind\n" + "a" * 64 + ",sha1\n", "kind must be one of"),
        ("hash\n" + "a" * 64 + "\n" + "b" * 64 + "\n" + "A" * 64 + "\n", r"line 4: duplicate pdq hash a{64} \(also on line 2\)"),
        ("hash,colour\n" + "a" * 64 + ",red\n", "header must name a 'hash' column"),
        ("hash,quality\n" + "a" * 64 + ",101\n", "quality must be a whole number 0-100"),
        ("hash,date\n" + "a" * 64 + ",yesterday\n", "date must be ISO 8601"),
        ("hash,source\n" + "a" * 64 + "\n", "1 fields, but the header names 2"),
        ("", "holds no hashes"),
        ('{"hashes": 5}', "a list of hashes"),
        ('[{"hash": "' + "a" * 64 + '", "image": "..."}]', "item 1: needs a 'hash' and only keys"),
        ("[\"" + "é" * 64 + "\"]", "only hex digits"),
    ],
)
def test_bad_lists_are_refused_and_the_bank_is_unchanged(banks: Banks, text: str, message: str) -> None:
    banks.create("b", label="ncii")
    banks.add("b", ["c" * 64])
    before = banks.get("b")
    with pytest.raises(HashListError, match=message):
        banks.import_hashes("b", text.encode())
    after = banks.get("b")
    assert (after.entry_count, after.version) == (before.entry_count, before.version)
    assert [e.value for e in banks.entries("b")] == ["c" * 64]


def test_huge_and_duplicate_imports_are_refused_whole(registry: Registry) -> None:
    banks = Banks(registry, max_import_rows=100)
    banks.create("b", label="ncii")
    hexes = _random_hexes(101, seed=4)
    with pytest.raises(HashListError, match="101 rows; one import takes at most 100"):
        banks.import_hashes("b", "\n".join(hexes).encode())
    banks.add("b", hexes[:10])
    with pytest.raises(HashListError, match=f"line 1: pdq hash {hexes[0]} is already in bank 'b' \\(10 of the 20"):
        banks.add("b", hexes[:20])
    assert banks.get("b").entry_count == 10
    result = banks.add("b", hexes[:20], skip_existing=True)
    assert (result.added, result.skipped) == (10, 10) and banks.get("b").entry_count == 20


def test_withdraw_deletes_and_takes_effect_on_the_next_query(banks: Banks, db_url: str) -> None:
    banks.create("b", label="ncii")
    hexes = _random_hexes(20, seed=5)
    banks.add("b", hexes)
    near = PerceptualHash.from_hex(_flip_bits(hexes[3], 12))
    assert [(m.value, m.distance) for m in banks.match(near)] == [(hexes[3], 12)]
    with Registry(db_url) as other:  # another process withdraws
        with pytest.raises(InvalidInputError, match="not in bank 'b'.*nothing was withdrawn"):
            Banks(other).withdraw("b", [hexes[3], "d" * 64])
        assert Banks(other).withdraw("b", [hexes[3]]) == 1
    assert banks.match(near) == ()
    assert banks.get("b").entry_count == 19
    with pytest.raises(InvalidInputError, match="64 hex digits"):
        banks.withdraw("b", ["xyz"])


# --------------------------------------------------------------------------- matching


def test_match_reports_bank_label_distance_threshold_source(banks: Banks, db_url: str) -> None:
    banks.create("ncii-list", label="ncii", threshold=31)
    banks.create("strict", label="terror", threshold=5)
    banks.create("off", label="csam", enabled=False)
    target = _random_hexes(1, seed=6)[0]
    banks.add("ncii-list", [BankEntry(target, source="stopncii", case_id="case-7")] + _random_hexes(100, seed=7))
    banks.add("strict", [target])
    banks.add("off", [target])
    query = PerceptualHash.from_hex(_flip_bits(target, 20))
    (m,) = banks.match(query)  # strict's threshold (5) and the disabled bank leave one match
    assert (m.bank, m.label, m.distance, m.threshold, m.source, m.case_id) == ("ncii-list", "ncii", 20, 31, "stopncii", "case-7")
    assert banks.match(PerceptualHash.from_hex(_flip_bits(target, 32))) == ()  # just past the threshold
    # Appended hashes are seen without a reload, and a threshold change applies at once.
    banks.add("strict", [_random_hexes(1, seed=8)[0]])
    banks.update("strict", threshold=25)
    assert sorted(x.bank for x in banks.match(query)) == ["ncii-list", "strict"]
    result = banks.check([query])
    assert result.status == "matched" and REVIEW_NOTE in result.explanation and result.labels == {"ncii": 1, "terror": 1}


def test_flat_images_are_unmatchable_not_no_match(banks: Banks) -> None:
    banks.create("b", label="ncii")
    banks.add("b", _random_hexes(3))
    flat = np.full((300, 300, 3), 128, np.uint8)
    result = banks.check(pdq_dihedral_hashes(flat))
    assert result.status == "unmatchable" and "not a 'no match'" in result.explanation


def test_exact_md5_and_sha256_match(banks: Banks, tmp_path: Path) -> None:
    import hashlib

    data = b"not an image but a video, say"
    banks.create("video", label="ncii")
    banks.add("video", [BankEntry(hashlib.md5(data).hexdigest(), kind="md5", case_id="v1")])
    (m,) = banks.match((), md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest())
    assert (m.kind, m.distance, m.case_id, m.variant) == ("md5", 0, "v1", None)


def test_exact_hashes_added_or_withdrawn_by_another_process_are_seen(banks: Banks, db_url: str) -> None:
    # Without MD5/SHA-256 entries in any enabled bank, no exact lookup runs; each match decides
    # that afresh from the database, so another process's changes apply on the next match.
    import hashlib

    data = b"a file reported by its digests"
    md5, sha256 = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    banks.create("pdq-only", label="ncii")
    banks.add("pdq-only", _random_hexes(5, seed=11))
    assert banks.match((), md5=md5, sha256=sha256) == ()
    assert banks.check((), md5=md5, sha256=sha256).status == "no_match"
    with Registry(db_url) as other_registry:  # another process
        other = Banks(other_registry)
        other.add("pdq-only", [BankEntry(sha256, kind="sha256", case_id="s1")])
        (m,) = banks.match((), md5=md5, sha256=sha256)
        assert (m.bank, m.kind, m.value, m.case_id) == ("pdq-only", "sha256", sha256, "s1")
        other.create("digests", label="csam")
        other.add("digests", [BankEntry(md5, kind="md5")])
        assert [(x.bank, x.kind) for x in banks.match((), md5=md5, sha256=sha256)] == [
            ("digests", "md5"), ("pdq-only", "sha256")]  # same distance: by label, then bank
        other.update("digests", enabled=False)
        assert [x.kind for x in banks.check((), md5=md5, sha256=sha256).matches] == ["sha256"]
        assert other.withdraw("pdq-only", [sha256], kind="sha256") == 1
        assert banks.match((), md5=md5, sha256=sha256) == ()
        other.update("digests", enabled=True)
        assert [x.kind for x in banks.match((), md5=md5)] == ["md5"]


def test_banks_checked_follows_banks_made_or_disabled_elsewhere(banks: Banks, db_url: str) -> None:
    query = PerceptualHash.from_hex(_random_hexes(1, seed=12)[0])
    assert banks.check([query]).banks_checked == 1  # stamped-outputs
    with Registry(db_url) as other_registry:
        other = Banks(other_registry)
        other.create("new", label="ncii")
        other.create("off", label="csam", enabled=False)
        result = banks.check([query])
        assert (result.status, result.banks_checked) == ("no_match", 2)
        assert "No match in 2 enabled hash banks." == result.explanation
        other.update(STAMPED_OUTPUTS_BANK, enabled=False)
        other.update("new", enabled=False)
        assert banks.check([query]).status == "not_configured" and banks.check([query]).banks_checked == 0


def test_check_with_digests_only_and_its_audit_event(banks: Banks) -> None:
    import hashlib

    data = b"a video's bytes"
    md5, sha256 = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    banks.create("video", label="ncii")
    banks.add("video", [BankEntry(md5, kind="md5")])
    hit = banks.check((), md5=md5, audit=True)
    assert hit.status == "matched" and hit.pdq is None and hit.matches[0].kind == "md5"
    miss = banks.check((), sha256=sha256, audit=True)
    assert miss.status == "no_match" and "exact hashes only" in miss.explanation
    events = banks.registry.audit_events()
    assert [(e.kind, e.sha256, e.verdict) for e in events] == [("match", "0" * 64, "matched"), ("match", sha256, "no_match")]
    assert events[0].detail["bank_matches"] == {"ncii": 1}
    with pytest.raises(InvalidInputError):
        banks.check(())


def test_mirrored_copy_of_a_photo_matches_through_dihedrals(banks: Banks, shared_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    photo = np.asarray(Image.open(shared_dir / "samples" / "kodim03.png").convert("RGB"))
    banks.create("b", label="ncii")
    banks.add("b", [pdq_hash(photo)])
    mirrored = tmp_path / "mirrored.jpg"
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(mirrored, quality=70)
    result = banks.match_file(mirrored, audit=True)
    assert result.status == "matched" and result.matches[0].variant == "flip_y"
    assert result.matches[0].distance <= 31
    (event,) = banks.registry.audit_events()
    assert event.kind == "match" and event.verdict == "matched" and event.detail["bank_matches"] == {"ncii": 1}
    other = np.asarray(Image.open(shared_dir / "samples" / "kodim23.png").convert("RGB")) if (
        shared_dir / "samples" / "kodim23.png").exists() else photo[::-1, :, ::-1].copy()
    assert banks.check(pdq_dihedral_hashes(np.ascontiguousarray(other[:, :, ::-1]))).status in ("no_match", "matched")


def test_stamps_land_in_the_stamped_outputs_bank(registry: Registry, banks: Banks) -> None:
    phash = _random_hexes(1, seed=11)[0]
    record = StampRecord.new(generator="gen-1", manifest_json="{}", sha256="0" * 64, phash=phash)
    registry.record_stamp(record)
    (m,) = banks.match(PerceptualHash.from_hex(_flip_bits(phash, 9)))
    assert (m.bank, m.label, m.source, m.case_id, m.distance) == (STAMPED_OUTPUTS_BANK, "stamped-outputs", "gen-1", record.stamp_id, 9)
    assert banks.get(STAMPED_OUTPUTS_BANK).entry_count == 1


def test_free_text_with_tabs_and_backslashes_survives_import(banks: Banks) -> None:
    banks.create("b", label="ncii")
    doc = [{"hash": "e" * 64, "source": "tab\there \\ back\\nslash", "case_id": "line\nbreak"}]
    assert banks.import_hashes("b", json.dumps(doc).encode()).added == 1
    (entry,) = banks.entries("b")
    assert (entry.source, entry.case_id) == ("tab\there \\ back\\nslash", "line\nbreak")


def test_quoted_csv_fields_keep_their_commas(banks: Banks) -> None:
    banks.create("q", label="ncii")
    hexes = _random_hexes(2, seed=21)
    text = f'hash,source,case_id\n{hexes[0]},"Helpline, UK",case-1\n{hexes[1]},plain,"case ""2"""\n'
    assert banks.import_hashes("q", text.encode(), format="csv").added == 2
    got = {e.value: (e.source, e.case_id) for e in banks.entries("q")}
    assert got == {hexes[0]: ("Helpline, UK", "case-1"), hexes[1]: ("plain", 'case "2"')}
    with pytest.raises(HashListError, match="line 2"):  # unquoted, the comma makes a fourth field
        banks.import_hashes("q", f"hash,source,case_id\n{_random_hexes(1, seed=22)[0]},Helpline, UK,c\n".encode())
    assert len(banks.entries("q")) == 2  # unchanged
