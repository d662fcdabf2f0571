"""Tests for provenance.report: stamp -> verify, stripped and tampered copies, fixtures, schema.

Real c2pa, the development CA, real SQLite; third-party fixtures from ../shared.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from provenance.attacks import flip_png_pixel_byte
from provenance.errors import InvalidImageError, InvalidInputError, ManifestError, RegistryError
from provenance.report import VERDICT_CODES, Verifier, evidence_strength, verify
from provenance.settings import Settings
from provenance.stamp import Stamper

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "verification-report.v1.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _check_schema(report, schema: dict) -> dict:
    out = report.to_dict()
    out = json.loads(json.dumps(out))  # JSON-ready: survives a round trip
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(out)
    assert set(schema["properties"]["verdict"]["properties"]["code"]["enum"]) == set(VERDICT_CODES)
    return out


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(instance_path=tmp_path_factory.mktemp("report") / "instance")


@pytest.fixture(scope="module")
def stamped(settings: Settings, shared_dir: Path):
    """A stamped PNG of a photograph (768 x 512) and its StampResult."""
    with Stamper(settings) as stamper:
        return stamper.stamp_image(shared_dir / "samples" / "kodim03.png", generator="test-diffusion 2.0")


@pytest.fixture(scope="module")
def verifier(settings: Settings, stamped):
    with Verifier(settings) as v:
        yield v


# --------------------------------------------------------------------------- must show


def test_stamped_photo_verifies_trusted_ai_generated(verifier: Verifier, stamped, schema: dict) -> None:
    report = verifier.verify(stamped.data, name="out.png")
    assert report.verdict.code == "ai_generated_trusted"
    assert report.verdict.headline.startswith("AI-generated: signed by ")
    assert "development certificate" in report.verdict.headline and report.development_certificate
    assert report.manifest.state == "trusted" and report.manifest.ai_disclosure == "ai_generated"
    assert report.watermark.detected and report.watermark.key_id == "dev-1"
    assert report.watermark.stamp_id == stamped.stamp_id == report.registry.record.stamp_id
    assert report.watermark.strength == "very strong evidence" and report.watermark.p_value < 1e-20
    assert report.registry.exact_file and report.registry.lookup == "watermark_id"
    assert report.registry.phash_distance == 0 and not report.registry.recovered_because_missing
    assert (report.file.width, report.file.height, report.file.sha256) == (768, 512, stamped.sha256)
    out = _check_schema(report, schema)
    assert out["registry"]["record"]["generator"] == "test-diffusion 2.0"
    assert "requester" not in json.dumps(out["registry"])  # who asked stays in the registry
    event = verifier.registry.audit_events()[-1]
    assert (event.kind, event.verdict, event.sha256, event.stamp_id) == (
        "verify", "ai_generated_trusted", stamped.sha256, stamped.stamp_id
    )


def test_stripped_copy_recovers_the_manifest_from_the_registry(verifier: Verifier, stamped, schema: dict) -> None:
    im = Image.open(io.BytesIO(stamped.data)).convert("RGB")
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    report = verifier.verify(buf.getvalue(), name="reupload.jpg")
    assert report.manifest.state == "absent"
    assert report.watermark.detected and report.watermark.stamp_id == stamped.stamp_id
    assert report.watermark.scale == pytest.approx(1.0, abs=0.02)  # a whole-image resize is free in scheme v2
    assert report.registry.found and report.registry.recovered_because_missing and not report.registry.exact_file
    recovered = report.registry.recovered_manifest
    assert recovered.ai_disclosure == "ai_generated" and recovered.soft_bindings[0].value == stamped.stamp_id
    assert report.verdict.code == "ai_generated_recovered"
    assert "recovered from the registry" in report.verdict.headline
    out = _check_schema(report, schema)
    assert out["registry"]["recovered_manifest"]["signature_state"] == "trusted"
    assert out["registry"]["phash_distance"] <= 31


def test_flipped_pixel_byte_breaks_c2pa_but_not_the_watermark(verifier: Verifier, stamped, schema: dict) -> None:
    report = verifier.verify(flip_png_pixel_byte(stamped.data), name="edited.png")
    assert report.manifest.state == "invalid"
    assert "assertion.dataHash.mismatch" in {f.code for f in report.manifest.failures}
    assert report.watermark.detected and report.watermark.stamp_id == stamped.stamp_id
    assert report.verdict.code == "altered_after_signing"
    assert report.verdict.headline == "Content Credentials present but the image was altered after signing"
    assert any("watermark was found" in r for r in report.verdict.reasons)
    _check_schema(report, schema)


# --------------------------------------------------------------------------- third-party fixtures


@pytest.mark.parametrize(
    "name, code, watermark_status",
    [
        ("gen_ai_generated.png", "ai_generated_valid", "not_detected"),
        ("pub_adobe-20220124-A.jpg", "no_signals", "not_detected"),
        ("pub_adobe-20220124-E-dat-CA.jpg", "altered_after_signing", "not_detected"),
        ("py_pdf-file.pdf", "ai_edited", "not_applicable"),
        ("py_sample1_signed.wav", "credentials_untrusted", "not_applicable"),
        ("rs_no_alg.jpg", "credentials_invalid", "not_detected"),
    ],
)
def test_fixtures_get_sensible_verdicts(
    verifier: Verifier, shared_dir: Path, schema: dict, name: str, code: str, watermark_status: str
) -> None:
    report = verifier.verify(shared_dir / "c2pa-fixtures" / name)
    assert report.verdict.code == code, report.verdict
    assert report.watermark.status == watermark_status
    assert not report.development_certificate and report.registry.status == "not_found"
    out = _check_schema(report, schema)
    if watermark_status == "not_applicable":
        assert "not applicable to this file type" in out["watermark"]["explanation"]
        assert out["hash_match"]["pdq"] is None


def _index_states(shared: Path) -> dict[str, str]:
    """File -> manifest state of INDEX.md's "with trust" column (an ERROR cell is "invalid",
    or "absent" for a remote-only manifest; see tests/test_manifest.py for the full parser)."""
    states = {}
    for line in (shared / "c2pa-fixtures" / "INDEX.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            cell = cells[5]
            if cell == "no manifest":
                state = "absent"
            elif cell.startswith("ERROR"):
                state = "absent" if "Remote" in cell else "invalid"
            else:
                state = cell.split("**")[1].lower()
            states[cells[0].strip("`")] = state
    return states


#: Verdicts each manifest state allows (which one also depends on what the credentials declare).
VERDICTS_BY_STATE = {
    "absent": {"no_signals"},
    "invalid": {"altered_after_signing", "credentials_invalid"},
    "trusted": {"ai_generated_trusted", "ai_edited", "credentials_trusted"},
    "valid": {"ai_generated_valid", "ai_edited", "credentials_untrusted"},
}


@pytest.mark.slow
def test_every_fixture_verifies_as_index_md_says(settings: Settings, shared_dir: Path, schema: dict) -> None:
    """Every file of ../shared/c2pa-fixtures through the whole Verifier (C2PA, pixels, watermark,
    metadata, registry), with the trust lists of INDEX.md's "with trust" column: none raises."""
    trust = shared_dir / "trust"
    trusted = replace(
        settings,
        trust_anchors=(trust / "C2PA-TRUST-LIST.pem", trust / "itl-anchors.pem", trust / "c2pa-test-roots.pem",
                       shared_dir / "c2pa-fixtures" / "test-ca.pem"),
        trust_allowed=trust / "itl-allowed.pem",
        trust_config=trust / "itl-store.cfg",
    )
    states = _index_states(shared_dir)
    assert len(states) == 38
    got = {}
    with Verifier(trusted) as v:
        for name, state in states.items():
            report = v.verify(shared_dir / "c2pa-fixtures" / name)
            got[name] = report.manifest.state
            assert report.verdict.code in VERDICTS_BY_STATE[report.manifest.state], (name, report.verdict)
            assert not report.watermark.detected and report.registry.status == "not_found", name
            _check_schema(report, schema)
            codes = {f.code for f in report.manifest.failures}
            hash_mismatch = any(c.endswith("Hash.mismatch") and c != "assertion.hashedURI.mismatch" for c in codes)
            assert (report.verdict.code == "altered_after_signing") == hash_mismatch, (name, codes)
            if name in ("rs_no_alg.jpg", "rs_prerelease.jpg"):
                words = "algorithm" if name == "rs_no_alg.jpg" else "pre-release"
                assert report.verdict.code == "credentials_invalid" and words in report.manifest.explanation
            if name == "rs_cloud.jpg":
                assert any("cai-manifests.adobe.com" in r for r in report.verdict.reasons)
    assert got == states


