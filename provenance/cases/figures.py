"""Compliance figures for removal cases: received, decided within 48 h, time to decision, overdue, per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..errors import InvalidInputError
from ..registry import Registry, transaction
from ..registry.schema import cases, utc_now

__all__ = ["CaseFigures", "case_figures"]

_WITHIN = timedelta(hours=48)  # the statutory figure, whatever deadline the operator configured


@dataclass(frozen=True)
class CaseFigures:
    """Case figures for cases received from `since` (inclusive) to `until` (exclusive), per UTC receipt day.

    ``decided_within_48h_pct`` and the times are over cases decided so far; ``overdue`` counts
    cases ever flagged overdue (decided late ones too).
    """

    since: datetime
    until: datetime
    received: int
    decided: int
    decided_within_48h_pct: float | None
    median_hours_to_decision: float | None
    p95_hours_to_decision: float | None
    overdue: int
    open: int
    per_day: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "received": self.received, "decided": self.decided,
                "decided_within_48h_pct": self.decided_within_48h_pct,
                "median_hours_to_decision": self.median_hours_to_decision,
                "p95_hours_to_decision": self.p95_hours_to_decision, "overdue": self.overdue, "open": self.open,
                "per_day": list(self.per_day)}


def case_figures(registry: Registry, *, since: datetime, until: datetime | None = None) -> CaseFigures:
    """Figures for cases received from `since` to `until` (default: now).

    Raises
    ------
    InvalidInputError
        If a bound is not a timezone-aware datetime, or `until` is before `since`.
    """
    until = until or utc_now()
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInputError(f"{name} must be a timezone-aware datetime.")
    if until < since:
        raise InvalidInputError("until must not be before since.")
    with transaction(registry, "case figures", write=False) as conn:
        rows = conn.execute(sa.select(cases.c.received_at, cases.c.decided_at, cases.c.overdue_at, cases.c.state)
                            .where(cases.c.received_at >= since, cases.c.received_at < until)).all()
    decided = [r for r in rows if r.decided_at is not None and r.state != "withdrawn"]
    hours = np.array([(r.decided_at - r.received_at).total_seconds() / 3600 for r in decided], dtype=np.float64)
    per: dict[str, dict[str, int]] = {}
    for r in rows:
        day = per.setdefault(r.received_at.date().isoformat(), {"received": 0, "decided": 0, "within_48h": 0, "overdue": 0})
        day["received"] += 1
        day["overdue"] += r.overdue_at is not None
        if r.decided_at is not None and r.state != "withdrawn":
            day["decided"] += 1
            day["within_48h"] += (r.decided_at - r.received_at) <= _WITHIN
    return CaseFigures(
        since=since,
        until=until,
        received=len(rows),
        decided=len(decided),
        decided_within_48h_pct=round(100.0 * float(np.mean(hours <= 48.0)), 1) if hours.size else None,
        median_hours_to_decision=round(float(np.median(hours)), 2) if hours.size else None,
        p95_hours_to_decision=round(float(np.percentile(hours, 95)), 2) if hours.size else None,
        overdue=sum(r.overdue_at is not None for r in rows),
        open=sum(r.state in ("received", "in_review") for r in rows),
        per_day=tuple({"day": d, **v} for d, v in sorted(per.items())),
    )
