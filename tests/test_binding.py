"""Copied and removed watermarks at the verdict level (issue 13), and the image fingerprint.

Real stamps (c2pa, development CA, SQLite registry), the keyless attacks of
:mod:`provenance.keyless_attacks`, and the verdicts they must get.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance import keyless_attacks
from provenance.attacks import crop_center, jpeg, rotate
from provenance.binding import StampIndex, check_image
from provenance.errors import InvalidInputError
from provenance.fingerprint import Fingerprint, compare_fingerprint, make_fingerprint
from provenance.hashing import pdq_dihedral_hashes
from provenance.images import decode_image
from provenance.registry import Registry
from provenance.report import Verifier
from provenance.settings import Settings
from provenance.stamp import Stamper
from provenance.transparency import transparency_report

VOUCHING = {"ai_generated_recovered", "ai_generated_trusted", "ai_generated_valid"}


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _photo(shared_dir: Path, name: str) -> np.ndarray:
    with Image.open(shared_dir / "samples" / f"{name}.png") as im:
        return np.array(im.convert("RGB"))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(instance_path=tmp_path_factory.mktemp("binding") / "instance")


@pytest.fixture(scope="module")
def stamper(settings: Settings):
    with Stamper(settings) as s:
        yield s


@pytest.fixture(scope="module")
def stamp_a(stamper: Stamper, shared_dir: Path):
    result = stamper.stamp_image(_photo(shared_dir, "kodim03"), generator="test-diffusion 2.0")
    return result, decode_image(result.data)


@pytest.fixture(scope="module")
def stamp_b(stamper: Stamper, shared_dir: Path):
    result = stamper.stamp_image(_photo(shared_dir, "kodim07"), generator="other-model 1.0")
    return result, decode_image(result.data)


@pytest.fixture(scope="module")
def verifier(settings: Settings, stamper: Stamper, stamp_a, stamp_b):
    with Verifier(settings, registry=stamper.registry) as v:
        yield v


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_round_trips_and_is_small(stamp_a) -> None:
    _, marked = stamp_a
    fp = make_fingerprint(marked)
    blob = fp.to_bytes()
    assert len(blob) <= 7 + 64 * 64
    back = Fingerprint.from_bytes(blob)
    assert (back.width, back.height) == (marked.shape[1], marked.shape[0])
    assert np.array_equal(back.thumbnail, fp.thumbnail)


@pytest.mark.parametrize("blob", [b"", b"\x01\x00", b"\x02" + bytes(6), b"\x01\x00\x10\x00\x10\x08\x08" + bytes(10)])
def test_corrupt_fingerprint_is_bad_input(blob: bytes) -> None:
    with pytest.raises(InvalidInputError, match="fingerprint"):
        Fingerprint.from_bytes(blob)


@pytest.mark.parametrize(("attack", "geometry"), [
    (lambda im: crop_center(im, 0.71), {}),
    (lambda im: rotate(im, 5), {"rotation_degrees": 5.0, "scale": 1.0}),
    (lambda im: np.ascontiguousarray(im[:, ::-1]), {"mirrored": True}),
    (lambda im: np.asarray(Image.fromarray(im).resize((im.shape[1] // 2, im.shape[0] // 2))), {}),
    (lambda im: crop_center(np.asarray(Image.fromarray(im).resize((im.shape[1] * 3 // 4, im.shape[0] * 3 // 4))), 0.8),
     {"scale": 0.75}),
])
def test_fingerprint_matches_crops_rotations_and_resizes(stamp_a, attack, geometry) -> None:
    _, marked = stamp_a
    fp = make_fingerprint(marked)
    attacked = attack(marked)
    match = compare_fingerprint(attacked, fp, **geometry)
    assert match.status == "match", match
    assert match.similarity >= 0.8


def test_a_rotated_copy_needs_the_recovered_rotation(stamp_a) -> None:
    _, marked = stamp_a
    fp = make_fingerprint(marked)
    rotated = rotate(marked, 5)
    with_geometry = compare_fingerprint(rotated, fp, scale=1.0, rotation_degrees=-5.0)  # either sign works
    assert with_geometry.similarity > compare_fingerprint(rotated, fp, scale=1.0).similarity


def test_fingerprint_rejects_another_photo(stamp_a, shared_dir: Path) -> None:
    _, marked = stamp_a
    match = compare_fingerprint(_photo(shared_dir, "kodim04"), make_fingerprint(marked), scale=1.0,
                                rotation_degrees=0.0, mirrored=False)
    assert match.status != "match" and match.similarity < 0.8, match


def test_compare_does_not_change_the_upload(stamp_a) -> None:
    _, marked = stamp_a
    before = marked.copy()
    compare_fingerprint(marked, make_fingerprint(marked), scale=1.0)
    assert np.array_equal(marked, before)


# --------------------------------------------------------------------------- copy attack


@pytest.mark.parametrize("variant", ["plain", "jpeg80", "resize0.75"])
def test_copied_mark_is_its_own_verdict(verifier: Verifier, stamp_a, shared_dir: Path, variant: str) -> None:
    result, marked = stamp_a
    planted = keyless_attacks.copy_mark(marked, _photo(shared_dir, "kodim04"))
    assert keyless_attacks.psnr(_photo(shared_dir, "kodim04"), planted) > 36
    planted = {"plain": planted, "jpeg80": jpeg(planted, 80),
               "resize0.75": keyless_attacks.resize_to(planted, 0.75)}[variant]
    report = verifier.verify(_png(planted), name="news-photo.png")
    # The attack works on the mark (that is the point of the test) ...
    assert report.watermark.stamp_id == result.stamp_id
    # ... but the verdict does not vouch for the stamp's credentials. After a resize the 64 px
    # fingerprint of another photo can fall in the undecided band: "unconfirmed" never vouches either.
    if variant == "resize0.75" and report.verdict.code == "watermark_unconfirmed":
        assert report.to_dict()["registry"]["image_check"]["status"] == "unconfirmed"
        return
    assert report.verdict.code == "watermark_copied", report.verdict
    assert result.stamp_id in report.verdict.headline and "copied" in report.verdict.headline
    assert any("do not apply" in r for r in report.verdict.reasons)
    out = report.to_dict()
    assert out["registry"]["image_check"]["status"] == "mismatch"
    assert out["registry"]["image_check"]["method"] == "fingerprint"


def test_the_stamped_picture_itself_still_verifies(verifier: Verifier, stamp_a) -> None:
    result, marked = stamp_a
    report = verifier.verify(_png(marked), name="stripped.png")
    assert report.verdict.code == "ai_generated_recovered"
    assert report.registry.image_check.status == "confirmed"


@pytest.mark.parametrize("attack", [lambda im: crop_center(im, 0.71), lambda im: rotate(im, 5)])
def test_crops_and_rotations_confirmed_by_fingerprint(verifier: Verifier, stamp_a, attack) -> None:
    result, marked = stamp_a
    report = verifier.verify(_png(attack(marked)), name="crop.png")
    assert report.verdict.code == "ai_generated_recovered", report.verdict
    assert report.registry.image_check.confirmed
    assert report.registry.record.stamp_id == result.stamp_id


def test_copied_marks_are_counted_in_audit_and_transparency(verifier: Verifier, stamper: Stamper, stamp_a,
                                                            shared_dir: Path) -> None:
    result, marked = stamp_a
    report = verifier.verify(_png(keyless_attacks.copy_mark(marked, _photo(shared_dir, "kodim08"))))
    assert report.verdict.code == "watermark_copied"
    event = stamper.registry.audit_events()[-1]
    assert event.verdict == "watermark_copied" and event.stamp_id == result.stamp_id
    assert event.detail["image_check"] == "mismatch"
    totals = transparency_report(stamper.registry, since=date(2000, 1, 1)).totals()
    assert totals.verdicts.get("watermark_copied", 0) >= 1


# --------------------------------------------------------------------------- removal attack


def test_removed_mark_still_ties_the_near_copy_to_its_stamp(verifier: Verifier, stamp_a) -> None:
    result, marked = stamp_a
    removed = keyless_attacks.remove_mark(marked)
    report = verifier.verify(_png(removed), name="cleaned.png")
    assert not report.watermark.detected  # the keyless removal works on the mark ...
    assert report.verdict.code == "possible_match_watermark_missing", report.verdict  # ... not on provenance
    assert result.stamp_id in report.verdict.headline and "missing" in report.verdict.headline
    assert report.registry.lookup == "phash" and report.registry.record.stamp_id == result.stamp_id
    assert report.registry.recovered_manifest is not None
    assert any("possible match" in r for r in report.verdict.reasons)
    assert report.to_dict()["registry"]["near_copies"][0]["stamp_id"] == result.stamp_id


def test_unrelated_unmarked_photo_has_no_near_copy(verifier: Verifier, shared_dir: Path) -> None:
    report = verifier.verify(_png(_photo(shared_dir, "kodim04")))
    assert report.verdict.code == "no_signals"
    assert report.registry.near_copies == ()


def test_stamp_index_picks_up_new_stamps(stamper: Stamper, stamp_a, rng: np.random.Generator) -> None:
    index = StampIndex(stamper.registry)
    _, marked = stamp_a
    hashes = pdq_dihedral_hashes(marked)
    before = len(index.near_copies(hashes))
    assert before >= 1
    noise = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    new = stamper.stamp_image(noise, generator="noise 1")
    found = index.near_copies(pdq_dihedral_hashes(decode_image(new.data)))
    assert found and found[0].stamp_id == new.stamp_id and found[0].distance <= 31


# --------------------------------------------------------------------------- bad input


def test_two_stamps_marks_on_one_picture(verifier: Verifier, stamp_a, stamp_b) -> None:
    """B's mark planted on A's stamped picture: never B's credentials; A's picture stays tied to A."""
    a, marked_a = stamp_a
    b, marked_b = stamp_b
    both = keyless_attacks.copy_mark(marked_b, marked_a)
    report = verifier.verify(_png(both), name="two-marks.png")
    # Never B's credentials: B's picture is not this one.
    assert not (report.verdict.code in VOUCHING and report.registry.record.stamp_id == b.stamp_id)
    if report.watermark.stamp_id == b.stamp_id:
        assert report.verdict.code in ("watermark_copied", "watermark_unconfirmed")
        assert any(a.stamp_id in r and "near-copy" in r for r in report.verdict.reasons), report.verdict.reasons
    elif report.watermark.stamp_id == a.stamp_id:
        assert report.verdict.code == "ai_generated_recovered"
        assert report.registry.record.stamp_id == a.stamp_id
    else:  # the two marks garble each other: A's picture is still tied to A
        assert report.verdict.code == "possible_match_watermark_missing"
        assert report.registry.record.stamp_id == a.stamp_id


def test_withdrawn_stamp_is_not_vouched_for(settings: Settings, shared_dir: Path, tmp_path: Path) -> None:
    own = Settings(instance_path=tmp_path / "instance")
    with Stamper(own) as stamper, Verifier(own, registry=stamper.registry) as verifier:
        result = stamper.stamp_image(_photo(shared_dir, "kodim08"), generator="test-diffusion 2.0")
        record = stamper.registry.withdraw_stamp(result.stamp_id)
        assert record.withdrawn_at is not None
        again = stamper.registry.withdraw_stamp(result.stamp_id)
        assert again.withdrawn_at == record.withdrawn_at  # the first withdrawal wins
        report = verifier.verify(_png(decode_image(result.data)))
        assert report.verdict.code == "stamp_withdrawn"
        assert result.stamp_id in report.verdict.headline
        assert report.to_dict()["registry"]["record"]["withdrawn_at"] is not None
        with pytest.raises(InvalidInputError, match="No stamp"):
            stamper.registry.withdraw_stamp("0" * 16)


def test_deleted_record_and_another_key_ring(shared_dir: Path, tmp_path: Path, stamp_a) -> None:
    """Another installation: its mark is not read with our keys; our mark with an empty registry is unregistered."""
    other = Settings(instance_path=tmp_path / "other")
    with Stamper(other) as foreign:
        theirs = foreign.stamp_image(_photo(shared_dir, "kodim04"), generator="their-model")
    ours = Settings(instance_path=tmp_path / "ours")
    with Verifier(ours) as verifier:
        report = verifier.verify(_png(decode_image(theirs.data)))
        assert not report.watermark.detected and report.verdict.code == "no_signals"
    # Our stamp's record is not in this registry (deleted, or never recorded here).
    with Verifier(other) as verifier:
        result, marked = stamp_a
        verifier.keyring  # noqa: B018 (the other installation's keys do not read ours)
        report = verifier.verify(_png(marked))
        assert report.verdict.code in ("no_signals", "watermark_unregistered")
        assert report.verdict.code not in VOUCHING


def test_legacy_record_without_fingerprint(shared_dir: Path, tmp_path: Path) -> None:
    """Stamps recorded before fingerprints: whole-picture copies by PDQ (said so); the rest unconfirmed."""
    own = Settings(instance_path=tmp_path / "instance")
    with Stamper(own) as stamper, Verifier(own, registry=stamper.registry) as verifier:
        record, result = stamper._prepare(_photo(shared_dir, "kodim03"), generator="old-model", output_format="PNG",
                                          prompt_hash=None, requester=None, title=None)
        stamper.registry.record_stamp(replace(record, fingerprint=None))
        marked = decode_image(result.data)
        whole = verifier.verify(_png(jpeg(marked, 85)))
        assert whole.verdict.code == "ai_generated_recovered"
        assert whole.registry.image_check.method == "pdq"
        assert any("perceptual hash only" in r for r in whole.verdict.reasons)
        copied = verifier.verify(_png(keyless_attacks.copy_mark(marked, _photo(shared_dir, "kodim04"))))
        assert copied.verdict.code == "watermark_unconfirmed", copied.verdict
        assert copied.registry.image_check.method == "pdq_only"
        assert any("before image fingerprints" in r for r in copied.verdict.reasons)
        assert not copied.to_dict()["registry"]["record"]["has_fingerprint"]


def test_check_image_rejects_a_non_record() -> None:
    with pytest.raises(InvalidInputError, match="StampRecord"):
        check_image("not a record", sha256="0" * 64)  # type: ignore[arg-type]


def test_schema_6_migration_keeps_old_rows(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from provenance.registry import MIGRATIONS, SCHEMA_VERSION, StampRecord
    from provenance.registry.migrations import apply_migrations

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    apply_migrations(engine, MIGRATIONS[:5])
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO stamps (stamp_id, created_at, generator, manifest_json, sha256) "
            "VALUES ('00112233445566aa', '2024-01-01 00:00:00', 'old', '{}', :sha)"
        ), {"sha": "a" * 64})
    engine.dispose()
    with Registry(url) as reg:
        assert reg.schema_version == SCHEMA_VERSION >= 6
        old = reg.get_stamp("00112233445566aa")
        assert isinstance(old, StampRecord) and old.fingerprint is None and old.withdrawn_at is None


def test_a_crop_found_on_the_canonical_grid_matches_its_fingerprint(stamp_a) -> None:
    """Scheme v2 reports a crop's geometry on the size-normalised grid (an 80% crop reads as scale
    1.25 there); the fingerprint comparison converts it to pixels and still finds the picture."""
    _, marked = stamp_a
    crop = crop_center(marked, 0.8)
    match = compare_fingerprint(crop, make_fingerprint(marked), scale=1 / 0.8, rotation_degrees=0.0,
                                mirrored=False, frame="canonical")
    # Read as a pixel scale, 1.25 aligns the crop wrongly: 0.82 over 28% of the thumbnail on kodim03.
    assert match.status == "match" and match.similarity > 0.9 and match.overlap > 0.5, match


def _texture(seed: int, side: int = 768) -> np.ndarray:
    """Grass-like texture: noise with detail at the fingerprint thumbnail's own resolution (12 px)."""
    import scipy.ndimage as ndi

    noise = np.random.default_rng(seed).normal(size=(side, side))
    luma = ndi.gaussian_filter(noise, 4.0)
    luma = 128 + 60 * luma / luma.std()
    return np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


@pytest.mark.parametrize("fraction", [0.8, 0.71])
def test_a_crop_of_a_texture_matches_at_a_sub_pixel_offset(fraction) -> None:
    # A crop's offset is rarely a whole thumbnail pixel; on a texture half a pixel off costs most
    # of the correlation (these read "inconclusive" before the sub-pixel refinement).
    output = _texture(1)
    fp = make_fingerprint(output)
    match = compare_fingerprint(crop_center(output, fraction), fp, scale=1.0, rotation_degrees=0.0, mirrored=False)
    assert match.status == "match", match
    other = compare_fingerprint(crop_center(_texture(2), fraction), fp, scale=1.0, rotation_degrees=0.0, mirrored=False)
    assert other.status != "match" and other.similarity < 0.8, other
