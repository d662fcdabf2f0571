"""Tests for provenance.manifest: every fixture of ../shared/c2pa-fixtures/INDEX.md, read for real."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance import manifest as manifest_module
from provenance.errors import ConfigError, InvalidInputError, ManifestError
from provenance.manifest import (
    ManifestSummary,
    ValidationFailure,
    detect_mime_type,
    explain_failure,
    read_manifest,
)
from provenance.settings import Settings

#: Same location as the `shared_dir` fixture; needed at import time to parametrise over INDEX.md.
SHARED = Path(os.environ.get("PROVENANCE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


# --------------------------------------------------------------------------- INDEX.md


@dataclass(frozen=True)
class Expected:
    """One cell ("no trust" or "with trust") of INDEX.md."""

    state: str  # absent | invalid | valid | trusted
    codes: tuple[str, ...] = ()
    ingredient_codes: frozenset[str] = frozenset()
    error: str | None = None  # the c2pa error INDEX.md reports instead of a state


@dataclass(frozen=True)
class Row:
    file: str
    no_trust: Expected
    with_trust: Expected
    manifests: int | None = None
    ingredients: int | None = None
    signer_org: str | None = None
    signer_cn: str | None = None
    tsa: bool | None = None
    actions: tuple[tuple[str, str | None], ...] = ()


def _codes(text: str) -> tuple[str, ...]:
    text = text.strip()
    return () if text in ("", "–") else tuple(c.strip() for c in text.split(","))


def _parse_cell(cell: str) -> Expected:
    cell = cell.strip()
    if cell == "no manifest":
        return Expected("absent")
    if cell.startswith("ERROR"):
        message = cell.split(":", 1)[1].strip()
        state = "absent" if message.startswith("Remote") else "invalid"
        return Expected(state, error=message)
    m = re.fullmatch(r"\*\*(\w+)\*\* \((.*)\)", cell)
    assert m, f"cannot parse INDEX.md cell {cell!r}"
    active, _, ingredient = m.group(2).partition("; ingredient failures: ")
    return Expected(m.group(1).lower(), _codes(active), frozenset(_codes(ingredient)))


def _parse_actions(text: str) -> tuple[tuple[str, str | None], ...]:
    out = []
    for item in _codes(text):
        m = re.fullmatch(r"([\w.]+)(?:\((\w+)\))?", item)
        assert m, f"cannot parse action {item!r}"
        out.append((m.group(1), m.group(2)))
    return tuple(out)


def _load_index(shared: Path) -> list[Row]:
    rows = []
    for line in (shared / "c2pa-fixtures" / "INDEX.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 7, line
        name = cells[0].strip("`")
        what = cells[6]
        m = re.search(r"m=(\d+) ing=(\d+) signer=(.+?)/(.+?) tsa=(yes|no) actions=(\S*)", what)
        extra = {}
        if m:
            extra = dict(
                manifests=int(m.group(1)),
                ingredients=int(m.group(2)),
                signer_org=m.group(3),
                signer_cn=m.group(4),
                tsa=m.group(5) == "yes",
                actions=_parse_actions(m.group(6)),
            )
        rows.append(Row(name, _parse_cell(cells[4]), _parse_cell(cells[5]), **extra))
    return rows


ROWS = _load_index(SHARED) if (SHARED / "c2pa-fixtures" / "INDEX.md").is_file() else []
#: INDEX.md lists at most this many actions per file.
INDEX_MAX_ACTIONS = 3

#: AI disclosure each fixture must get (all others: "unknown").
AI_DISCLOSURE = {
    "gen_ai_generated.png": "ai_generated",  # c2pa.created(trainedAlgorithmicMedia)
    "gen_ai_generated_tampered.png": "ai_generated",
    "gen_c.mov": "capture",
    "gen_sample1.avif": "capture",
    "gen_sample1.heic": "capture",
    "gen_sample1.mp3": "capture",
    "gen_sample1.webp": "capture",
    "js_firefly_thirdparty_gemini.png": "ai_generated",  # only in the action's parameters
    "py_C.dng": "ai_generated",  # algorithmicMedia
    "py_pdf-file.pdf": "ai_edited",  # c2pa.edited(trainedAlgorithmicMedia)
    "rs_C.jpg": "ai_generated",
    "rs_C_with_CAWG_data.jpg": "capture",
    "rs_ocsp.jpg": "composite",  # compositeWithTrainedAlgorithmicMedia
}


@pytest.fixture(scope="module")
def trust_settings(shared_dir: Path) -> Settings:
    trust = shared_dir / "trust"
    return Settings(
        trust_anchors=(trust / "C2PA-TRUST-LIST.pem", trust / "itl-anchors.pem", trust / "c2pa-test-roots.pem"),
        trust_allowed=trust / "itl-allowed.pem",
        trust_config=trust / "itl-store.cfg",
    )


@pytest.fixture(scope="module")
def test_ca(shared_dir: Path) -> bytes:
    return (shared_dir / "c2pa-fixtures" / "test-ca.pem").read_bytes()


@pytest.fixture(scope="module")
def no_trust() -> Settings:
    return Settings()


def _read(name: str, shared_dir: Path, settings: Settings, anchors=()) -> ManifestSummary:
    return read_manifest(shared_dir / "c2pa-fixtures" / name, settings=settings, extra_trust_anchors=anchors)


def test_index_lists_every_fixture(shared_dir: Path) -> None:
    media = {p.name for p in (shared_dir / "c2pa-fixtures").iterdir() if p.suffix not in (".md", ".pem")}
    assert len(ROWS) == 38
    assert {r.file for r in ROWS} == media


def _check(summary: ManifestSummary, row: Row, expected: Expected) -> None:
    assert summary.state == expected.state, summary.explanation
    assert [f.code for f in summary.active_failures] == list(expected.codes)
    assert {f.code for f in summary.ingredient_failures} == expected.ingredient_codes
    assert summary.explanation
    if expected.error is not None:
        assert summary.error
        assert summary.manifest_count == 0
        if expected.state == "absent":  # remote-only manifest
            assert summary.remote_manifest_url and summary.remote_manifest_url in expected.error
        return
    if expected.state == "absent":
        assert summary.manifest_count == 0 and summary.error is None and not summary.has_manifest
        return
    assert summary.error is None
    assert summary.manifest_count == row.manifests
    assert len(summary.ingredients) == row.ingredients
    assert (summary.signer_org, summary.signer_common_name) == (row.signer_org, row.signer_cn)
    assert summary.time_stamped is row.tsa
    assert (summary.signing_time is not None) is row.tsa
    got = tuple((a.action, a.digital_source_type_name) for a in summary.actions)
    assert got[:INDEX_MAX_ACTIONS] == row.actions
    if len(row.actions) < INDEX_MAX_ACTIONS:
        assert len(got) == len(row.actions)
    assert summary.ai_disclosure == AI_DISCLOSURE.get(row.file, "unknown")
    assert summary.manifest_json and json.loads(summary.manifest_json)["manifests"]


@pytest.mark.parametrize("row", ROWS, ids=[r.file for r in ROWS])
def test_fixture_without_trust(row: Row, shared_dir: Path, no_trust: Settings) -> None:
    _check(_read(row.file, shared_dir, no_trust), row, row.no_trust)


@pytest.mark.parametrize("row", ROWS, ids=[r.file for r in ROWS])
def test_fixture_with_trust(row: Row, shared_dir: Path, trust_settings: Settings, test_ca: bytes) -> None:
    _check(_read(row.file, shared_dir, trust_settings, [test_ca]), row, row.with_trust)


# --------------------------------------------------------------------------- specific behaviour


def test_untrusted_signer_is_valid_not_an_error(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("gen_ai_generated.png", shared_dir, no_trust)
    assert s.state == "valid"
    (failure,) = s.failures
    assert failure.code == "signingCredential.untrusted" and failure.trust_only
    assert failure.explanation == "the signer is not on a trust list you have configured"
    assert "intact" in s.explanation and "failed" not in s.explanation


def test_dev_ca_as_extra_anchor_makes_own_output_trusted(shared_dir: Path, no_trust: Settings, test_ca: bytes) -> None:
    s = _read("gen_ai_generated.png", shared_dir, no_trust, [test_ca])
    assert s.state == "trusted" and s.failures == ()
    assert "Anchor Test" in s.explanation


def test_tampered_pixels_are_explained(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("gen_ai_generated_tampered.png", shared_dir, no_trust)
    (mismatch,) = [f for f in s.failures if f.code == "assertion.dataHash.mismatch"]
    assert "pixels" in mismatch.explanation and "changed after signing" in mismatch.explanation
    assert mismatch.scope == "active_manifest" and mismatch.ingredient is None
    assert "pixels" in s.explanation


def test_ingredient_failure_is_located(shared_dir: Path, trust_settings: Settings, test_ca: bytes) -> None:
    s = _read("pub_adobe-20220124-E-uri-CIE-sig-CA.jpg", shared_dir, trust_settings, [test_ca])
    assert s.state == "invalid" and s.active_failures == ()
    (ingredient,) = s.ingredients
    assert ingredient.state == "invalid" and ingredient.title == "E-sig-CA.jpg"
    assert [f.code for f in ingredient.failures] == ["assertion.hashedURI.mismatch"]
    (failure,) = s.ingredient_failures
    assert failure.scope == "ingredient" and failure.ingredient == "E-sig-CA.jpg"
    assert "E-sig-CA.jpg" in s.explanation


def test_untrusted_ingredient_leaves_trusted_active_manifest_valid(
    shared_dir: Path, trust_settings: Settings, test_ca: bytes
) -> None:
    s = _read("rs_video1.mp4", shared_dir, trust_settings, [test_ca])
    assert s.state == "valid"
    (ingredient,) = s.ingredients
    assert ingredient.state == "valid" and ingredient.relationship == "parentOf"
    assert "in ingredient" in s.explanation


def test_ingredient_tree_is_recursive(shared_dir: Path, trust_settings: Settings, test_ca: bytes) -> None:
    s = _read("pub_adobe-20220124-CAIAIIICAICIICAIICICA.jpg", shared_dir, trust_settings, [test_ca])
    assert len(s.ingredients) == 7
    with_manifest = [i for i in s.ingredients if i.manifest_label]
    assert len(with_manifest) == 5
    assert all(i.state == "trusted" for i in with_manifest)
    assert all(i.state == "absent" for i in s.ingredients if not i.manifest_label)
    assert any(i.children for i in s.ingredients)
    assert all(i.thumbnail and i.thumbnail[:2] == b"\xff\xd8" for i in s.ingredients)


def test_missing_ingredient_manifest(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("pub_adobe-20220124-E-clm-CAICAI.jpg", shared_dir, no_trust)
    broken = [i for i in s.ingredients if i.failures]
    assert [f.code for i in broken for f in i.failures] == ["ingredient.manifest.missing"]
    assert broken[0].state == "invalid" and broken[0].children == ()


def test_thumbnail_is_the_claim_thumbnail(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("rs_C.jpg", shared_dir, no_trust)
    assert s.thumbnail_format == "image/jpeg"
    assert s.thumbnail[:3] == b"\xff\xd8\xff" and len(s.thumbnail) > 1000


def test_soft_bindings(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("rs_adobe_connected_identities.jpg", shared_dir, no_trust)
    algs = {b.alg: b.value for b in s.soft_bindings}
    assert set(algs) == {"com.adobe.trustmark.P", "com.adobe.icn.dense"}
    assert algs["com.adobe.icn.dense"].startswith("0003260641")
    assert [a.action for a in s.actions] == ["c2pa.watermarked"]


def test_action_fields_and_claim_generator(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("rs_ocsp.jpg", shared_dir, no_trust)
    edited = s.actions[2]
    assert edited.action == "c2pa.edited" and edited.software_agent == "Adobe Firefly"
    assert edited.digital_source_type.endswith("/compositeWithTrainedAlgorithmicMedia")
    assert s.claim_generator.startswith("Adobe_Photoshop")
    g = _read("gen_ai_generated.png", shared_dir, no_trust)
    assert g.claim_generator  # from claim_generator_info when there is no claim_generator string


def test_remote_manifest_is_reported_not_raised(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("rs_cloud.jpg", shared_dir, no_trust)
    assert s.state == "absent"
    assert s.remote_manifest_url.startswith("https://cai-manifests.adobe.com/manifests/")
    assert s.remote_manifest_url in s.explanation and "offline" in s.explanation
    assert "Error" not in s.explanation and "Traceback" not in s.explanation


@pytest.mark.parametrize(
    "name, words",
    [
        ("rs_no_alg.jpg", "algorithm"),
        ("rs_prerelease.jpg", "pre-release"),
        ("rs_sample3.svg", "corrupt"),
    ],
)
def test_unreadable_manifest_is_invalid(name: str, words: str, shared_dir: Path, no_trust: Settings) -> None:
    s = _read(name, shared_dir, no_trust)
    assert s.state == "invalid"
    assert words in s.explanation and words in s.error


# --------------------------------------------------------------------------- bytes, types, bad input


@pytest.mark.parametrize(
    "name, mime",
    [
        ("rs_C.jpg", None),
        ("gen_ai_generated.png", None),
        ("gen_sample1.webp", None),
        ("gen_sample1.avif", None),
        ("gen_sample1.heic", None),
        ("gen_c.mov", None),
        ("rs_video1.mp4", None),
        ("py_sample1_signed.wav", None),
        ("gen_sample1.mp3", None),
        ("py_pdf-file.pdf", None),
        ("rs_sample3.svg", None),
        ("py_C.dng", None),
        ("py_C.dng", "image/dng"),
        ("py_C.dng", "upload.dng"),
        ("rs_C.jpg", "image/png"),  # a wrong hint loses to the magic bytes
    ],
)
def test_bytes_read_like_path(name: str, mime: str | None, shared_dir: Path, no_trust: Settings) -> None:
    path = shared_dir / "c2pa-fixtures" / name
    from_path = read_manifest(path, settings=no_trust)
    from_bytes = read_manifest(path.read_bytes(), mime=mime, settings=no_trust)
    assert from_bytes.state == from_path.state
    assert [f.code for f in from_bytes.failures] == [f.code for f in from_path.failures]
    assert from_bytes.signer_common_name == from_path.signer_common_name
    assert from_bytes.state != "absent"


def test_bytearray_and_memoryview_are_accepted(shared_dir: Path, no_trust: Settings) -> None:
    data = (shared_dir / "c2pa-fixtures" / "rs_C.jpg").read_bytes()
    assert read_manifest(bytearray(data), settings=no_trust).state == "valid"
    assert read_manifest(memoryview(data), settings=no_trust).state == "valid"


def test_truncated_file(shared_dir: Path, no_trust: Settings) -> None:
    data = (shared_dir / "c2pa-fixtures" / "rs_C.jpg").read_bytes()
    half = read_manifest(data[: len(data) // 2], settings=no_trust)  # manifest intact, pixels cut
    assert half.state == "invalid"
    assert "assertion.dataHash.mismatch" in [f.code for f in half.failures]
    with pytest.raises(ManifestError, match="truncated or corrupt"):
        read_manifest(data[:30_000], settings=no_trust)  # cut inside the manifest


@pytest.mark.parametrize(
    "data",
    [b"hello world, this is a text file\n" * 20, bytes(range(256)) * 8, b"PK\x03\x04not really a zip"],
    ids=["text", "binary", "fake-zip"],
)
def test_non_media_is_absent(data: bytes, no_trust: Settings) -> None:
    s = read_manifest(data, settings=no_trust)
    assert s.state == "absent" and not s.has_manifest
    assert "No Content Credentials" in s.explanation


def test_non_media_file_path(tmp_path: Path, no_trust: Settings) -> None:
    note = tmp_path / "notes.txt"
    note.write_text("not an image\n", encoding="utf-8")
    assert read_manifest(note, settings=no_trust).state == "absent"


@pytest.mark.parametrize("source", [b"", bytearray()], ids=["bytes", "bytearray"])
def test_empty_input_raises(source, no_trust: Settings) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        read_manifest(source, settings=no_trust)


def test_bad_sources_raise(tmp_path: Path, no_trust: Settings) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        read_manifest(tmp_path / "missing.jpg", settings=no_trust)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty"):
        read_manifest(tmp_path / "empty.jpg", settings=no_trust)
    with pytest.raises(InvalidInputError, match="path or the file's bytes"):
        read_manifest(12345, settings=no_trust)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- trust configuration


def test_missing_trust_file_is_config_error(tmp_path: Path, shared_dir: Path) -> None:
    settings = Settings(trust_anchors=(tmp_path / "nope.pem",))
    with pytest.raises(ConfigError, match="nope.pem"):
        _read("rs_C.jpg", shared_dir, settings)


def test_non_pem_trust_file_is_config_error(tmp_path: Path, shared_dir: Path) -> None:
    bogus = tmp_path / "anchors.pem"
    bogus.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        _read("rs_C.jpg", shared_dir, Settings(trust_anchors=(bogus,)))


def test_corrupt_pem_is_config_error(tmp_path: Path, shared_dir: Path) -> None:
    bogus = tmp_path / "anchors.pem"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="malformed"):
        _read("rs_C.jpg", shared_dir, Settings(trust_anchors=(bogus,)))


@pytest.mark.parametrize("text", ["this is not an oid\n", "// only a comment\n"], ids=["garbage", "empty"])
def test_bad_trust_config_is_config_error(text: str, tmp_path: Path, shared_dir: Path) -> None:
    cfg = tmp_path / "store.cfg"
    cfg.write_text(text, encoding="utf-8")
    settings = Settings(trust_anchors=(shared_dir / "trust" / "c2pa-test-roots.pem",), trust_config=cfg)
    with pytest.raises(ConfigError, match="store.cfg"):
        _read("rs_C.jpg", shared_dir, settings)


@pytest.mark.parametrize(
    "pem",
    [b"not pem", b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n", "text, not bytes"],
    ids=["no-markers", "malformed", "str"],
)
def test_extra_anchor_must_be_pem(pem, shared_dir: Path, no_trust: Settings) -> None:
    with pytest.raises(InvalidInputError, match="extra_trust_anchors"):
        _read("rs_C.jpg", shared_dir, no_trust, [pem])


def test_context_is_built_once_per_trust_configuration(
    shared_dir: Path, trust_settings: Settings, test_ca: bytes
) -> None:
    _read("rs_C.jpg", shared_dir, trust_settings, [test_ca])
    before = manifest_module._context_for.cache_info()
    for _ in range(3):
        _read("rs_C.jpg", shared_dir, trust_settings, [test_ca])
    after = manifest_module._context_for.cache_info()
    assert after.misses == before.misses
    assert after.hits == before.hits + 3


# --------------------------------------------------------------------------- serialisation and helpers


def test_to_dict_is_json_ready(shared_dir: Path, trust_settings: Settings, test_ca: bytes) -> None:
    s = _read("pub_adobe-20220124-CAICAI.jpg", shared_dir, trust_settings, [test_ca])
    plain = json.loads(json.dumps(s.to_dict()))
    assert plain["state"] == "trusted"
    assert plain["thumbnail_size"] == len(s.thumbnail) and "thumbnail_base64" not in plain
    assert "manifest_json" not in plain
    assert plain["signing_time"] == s.signing_time.isoformat()
    assert len(plain["ingredients"]) == 2
    full = json.loads(json.dumps(s.to_dict(include_thumbnails=True, include_manifest_json=True)))
    assert base64.b64decode(full["thumbnail_base64"]) == s.thumbnail
    assert full["manifest_json"] == s.manifest_json
    child = full["ingredients"][1]
    assert base64.b64decode(child["thumbnail_base64"]) == s.ingredients[1].thumbnail


@pytest.mark.parametrize("name", ["rs_cloud.jpg", "rs_no_alg.jpg", "pub_adobe-20220124-A.jpg", "rs_ocsp.jpg"])
def test_to_dict_of_every_kind_of_result(name: str, shared_dir: Path, no_trust: Settings) -> None:
    s = _read(name, shared_dir, no_trust)
    out = json.loads(json.dumps(s.to_dict(include_thumbnails=True)))
    assert out["state"] == s.state and out["explanation"] == s.explanation


def test_summary_is_frozen(shared_dir: Path, no_trust: Settings) -> None:
    s = _read("rs_C.jpg", shared_dir, no_trust)
    with pytest.raises(AttributeError):
        s.state = "trusted"  # type: ignore[misc]


@pytest.mark.parametrize(
    "head, mime",
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF89a", "image/gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav"),
        (b"II*\x00", "image/tiff"),
        (b"%PDF-1.7", "application/pdf"),
        (b"fLaC", "audio/flac"),
        (b"ID3\x04", "audio/mpeg"),
        (b"\0\0\0\x1cftypavif", "image/avif"),
        (b"\0\0\0\x18ftypheic", "image/heic"),
        (b"\0\0\0\x14ftypqt  ", "video/quicktime"),
        (b"\0\0\0\x18ftypisom", "video/mp4"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b"hello", None),
        (b"", None),
    ],
)
def test_detect_mime_type(head: bytes, mime: str | None) -> None:
    assert detect_mime_type(head) == mime


def test_explain_failure_fallbacks() -> None:
    assert explain_failure("assertion.bmffHash.mismatch").startswith("the video or audio data")
    assert "cawg.new.thing" in explain_failure("cawg.new.thing", "boom")
    assert "identity assertion" in explain_failure("cawg.new.thing")
    generic = explain_failure("brand.new.code", "details from c2pa")
    assert "brand.new.code" in generic and "details from c2pa" in generic
    f = ValidationFailure(code="timeStamp.untrusted", explanation=explain_failure("timeStamp.untrusted"))
    assert f.trust_only and f.to_dict()["scope"] == "active_manifest"
