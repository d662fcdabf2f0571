"""Transparency figures from the audit log: what was stamped, verified and matched, per day.

::

    report = transparency_report(registry, since=date(2024, 5, 1))
    report.to_dict()        # {"since": ..., "days": [{"day": "2024-05-01", "stamps": {...}, ...}], "totals": {...}}

Only counts leave this module: stamps per generator, verifications, verdict codes, and hash-bank
matches per label (from ``verify`` and ``match`` events). No hashes, IDs or requesters: nothing
personal. Days are UTC calendar days. The counting is done by the database (``GROUP BY`` day).

The **public** view (``public=True``, what anonymous callers of the web app see) must not tell
anyone whether one image is in a bank: read the bank-match counts, verify the image, read
again. So it covers complete past UTC days only (nothing from today), and bank matches per
label are rounded down to multiples of :data:`PUBLIC_MATCH_BUCKET` per day (smaller counts are
not shown; totals add up the days shown). Operators (admin tokens, ``provenance report``) see the full live figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from .errors import InvalidInputError
from .registry import Registry, transaction
from .registry.schema import audit_log as audit_table
from .registry.schema import stamps as stamps_table

__all__ = ["PUBLIC_MATCH_BUCKET", "DayCounts", "TransparencyReport", "transparency_report", "parse_since"]

#: Public bank-match counts are rounded down to a multiple of this (per day, per label, and in totals).
PUBLIC_MATCH_BUCKET = 10


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
    public: bool = False  # complete past days only, bank matches coarsened (see the module docstring)

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
        out = {"since": self.since.isoformat(), "until": self.until.isoformat(),
               "days": [d.to_dict() for d in self.days], "totals": totals}
        if self.public:
            out["public_view"] = {"complete_days_only": True, "bank_matches_rounded_down_to": PUBLIC_MATCH_BUCKET}
        return out


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


def _coarse(matches: dict[str, int]) -> dict[str, int]:
    rounded = {label: n - n % PUBLIC_MATCH_BUCKET for label, n in matches.items()}
    return {label: n for label, n in rounded.items() if n}


def _public(report: TransparencyReport) -> TransparencyReport:
    """The public view of `report`: each day's bank matches coarsened (totals add up the shown days)."""
    days = tuple(replace(d, bank_matches=_coarse(d.bank_matches)) for d in report.days)
    return replace(report, days=days, public=True)


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a time column, in SQL."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite keeps naive UTC text


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def transparency_report(registry: Registry, since: date | datetime, until: date | datetime | None = None, *,
                        public: bool = False) -> TransparencyReport:
    """Count stamps per generator, verifications, verdicts and bank matches per label, per UTC day.

    Parameters
    ----------
    registry : Registry
    since : date or datetime
        First day (naive values are UTC).
    until : date or datetime, optional
        End, exclusive (default now).
    public : bool
        The public view: `until` is at most the start of today (UTC), and bank matches per label
        are rounded down to multiples of :data:`PUBLIC_MATCH_BUCKET`.

    Raises
    ------
    InvalidInputError
        If `since` is not before `until`.
    RegistryError
        If the database fails.
    """
    start = _as_utc(since, "since")
    now = datetime.now(timezone.utc)
    end = _as_utc(until, "until") or now
    if public:
        end = min(end, datetime.combine(now.date(), time(0), tzinfo=timezone.utc))
    if start is None or start >= end:
        raise InvalidInputError(f"since ({start}) must be before until ({end}).")
    a, s = audit_table, stamps_table
    in_range = (a.c.occurred_at >= start, a.c.occurred_at < end)
    stamps: dict[date, Counter] = defaultdict(Counter)
    verdicts: dict[date, Counter] = defaultdict(Counter)
    matches: dict[date, Counter] = defaultdict(Counter)
    verifications: Counter = Counter()
    checks: Counter = Counter()
    with transaction(registry, "transparency", write=False) as conn:
        day = _day(a.c.occurred_at, conn.dialect.name).label("day")
        generator = sa.func.coalesce(s.c.generator, "unknown").label("generator")
        for d, gen, n in conn.execute(
            sa.select(day, generator, sa.func.count())
            .select_from(a.outerjoin(s, s.c.stamp_id == a.c.stamp_id))
            .where(a.c.kind == "stamp", *in_range).group_by(day, generator)
        ):
            stamps[_as_date(d)][gen] += int(n)
        for d, verdict, n in conn.execute(
            sa.select(day, a.c.verdict, sa.func.count()).where(a.c.kind == "verify", *in_range).group_by(day, a.c.verdict)
        ):
            verdicts[_as_date(d)][verdict] += int(n)
            verifications[_as_date(d)] += int(n)
        for d, n in conn.execute(sa.select(day, sa.func.count()).where(a.c.kind == "match", *in_range).group_by(day)):
            checks[_as_date(d)] += int(n)
        # Bank matches per label, from each event's small JSON detail ({"bank_matches": {label: n}}).
        if conn.dialect.name == "postgresql":
            each = sa.func.jsonb_each_text(sa.cast(a.c.detail_json, JSONB)["bank_matches"]).table_valued("key", "value")
            count = sa.func.sum(sa.cast(each.c.value, sa.Integer))
        else:
            each = sa.func.json_each(a.c.detail_json, "$.bank_matches").table_valued("key", "value")
            count = sa.func.sum(each.c.value)
        for d, label, n in conn.execute(
            sa.select(day, each.c.key, count).select_from(a).join(each, sa.true())
            .where(a.c.kind.in_(("verify", "match")), a.c.detail_json.is_not(None), *in_range)
            .group_by(day, each.c.key)
        ):
            matches[_as_date(d)][label] += int(n)
    days = sorted(set(stamps) | set(verifications) | set(checks) | set(matches))
    report = TransparencyReport(start, end, tuple(
        DayCounts(d, dict(stamps[d]), verifications[d], dict(verdicts[d]), checks[d], dict(matches[d])) for d in days
    ))
    return _public(report) if public else report
