"""Transparency figures from the audit log: what was stamped, verified and matched, per day.

::

    report = transparency_report(registry, since=date(2024, 5, 1))
    report.to_dict()        # {"since": ..., "days": [{"day": "2024-05-01", "stamps": {...}, ...}], "totals": {...}}

Only counts leave this module: stamps per generator, verifications, verdict codes, and hash-bank
matches per label (from ``verify`` and ``match`` events). No hashes, IDs or requesters: nothing
personal. Days are UTC calendar days.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

import sqlalchemy as sa

from .errors import InvalidInputError
from .registry import Registry, transaction
from .registry.schema import audit_log as audit_table
from .registry.schema import stamps as stamps_table

__all__ = ["DayCounts", "TransparencyReport", "transparency_report", "parse_since"]


@dataclass(frozen=True)
class DayCounts:
    """Counts for one UTC day."""

    day: date
    stamps: dict[str, int] = field(default_factory=dict)  # per generator
    verifications: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)  # per verdict code
    bank_checks: int = 0  # `match` events (provenance match, the match API)
    bank_matches: dict[str, int] = field(default_factory=dict)  # per bank label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "day": self.day.isoformat(),
            "stamps": dict(sorted(self.stamps.items())),
            "stamp_count": sum(self.stamps.values()),
            "verifications": self.verifications,
            "verdicts": dict(sorted(self.verdicts.items())),
            "bank_checks": self.bank_checks,
            "bank_matches": dict(sorted(self.bank_matches.items())),
        }


@dataclass(frozen=True)
class TransparencyReport:
    """Per-day counts from `since` (inclusive) to `until` (exclusive), days with activity only."""

    since: datetime
    until: datetime
    days: tuple[DayCounts, ...]

    def totals(self) -> DayCounts:
        """All days added up (``day`` is `since`'s date)."""
        stamps, verdicts, matches = Counter(), Counter(), Counter()
        for d in self.days:
            stamps.update(d.stamps)
            verdicts.update(d.verdicts)
            matches.update(d.bank_matches)
        return DayCounts(self.since.date(), dict(stamps), sum(d.verifications for d in self.days), dict(verdicts),
                         sum(d.bank_checks for d in self.days), dict(matches))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (for ``provenance report --json`` and the /transparency page)."""
        totals = self.totals().to_dict()
        totals.pop("day")
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "days": [d.to_dict() for d in self.days], "totals": totals}


def parse_since(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` (or a full ISO 8601 time) as a UTC datetime.

    Raises
    ------
    InvalidInputError
        If it is not ISO 8601.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise InvalidInputError(f"--since must be a date like 2024-05-01 (ISO 8601); got {text!r}.") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _as_utc(value: date | datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    raise InvalidInputError(f"{name} must be a date or datetime; got {type(value).__name__}.")


def transparency_report(registry: Registry, since: date | datetime, until: date | datetime | None = None) -> TransparencyReport:
    """Count stamps per generator, verifications, verdicts and bank matches per label, per UTC day.

    Parameters
    ----------
    registry : Registry
    since : date or datetime
        First day (naive values are UTC).
    until : date or datetime, optional
        End, exclusive (default now).

    Raises
    ------
    InvalidInputError
        If `since` is not before `until`.
    RegistryError
        If the database fails.
    """
    start = _as_utc(since, "since")
    end = _as_utc(until, "until") or datetime.now(timezone.utc)
    if start is None or start >= end:
        raise InvalidInputError(f"since ({start}) must be before until ({end}).")
    a, s = audit_table, stamps_table
    query = (
        sa.select(a.c.occurred_at, a.c.kind, a.c.verdict, a.c.detail_json, s.c.generator)
        .select_from(a.outerjoin(s, s.c.stamp_id == a.c.stamp_id))
        .where(a.c.occurred_at >= start, a.c.occurred_at < end)
        .order_by(a.c.event_id)
    )
    stamps: dict[date, Counter] = defaultdict(Counter)
    verdicts: dict[date, Counter] = defaultdict(Counter)
    matches: dict[date, Counter] = defaultdict(Counter)
    verifications: Counter = Counter()
    checks: Counter = Counter()
    with transaction(registry, "transparency", write=False) as conn:
        for occurred, kind, verdict, detail_json, generator in conn.execute(query):
            day = occurred.date()
            if kind == "stamp":
                stamps[day][generator or "unknown"] += 1
                continue
            if kind == "verify":
                verifications[day] += 1
                verdicts[day][verdict] += 1
            elif kind == "match":
                checks[day] += 1
            detail = json.loads(detail_json) if detail_json else {}
            for label, n in (detail.get("bank_matches") or {}).items():
                matches[day][label] += int(n)
    days = sorted(set(stamps) | set(verifications) | set(checks) | set(matches))
    return TransparencyReport(start, end, tuple(
        DayCounts(d, dict(stamps[d]), verifications[d], dict(verdicts[d]), checks[d], dict(matches[d])) for d in days
    ))
