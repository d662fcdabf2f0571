"""Transparency figures: counted per UTC day by the database; the public view hides live bank matches."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone

import pytest

from provenance.registry import Registry, StampRecord, transaction
from provenance.registry.schema import audit_log
from provenance.transparency import PUBLIC_MATCH_BUCKET, transparency_report

TODAY = datetime.now(timezone.utc).date()
MIDNIGHT = datetime.combine(TODAY, time(0), tzinfo=timezone.utc)


def _event(registry: Registry, when: datetime, kind: str, verdict: str, matches: dict | None = None) -> None:
    """An audit row at a chosen time (the log is append-only: inserting is allowed, changing is not)."""
    detail = None if matches is None else json.dumps({"bank_matches": matches, "pdq": None})
    with transaction(registry, "test", write=True) as conn:
        conn.execute(audit_log.insert().values(occurred_at=when, kind=kind, sha256="0" * 64, verdict=verdict,
                                               stamp_id=None, detail_json=detail))


@pytest.fixture
def registry(db_url: str):
    with Registry(db_url) as r:
        yield r


def test_counts_per_day_come_from_the_database(registry: Registry) -> None:
    two_days_ago, yesterday = MIDNIGHT - timedelta(days=2) + timedelta(hours=23, minutes=59), MIDNIGHT - timedelta(hours=1)
    for _ in range(12):
        _event(registry, yesterday, "verify", "no_signals", {"ncii": 1})
    for _ in range(3):
        _event(registry, yesterday, "match", "matched", {"csam": 1, "ncii": 2})
    _event(registry, two_days_ago, "verify", "ai_generated_trusted", {})
    _event(registry, two_days_ago, "match", "no_match", {})
    registry.record_stamp(StampRecord.new(generator="gen-a", manifest_json="{}", sha256="1" * 64))
    full = transparency_report(registry, MIDNIGHT - timedelta(days=3)).to_dict()
    by_day = {d["day"]: d for d in full["days"]}
    assert set(by_day) == {(TODAY - timedelta(days=2)).isoformat(), (TODAY - timedelta(days=1)).isoformat(),
                           TODAY.isoformat()}
    y = by_day[(TODAY - timedelta(days=1)).isoformat()]
    assert (y["verifications"], y["verdicts"], y["bank_checks"]) == (12, {"no_signals": 12}, 3)
    assert y["bank_matches"] == {"ncii": 18, "csam": 3}
    assert by_day[TODAY.isoformat()]["stamps"] == {"gen-a": 1}
    assert full["totals"]["verifications"] == 13 and full["totals"]["bank_checks"] == 4


def test_the_public_view_has_complete_days_only_and_coarse_bank_matches(registry: Registry) -> None:
    yesterday = MIDNIGHT - timedelta(hours=1)
    for _ in range(12):
        _event(registry, yesterday, "verify", "no_signals", {"ncii": 1})
    _event(registry, yesterday, "verify", "no_signals", {"csam": 1})
    _event(registry, datetime.now(timezone.utc), "verify", "no_signals", {"ncii": 1})  # today: admins only
    public = transparency_report(registry, MIDNIGHT - timedelta(days=2), public=True)
    assert public.until == MIDNIGHT and [d.day for d in public.days] == [TODAY - timedelta(days=1)]
    assert public.days[0].bank_matches == {"ncii": 10}  # 12 rounded down; csam's 1 not shown
    assert public.to_dict()["public_view"]["bank_matches_rounded_down_to"] == PUBLIC_MATCH_BUCKET
    admin = transparency_report(registry, MIDNIGHT - timedelta(days=2))
    assert admin.totals().bank_matches == {"ncii": 13, "csam": 1} and "public_view" not in admin.to_dict()
