"""Transparency figures from the audit log (:func:`provenance.transparency.transparency_report`).

``GET /transparency``           public HTML page: per-day table and totals (no JavaScript)
``GET /api/v1/transparency``    the same figures as JSON

Both take ``?days=N`` (the last N UTC days, default 30) or ``?since=YYYY-MM-DD``, at most
:data:`MAX_DAYS` days back. Only counts are shown: stamps per generator, verifications,
verdicts, bank checks and bank matches per label. No hashes, IDs or requesters.

The public sees complete past days only (the last N days end yesterday) with bank matches per
label rounded down (``public=True`` of :func:`~provenance.transparency.transparency_report`), so
that reading the counts before and after verifying an image does not tell whether it is in a
bank. A bearer token with the ``admin`` role gets the full live figures (the last N days
include today).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from provenance import case_figures, parse_since, transparency_report

from .auth import optional_token
from .errors import AppError
from .services import get_services
from .uploads import check_fields

__all__ = ["bp", "MAX_DAYS", "DEFAULT_DAYS"]

bp = Blueprint("transparency", __name__)

#: Days shown without parameters, and the longest range served (older figures: ``provenance report``).
DEFAULT_DAYS, MAX_DAYS = 30, 366


def _since(public: bool) -> datetime:
    """The first UTC midnight to count from, from ``days`` or ``since`` (public ranges end yesterday)."""
    check_fields(("days", "since"))
    days, since = request.args.get("days"), request.args.get("since")
    today = datetime.now(timezone.utc).date()
    if days is not None and since is not None:
        raise AppError(400, "invalid_input", "Give days or since, not both.")
    if since is not None:
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise AppError(400, "invalid_input", f"since must be a date like 2024-05-01; got {since[:40]!r}.") from exc
        first = start.date()
    else:
        try:
            n = DEFAULT_DAYS if days is None else int(days)
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_DAYS:
            raise AppError(400, "invalid_input", f"days must be a whole number from 1 to {MAX_DAYS}; got {days[:40]!r}.")
        first = today - timedelta(days=n if public else n - 1)
    if first > today:
        raise AppError(400, "invalid_input", f"since ({first}) is in the future.")
    if public and first == today:
        raise AppError(400, "invalid_input", "The public figures cover complete days, up to yesterday (UTC); "
                       "give an earlier since.")
    if (today - first).days >= MAX_DAYS:
        raise AppError(400, "invalid_input", f"The page covers at most {MAX_DAYS} days; for older figures use "
                       "'provenance report --since DATE'.")
    return datetime.combine(first, time(0), tzinfo=timezone.utc)


def _figures() -> dict[str, Any]:
    public = not optional_token("admin")
    figures = transparency_report(get_services().registry, _since(public), public=public).to_dict()
    figures["cases"] = case_figures(get_services().registry, since=datetime.fromisoformat(figures["since"]),
                                    until=datetime.fromisoformat(figures["until"])).to_dict()  # Take It Down
    return figures


def _calendar(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Every day of the range, newest first; days without activity as zeros."""
    have = {d["day"]: d for d in figures["days"]}
    first = date.fromisoformat(figures["since"][:10])
    last = (datetime.fromisoformat(figures["until"]) - timedelta(microseconds=1)).date()  # until is exclusive
    out = []
    day = last
    while day >= first:
        key = day.isoformat()
        out.append(have.get(key) or {"day": key, "stamps": {}, "stamp_count": 0, "verifications": 0,
                                     "verdicts": {}, "bank_checks": 0, "bank_matches": {}})
        day -= timedelta(days=1)
    return out


@bp.get("/transparency")
def page() -> str:
    """The public transparency page."""
    figures = _figures()
    days = _calendar(figures)
    return render_template("transparency.html", f=figures, days=days, first=figures["since"][:10], last=days[0]["day"])


@bp.get("/api/v1/transparency")
def as_json() -> Response:
    """The transparency figures as JSON (``TransparencyReport.to_dict``)."""
    return jsonify(_figures())
