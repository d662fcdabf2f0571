"""Tests for ``provenance hash``, ``bank ...``, ``match`` and ``report`` (real SQLite registry via click's runner)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.banks import Banks
from provenance.cli import main
from provenance.registry import Registry, StampRecord
from provenance.transparency import transparency_report


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVENANCE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("PROVENANCE_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def photo(shared_dir: Path) -> Path:
    return shared_dir / "samples" / "kodim03.png"


def test_hash_prints_pdq_quality_and_digests(run, photo: Path, tmp_path: Path) -> None:
    out = run("hash", "--json", str(photo))
    assert out.exit_code == 0
    row = json.loads(out.output)
    assert len(row["pdq"]) == 64 and row["quality"] >= 50 and row["matchable"] is True
    assert len(row["md5"]) == 32 and len(row["sha256"]) == 64
    text = run("hash", str(photo))
    assert text.output.split()[:2] == [row["pdq"], str(row["quality"])]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    mixed = run("hash", str(photo), str(bad))
    assert mixed.exit_code == 2 and "bad.png" in mixed.output


def test_bank_lifecycle_and_match(run, photo: Path, tmp_path: Path) -> None:
    pdq = json.loads(run("hash", "--json", str(photo)).output)["pdq"]
    assert run("bank", "create", "reports", "--label", "ncii").exit_code == 0
    listing = tmp_path / "list.csv"
    listing.write_text(f"hash,source,case_id\n{pdq},stopncii,case-1\n")
    imported = run("bank", "import", "reports", str(listing), "--json")
    assert json.loads(imported.output)["added"] == 1
    again = run("bank", "import", "reports", str(listing))
    assert again.exit_code == 1 and "already in bank 'reports'" in again.output
    banks = {json.loads(line)["name"]: json.loads(line) for line in run("bank", "list", "--json").output.splitlines()}
    assert banks["reports"]["entry_count"] == 1 and banks["reports"]["label"] == "ncii"
    match = json.loads(run("match", "--json", str(photo)).output)
    assert match["status"] == "matched" and match["matches"][0]["case_id"] == "case-1"
    assert "never proof" in match["explanation"]
    exported = run("bank", "export", "reports", "--format", "json")
    assert json.loads(exported.output)["hashes"][0]["hash"] == pdq
    assert run("bank", "withdraw", "reports", pdq).exit_code == 0
    assert json.loads(run("match", "--json", str(photo)).output)["status"] == "no_match"
    bad = run("bank", "add", "reports", "xyz")
    assert bad.exit_code == 1 and "64 hex digits" in bad.output
    assert run("bank", "set", "reports", "--disable", "--json").exit_code == 0
    report = json.loads(run("report", "--since", "2000-01-01", "--json").output)
    assert report["totals"]["bank_checks"] == 2 and report["totals"]["bank_matches"] == {"ncii": 1}
    assert "error: --since must be a date" in run("report", "--since", "last week").output


def test_transparency_counts_per_day_without_personal_data(tmp_path: Path) -> None:
    with Registry(f"sqlite:///{tmp_path / 'r.sqlite'}") as reg:
        for n, gen in enumerate(["gen-a", "gen-a", "gen-b"]):
            reg.record_stamp(StampRecord.new(generator=gen, manifest_json="{}", sha256=f"{n:064x}",
                                             requester="alice@example.org"))
        reg.log_event("verify", sha256="1" * 64, verdict="no_signals", detail={"bank_matches": {"ncii": 2}})
        reg.log_event("verify", sha256="2" * 64, verdict="ai_generated_recovered")
        reg.log_event("match", sha256="3" * 64, verdict="matched", detail={"bank_matches": {"csam": 1}})
        today = datetime.now(timezone.utc).date()
        report = transparency_report(reg, today - timedelta(days=1))
        (day,) = report.days
        assert day.day == today and day.stamps == {"gen-a": 2, "gen-b": 1} and day.verifications == 2
        assert day.verdicts == {"no_signals": 1, "ai_generated_recovered": 1}
        assert day.bank_matches == {"ncii": 2, "csam": 1} and day.bank_checks == 1
        text = json.dumps(report.to_dict())
        assert "alice" not in text and "1111" not in text
        assert transparency_report(reg, today + timedelta(days=1), today + timedelta(days=2)).days == ()
