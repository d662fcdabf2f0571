"""The sweep: resized, recompressed and rotated copies planted among a million random hashes, and nothing else."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from provenance.cases import CaseHash, CaseStore, ContentIndex, PdqSnapshot, check_content_row, index_content, sweep_case
from provenance.errors import InvalidInputError
from provenance.hashing import file_digests, pack_hashes, pdq_dihedral_hashes, pdq_hash

from case_helpers import make_request


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _pdq(data: bytes):
    return pdq_hash(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


@pytest.fixture(scope="module")
def photos(shared_dir):
    original = Image.open(shared_dir / "samples" / "kodim03.png").convert("RGB")
    copies = {
        "resized": _jpeg(original.resize((384, 256)), 85),
        "recompressed": _jpeg(original, 30),
        "rotated": _jpeg(original.rotate(90, expand=True), 80),
    }
    others = {f"other-{name}": _jpeg(Image.open(shared_dir / "samples" / f"{name}.png"), 85)
              for name in ("kodim04", "kodim07", "kodim08")}
    variants = pdq_dihedral_hashes(np.asarray(original))
    case_hashes = [CaseHash("pdq", variants[0].to_hex(), variants[0].quality)]
    case_hashes += [CaseHash("pdqv", v.to_hex(), v.quality) for v in variants[1:]]
    return original, copies, others, case_hashes


def _random_codes(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, size=(n, 4), dtype=np.uint64)


@pytest.mark.slow
def test_planted_copies_among_a_million(photos):
    _, copies, others, case_hashes = photos
    n = 1_000_000
    codes = _random_codes(n)
    ids = [f"rand-{i}" for i in range(n)]
    planted = {**copies, **others}
    rng = np.random.default_rng(3)
    at = rng.choice(n, size=len(planted), replace=False)
    for pos, (name, data) in zip(at, planted.items()):
        codes[pos] = pack_hashes([_pdq(data)])[0]
        ids[pos] = name
    snap = PdqSnapshot(ids, codes)
    queries = pack_hashes(__import__("provenance").PerceptualHash.from_hex(h.value) for h in case_hashes)
    found = dict(snap.search(queries, 31))
    assert set(found) == set(copies), found
    assert all(d <= 31 for d in found.values())


def test_index_sweep_and_alert_on_reupload(registry, clock, sent, photos):
    _, copies, others, case_hashes = photos
    store = CaseStore(registry, clock=clock, notify=lambda e, p: sent.append((e, p)))
    digests = file_digests(copies["recompressed"])
    request = make_request(hashes=[h.to_dict() for h in case_hashes] + [{"kind": "sha256", "value": digests.sha256}])
    case_id = store.receive(request).case.case_id
    index = ContentIndex(registry)
    rows = [check_content_row(f"r{i}", pdq=pack_hex(c)) for i, c in enumerate(_random_codes(2000))]
    rows += [check_content_row(name, pdq=_pdq(d).to_hex(), quality=_pdq(d).quality,
                               sha256=file_digests(d).sha256) for name, d in {**copies, **others}.items()]
    index.record(rows)
    new = sweep_case(store, index, case_id)
    assert {(m.content_id, m.kind) for m in new} == {(n, "pdq") for n in copies} | {("recompressed", "sha256")}
    assert sweep_case(store, index, case_id) == []  # a re-run attaches nothing twice
    assert not any(m.alert for m in store.get(case_id).matches)

    store.mark_removed(case_id, actor="reviewer:a", what="all three")
    alerts = index_content(store, index, [check_content_row("reupload-9", pdq=_pdq(copies["resized"]).to_hex()),
                                          check_content_row("cat-1", pdq=pack_hex(_random_codes(1, 99)[0]))])
    assert [(c, m.content_id, m.alert) for c, m in alerts] == [(case_id, "reupload-9", True)]
    assert [e for e, _ in sent].count("sweep.match") == 2
    # The snapshot picks up rows added after it was built.
    assert "reupload-9" in {m.content_id for m in store.get(case_id).matches}
    assert "reupload-9" in dict(index.snapshot().search(pack_hashes([_pdq(copies["resized"])]), 0))


def pack_hex(row: np.ndarray) -> str:
    return row.astype(">u8").tobytes().hex()


@pytest.mark.parametrize("bad", [dict(content_id="", pdq="0" * 64), dict(content_id="x"),
                                 dict(content_id="x", pdq="0" * 63), dict(content_id="x", md5="g" * 32),
                                 dict(content_id="x" * 201, md5="a" * 32), dict(content_id="x", pdq="0" * 64, quality=500)])
def test_malformed_content_rows(bad):
    with pytest.raises(InvalidInputError):
        check_content_row(bad.pop("content_id"), **bad)


def test_record_is_all_or_nothing(registry):
    index = ContentIndex(registry)
    with pytest.raises(InvalidInputError):
        index.record([check_content_row("a", md5="a" * 32), "not a row"])
    assert index.count() == 0