def test_configured_trust_anchor_makes_the_fixture_trusted(settings: Settings, shared_dir: Path) -> None:
    trusted = replace(settings, trust_anchors=(shared_dir / "c2pa-fixtures" / "test-ca.pem",))
    with Verifier(trusted, use_registry=False) as v:
        report = v.verify(shared_dir / "c2pa-fixtures" / "gen_ai_generated.png")
    assert report.verdict.code == "ai_generated_trusted"
    assert report.verdict.headline == "AI-generated: signed by Anchor Test Signer (trusted)"
    assert report.registry.status == "not_configured"


# --------------------------------------------------------------------------- other cases


def test_small_image_and_wrong_extension(verifier: Verifier, tmp_path: Path, rng: np.random.Generator, schema: dict) -> None:
    path = tmp_path / "tiny.jpg"  # a PNG with a .jpg name
    Image.fromarray(rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)).save(path, format="PNG")
    report = verifier.verify(path)
    assert report.file.name == "tiny.jpg" and report.file.mime == "image/png"
    assert "the content was checked" in report.file.notes[0]
    assert report.watermark.status == "too_small" and "too small" in report.watermark.explanation
    assert report.verdict.code == "no_signals"
    assert report.verdict.headline == "No provenance signals found — this does not show the image is authentic"
    _check_schema(report, schema)


