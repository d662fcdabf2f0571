"""Tests for samples/make_samples.py and the committed files in samples/.

The samples are regenerated into tmp_path with a fresh instance and must read as the
committed ``samples/INDEX.md`` says ("here"); the committed files, checked with another
fresh instance, must read as its "elsewhere" column says. Real stamping, c2pa and SQLite.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image

from provenance.report import Verifier
from provenance.settings import Settings

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES_DIR / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_samples = _load_script()
INDEX = make_samples.read_index(SAMPLES_DIR / "INDEX.md")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path):
    root = tmp_path_factory.mktemp("samples")
    settings = Settings(instance_path=root / "instance")
    results = make_samples.make_samples(root / "out", settings=settings, photos_dir=shared_dir / "samples")
    return root, settings, results


def test_index_lists_every_sample() -> None:
    assert list(INDEX) == [s.name for s in make_samples.SAMPLES]
    assert INDEX == {s.name: (s.here, s.elsewhere) for s in make_samples.SAMPLES}


@pytest.mark.slow
def test_regenerated_samples_read_as_the_index_says(regenerated) -> None:
    root, settings, results = regenerated
    got = {r.sample.name: (r.here.verdict.code, r.elsewhere.verdict.code) for r in results}
    assert got == INDEX
    assert sorted(p.name for p in (root / "out").iterdir()) == sorted([*INDEX, "INDEX.md"])
    assert make_samples.read_index(root / "out" / "INDEX.md") == INDEX


@pytest.mark.slow
def test_regenerated_samples_carry_the_registry_ids(regenerated) -> None:
    root, settings, results = regenerated
    by_name = {r.sample.name: r for r in results}
    parent = by_name["stamped.png"].here
    for name in ("stamped.png", "stripped.jpg", "tampered.png", "screenshot.png"):
        report = by_name[name].here
        assert report.watermark.stamp_id == parent.watermark.stamp_id == parent.registry.record.stamp_id, name
        assert not by_name[name].elsewhere.watermark.detected  # another instance's key cannot read it
    assert by_name["stripped.jpg"].here.manifest.state == "absent"
    assert by_name["stripped.jpg"].here.registry.recovered_manifest.ai_disclosure == "ai_generated"
    assert by_name["screenshot.png"].here.registry.recovered_because_missing
    assert "assertion.dataHash.mismatch" in {f.code for f in by_name["tampered.png"].here.manifest.failures}
    assert not by_name["unmarked.jpg"].here.watermark.detected
    ids = {by_name[n].here.watermark.stamp_id for n in ("stamped.png", "stamped.jpg", "stamped.webp")}
    assert len(ids) == 3  # three separate stamps
    with Verifier(settings) as v:
        assert v.registry.count_stamps() == 3


def test_committed_samples_read_as_the_index_says_elsewhere(tmp_path: Path) -> None:
    with Verifier(Settings(instance_path=tmp_path / "instance")) as fresh:
        got = {name: fresh.verify(SAMPLES_DIR / name).verdict.code for name in INDEX}
    assert got == {name: elsewhere for name, (_, elsewhere) in INDEX.items()}


def test_committed_samples_are_small_and_not_the_source_photos(shared_dir: Path) -> None:
    sources = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (shared_dir / "samples").iterdir()}
    total = 0
    for name in INDEX:
        data = (SAMPLES_DIR / name).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() not in sources, name
        with Image.open(SAMPLES_DIR / name) as im:
            assert max(im.size) <= 1024, name
    assert total <= 3 * 2**20


@pytest.mark.slow
def test_script_runs_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in ("PROVENANCE_DATABASE_URL", "PROVENANCE_WATERMARK_KEYS", "PROVENANCE_SIGNING_CERT", "PROVENANCE_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert make_samples.main(["--out", str(tmp_path / "out"), "--instance", str(tmp_path / "inst")]) == 0
    out = capsys.readouterr().out
    assert "stripped.jpg" in out and "ai_generated_recovered" in out and "wrote 7 files" in out
    assert (tmp_path / "inst" / "provenance.sqlite").is_file()  # stamped into the given instance
    assert make_samples.read_index(tmp_path / "out" / "INDEX.md") == INDEX


def test_script_reports_a_missing_photo_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="PROVENANCE_SHARED"):
        make_samples.make_samples(tmp_path / "out", settings=Settings(instance_path=tmp_path / "i"), photos_dir=tmp_path)
    assert not (tmp_path / "i").exists()  # checked before anything was stamped