def test_rotated_out_key_still_verifies(settings: Settings, stamped, tmp_path: Path) -> None:
    old = (settings.instance_path / "dev-watermark.keys").read_text().split("dev-1:")[1].split()[0]
    keys = tmp_path / "rotated.keys"
    keys.write_text(f"k2026:{'5a' * 32}\ndev-1:{old}\n")
    with Verifier(replace(settings, watermark_keys_path=keys), use_registry=False) as v:
        report = v.verify(stamped.data)
    assert report.watermark.key_id == "dev-1" and report.watermark.keys_tried == 2
    assert report.watermark.stamp_id == stamped.stamp_id


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", InvalidInputError, "empty"),
        (b"hello, this is text\n" * 10, InvalidInputError, "not a file type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, ManifestError, "truncated or corrupt"),
    ],
)
def test_bad_input_raises_clear_errors(verifier: Verifier, data: bytes, error, message: str) -> None:
    with pytest.raises(error, match=message):
        verifier.verify(data)


def test_missing_file_and_folder(verifier: Verifier, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        verifier.verify(tmp_path / "nope.png")
    with pytest.raises(InvalidInputError, match="folder"):
        verifier.verify(tmp_path)


def test_unreachable_database_is_registry_error(tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path, database_url="postgresql+psycopg://u:pw@127.0.0.1:1/x")
    with pytest.raises(RegistryError, match="PROVENANCE_DATABASE_URL"):
        Verifier(settings)


def test_stripped_copy_is_recovered_from_postgresql(pg_url: str, shared_dir: Path, tmp_path: Path) -> None:
    """The must-show chain with the registry on PostgreSQL: stamp, strip, verify, recover; audit rows."""
    settings = Settings(instance_path=tmp_path / "instance", database_url=pg_url)
    with Stamper(settings) as stamper:
        stamped = stamper.stamp_image(shared_dir / "samples" / "kodim07.png", generator="pg-model", output_format="JPEG")
    im = Image.open(io.BytesIO(stamped.data))
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    with Verifier(settings) as v:
        assert v.registry.dialect == "postgresql"
        report = v.verify(buf.getvalue(), name="reupload.jpg")
        events = [(e.kind, e.stamp_id) for e in v.registry.audit_events()]
    assert report.verdict.code == "ai_generated_recovered"
    assert report.manifest.state == "absent" and report.registry.record.generator == "pg-model"
    assert report.registry.recovered_manifest.soft_bindings[0].value == stamped.stamp_id
    assert events == [("stamp", stamped.stamp_id), ("verify", stamped.stamp_id)]


def test_verify_convenience_builds_its_own_verifier(settings: Settings, stamped) -> None:
    report = verify(stamped.data, settings=settings)
    assert report.verdict.code == "ai_generated_trusted" and report.schema_version == "1.3"


@pytest.mark.parametrize(
    "p, words",
    [(1e-30, "very strong evidence"), (1e-7, "strong evidence"), (1e-4, "moderate evidence"),
     (0.01, "weak evidence"), (0.5, "no evidence")],
)
def test_evidence_strength_bands(p: float, words: str) -> None:
    assert evidence_strength(p) == words


def test_truncated_photo_names_the_cause(verifier: Verifier, shared_dir: Path) -> None:
    data = (shared_dir / "c2pa-fixtures" / "pub_adobe-20220124-A.jpg").read_bytes()
    with pytest.raises((InvalidImageError, ManifestError), match="truncated"):
        verifier.verify(data[: len(data) // 3])


def test_development_certificate_wording_here_and_elsewhere(verifier: Verifier, stamped, tmp_path: Path) -> None:
    here = verifier.verify(stamped.data, name="out.png").verdict.reasons
    assert any("this installation's development certificate" in r for r in here)
    assert not any("on a trust list you have configured" in r for r in here)
    with Verifier(Settings(instance_path=tmp_path / "elsewhere"), use_registry=False) as other:
        report = other.verify(stamped.data, name="out.png")
    assert report.verdict.code == "ai_generated_valid" and report.development_certificate
    assert any("from another installation" in r for r in report.verdict.reasons)
    assert not any("trusted here" in r for r in report.verdict.reasons)


# --------------------------------------------------------------------------- hash banks


def test_hash_bank_match_is_reported_for_review_and_withheld_in_public(settings: Settings, stamped, schema, tmp_path):
    from provenance.attacks import jpeg
    from provenance.banks import REVIEW_NOTE, Banks
    from provenance.hashing import pdq_hash
    from provenance.images import decode_image
    from provenance.registry import Registry

    with Registry.open(settings) as reg:
        banks = Banks(reg)
        if "reported" not in {b.name for b in banks.list()}:
            banks.create("reported", label="ncii")
            banks.add("reported", [pdq_hash(decode_image(stamped.data))])
    # A re-encoded, metadata-free copy: the stamped-outputs bank and the ncii bank both find it.
    copy = Image.fromarray(jpeg(decode_image(stamped.data), 60))
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=60)
    with Verifier(settings) as verifier:
        report = verifier.verify(buf.getvalue(), name="copy.jpg")
    out = _check_schema(report, schema)
    hm = out["hash_match"]
    assert hm["status"] == "matched" and hm["review_note"] == REVIEW_NOTE
    labels = {m["label"]: m for m in hm["matches"]}
    assert set(labels) == {"ncii", "stamped-outputs"}
    assert labels["stamped-outputs"]["case_id"] == stamped.stamp_id and labels["ncii"]["distance"] <= 31
    assert "signal for human review, never proof" in hm["explanation"]
    assert not any("ncii" in r for r in report.verdict.reasons)  # never in the verdict (public callers see it)
    public = report.to_dict(public=True)
    text = json.dumps(public)
    assert public["hash_match"]["status"] == "withheld" and public["hash_match"]["matches"] == []
    assert "ncii" not in text and '"distance"' not in text.split('"hash_match"')[1]
    with Registry.open(settings) as reg:
        last = reg.audit_events()[-1]
    assert last.kind == "verify" and last.detail == {"bank_matches": {"ncii": 1, "stamped-outputs": 1}}


def test_flat_upload_is_unmatchable_not_no_match(verifier: Verifier, schema) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), (120, 120, 120)).save(buf, "PNG")
    out = _check_schema(verifier.verify(buf.getvalue(), name="flat.png"), schema)
    assert out["hash_match"]["status"] == "unmatchable" and out["hash_match"]["pdq_matchable"] is False


def test_quick_watermark_search_is_set_by_settings_and_reported(settings: Settings, stamped, schema) -> None:
    from provenance.attacks import crop_center
    from provenance.images import decode_image, encode_image

    # A crop changes the size-normalised grid's scale: only the full search's lattice finds it.
    resized = encode_image(crop_center(decode_image(stamped.data), 0.8), "JPEG", quality=90)
    with Verifier(replace(settings, watermark_search="quick"), use_registry=False) as quick:
        kept = quick.verify(stamped.data, name="out.png")
        lost = quick.verify(resized, name="resized.jpg")
    assert kept.watermark.detected and _check_schema(kept, schema)["watermark"]["search"] == "quick"
    assert not lost.watermark.detected and "quick search" in lost.watermark.explanation
    with Verifier(settings, use_registry=False) as full:
        found = full.verify(resized, name="resized.jpg")
    assert found.watermark.detected and found.watermark.to_dict()["search"] == "full"
    # A per-call search overrides the setting, both ways; an unknown one is refused.
    with Verifier(replace(settings, watermark_search="quick"), use_registry=False) as quick:
        assert quick.verify(resized, name="resized.jpg", search="full").watermark.detected
    with Verifier(settings, use_registry=False) as full:
        assert full.verify(resized, name="resized.jpg", search="quick").watermark.search == "quick"
        with pytest.raises(InvalidInputError, match="full, crops, quick"):
            full.verify(resized, search="fast")
