"""The case workflow: intake, transitions with an audit event each, the deadline, and purging.

States: ``received -> in_review -> removed | rejected | withdrawn`` (a decision taken on a
``received`` case passes through ``in_review`` first, so both steps are in the audit trail).
Every write happens in one registry transaction; a refused action writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import CaseNotFoundError, CaseStateError, InvalidInputError
from ..registry import Registry, transaction
from ..registry.schema import case_events, case_hashes, case_matches, cases, utc_now
from .records import (
    CASE_STATES,
    CLOSED_STATES,
    MAX_TEXT_CHARS,
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseHash,
    CaseMatch,
    CaseRequest,
)

__all__ = ["CaseStore", "NewCase", "Clock", "Notify", "DEFAULT_DEADLINE_HOURS", "DEFAULT_CONTACT_DAYS"]

logger = logging.getLogger(__name__)

#: Hours the platform has to act (the Act: "within 48 hours").
DEFAULT_DEADLINE_HOURS = 48
#: Days a closed case keeps the requester's contact and signature.
DEFAULT_CONTACT_DAYS = 30
_ACTOR_CHARS = 64
_CASE_ID_PREFIX = "TD-"

#: A clock: returns the current timezone-aware UTC time (tests pass a controllable one).
Clock = Callable[[], datetime]
#: Called after a commit with an event name and its JSON payload (webhooks).
Notify = Callable[[str, dict], None]

_NEXT = {"received": ("in_review", "withdrawn"), "in_review": ("removed", "rejected", "withdrawn")}


@dataclass(frozen=True)
class NewCase:
    """A case just received: its record and the private status token (shown once, stored hashed)."""

    case: Case
    status_token: str

    def __repr__(self) -> str:
        return f"NewCase({self.case.case_id!r})"


def status_digest(token: str) -> str:
    """SHA-256 of a status token (only this is stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor.strip()) > _ACTOR_CHARS:
        raise InvalidInputError(f"actor must be a non-empty name of at most {_ACTOR_CHARS} characters.")
    return actor.strip()


def _check_case_id(case_id: object) -> str:
    if not isinstance(case_id, str) or not case_id.startswith(_CASE_ID_PREFIX) or len(case_id) != 13:
        raise CaseNotFoundError(f"No case has the number {str(case_id)[:40]!r}; case numbers look like TD-1A2B3C4D5E.")
    return case_id


class CaseStore:
    """Removal cases in the registry database.

    Parameters
    ----------
    registry : Registry
    clock : callable, optional
        Returns the current UTC time; tests pass a controllable one.
    deadline_hours : int
        Hours from receipt to the deadline.
    contact_days : int
        Days after a case closes before its contact details and signature are deleted.
    notify : callable, optional
        ``notify(event, payload)`` after each commit: ``case.received``, ``case.decided``,
        ``case.overdue``, ``sweep.match`` (payloads hold no personal data).
    """

    def __init__(self, registry: Registry, *, clock: Clock = utc_now, deadline_hours: int = DEFAULT_DEADLINE_HOURS,
                 contact_days: int = DEFAULT_CONTACT_DAYS, notify: Notify | None = None) -> None:
        if deadline_hours <= 0 or contact_days <= 0:
            raise InvalidInputError("deadline_hours and contact_days must be positive.")
        self._registry = registry
        self._clock = clock
        self.deadline = timedelta(hours=deadline_hours)
        self.contact_retention = timedelta(days=contact_days)
        self._notify = notify

    @property
    def registry(self) -> Registry:
        """The registry the cases live in."""
        return self._registry

    def now(self) -> datetime:
        """The store's clock."""
        return self._clock()

    def _emit(self, event: str, payload: dict) -> None:
        if self._notify is not None:
            self._notify(event, payload)

    # ------------------------------------------------------------------ intake

    def receive(self, request: CaseRequest) -> NewCase:
        """Store a checked request as a new ``received`` case; return it with its status token."""
        if not isinstance(request, CaseRequest):
            raise InvalidInputError("receive() takes a CaseRequest from check_request().")
        now = self.now()
        token = secrets.token_urlsafe(32)
        case_id = _CASE_ID_PREFIX + secrets.token_hex(5).upper()
        with transaction(self._registry, "case intake", write=True) as conn:
            conn.execute(cases.insert().values(
                case_id=case_id, status_sha256=status_digest(token), state="received", channel=request.channel,
                received_at=now, deadline_at=now + self.deadline, decided_at=None, overdue_at=None,
                locations_json=json.dumps(list(request.locations)), description=request.description,
                signature=request.signature, good_faith=True, contact=request.contact, decision_note=None,
            ))
            if request.hashes:
                conn.execute(case_hashes.insert(), [
                    {"case_id": case_id, "kind": h.kind, "value": h.value, "quality": h.quality, "origin": h.origin}
                    for h in request.hashes
                ])
            self._event(conn, case_id, now, f"requester:{request.channel}", None, "received", None)
            case = self._load(conn, case_id)
        logger.info("case %s received (%d locations, %d hashes)", case_id, len(request.locations), len(request.hashes))
        self._emit("case.received", _public_payload(case))
        return NewCase(case, token)

    # ------------------------------------------------------------------ reads

    def get(self, case_id: str) -> Case:
        """The case with this number, with its hashes, events and matches.

        Raises
        ------
        CaseNotFoundError
        """
        case_id = _check_case_id(case_id)
        with transaction(self._registry, "case read", write=False) as conn:
            return self._load(conn, case_id)

    def by_status_token(self, token: object) -> Case:
        """The case a status link names.

        Raises
        ------
        CaseNotFoundError
            If the token is malformed, unknown, or expired (its case's personal data was purged).
        """
        if not isinstance(token, str) or not 20 <= len(token) <= 100:
            raise CaseNotFoundError("This status link is not valid; use the link you were given when you reported.")
        with transaction(self._registry, "case read", write=False) as conn:
            case_id = conn.scalar(sa.select(cases.c.case_id).where(cases.c.status_sha256 == status_digest(token)))
            if case_id is None:
                raise CaseNotFoundError(
                    "This status link is not valid or has expired; status links stop working "
                    f"{self.contact_retention.days} days after a case is closed."
                )
            return self._load(conn, case_id)

    def list(self, *, states: Iterable[str] | None = None, limit: int = 500) -> list[Case]:
        """Cases, soonest deadline first (without events and matches)."""
        wanted = tuple(states) if states is not None else CASE_STATES
        for s in wanted:
            if s not in CASE_STATES:
                raise InvalidInputError(f"Unknown case state {s!r}; states are {', '.join(CASE_STATES)}.")
        with transaction(self._registry, "case list", write=False) as conn:
            rows = conn.execute(
                sa.select(cases).where(cases.c.state.in_(wanted))
                .order_by(cases.c.deadline_at, cases.c.case_id).limit(limit)
            ).all()
            return [_row_to_case(r) for r in rows]

    # ------------------------------------------------------------------ transitions

    def start_review(self, case_id: str, *, actor: str) -> Case:
        """``received -> in_review``."""
        return self._transition(case_id, "in_review", actor=actor, note=None)

    def mark_removed(self, case_id: str, *, actor: str, what: str) -> Case:
        """Decide: the content was removed; `what` says what was removed."""
        return self._transition(case_id, "removed", actor=actor, note=_note(what, "what was removed"))

    def reject(self, case_id: str, *, actor: str, reason: str) -> Case:
        """Decide: rejected; the `reason` is shown to the requester."""
        return self._transition(case_id, "rejected", actor=actor, note=_note(reason, "the reason"))

    def withdraw(self, case_id: str, *, actor: str) -> Case:
        """Close at the requester's wish."""
        return self._transition(case_id, "withdrawn", actor=actor, note=None)

    def decide(self, case_id: str, decision: str, *, actor: str, note: str | None = None) -> Case:
        """``decision`` is removed (note: what), rejected (note: reason), withdrawn or in_review."""
        if decision == "removed":
            return self.mark_removed(case_id, actor=actor, what=note or "")
        if decision == "rejected":
            return self.reject(case_id, actor=actor, reason=note or "")
        if decision in ("withdrawn", "in_review"):
            return self._transition(case_id, decision, actor=actor, note=None)
        raise InvalidInputError(f"A decision is removed, rejected, withdrawn or in_review; got {str(decision)[:20]!r}.")

    def _transition(self, case_id: str, to_state: str, *, actor: str, note: str | None) -> Case:
        case_id, actor = _check_case_id(case_id), _check_actor(actor)
        now = self.now()
        with transaction(self._registry, "case decision", write=True) as conn:
            state = conn.scalar(sa.select(cases.c.state).where(cases.c.case_id == case_id).with_for_update())
            if state is None:
                raise CaseNotFoundError(f"No case has the number {case_id}; 'provenance cases list' shows them.")
            if state == "received" and to_state in ("removed", "rejected"):
                self._event(conn, case_id, now, actor, state, "in_review", None)
                state = "in_review"
            if to_state not in _NEXT.get(state, ()):
                raise CaseStateError(f"Case {case_id} is {state}; it cannot become {to_state}.")
            values: dict[str, Any] = {"state": to_state}
            if to_state in CLOSED_STATES:
                values.update(decided_at=now, decision_note=note)
            conn.execute(cases.update().where(cases.c.case_id == case_id).values(**values))
            self._event(conn, case_id, now, actor, state, to_state, note)
            case = self._load(conn, case_id)
        if to_state in CLOSED_STATES:
            self._emit("case.decided", _public_payload(case))
        return case

    # ------------------------------------------------------------------ clock-driven

    def flag_overdue(self) -> list[Case]:
        """Flag open cases past their deadline; each case is flagged once. Returns the newly flagged."""
        now = self.now()
        with transaction(self._registry, "case overdue check", write=True) as conn:
            ids = conn.execute(
                sa.select(cases.c.case_id).where(cases.c.state.in_(OPEN_STATES), cases.c.overdue_at.is_(None),
                                                 cases.c.deadline_at < now).with_for_update()
            ).scalars().all()
            if ids:
                conn.execute(cases.update().where(cases.c.case_id.in_(ids), cases.c.overdue_at.is_(None))
                             .values(overdue_at=now))
            flagged = [_row_to_case(r) for r in conn.execute(sa.select(cases).where(cases.c.case_id.in_(ids))).all()]
        for case in flagged:
            logger.warning("case %s is overdue (deadline %s)", case.case_id, case.deadline_at.isoformat())
            self._emit("case.overdue", _public_payload(case))
        return flagged

    def purge_contacts(self) -> int:
        """Delete contact, signature and status token of cases closed longer than the retention; return how many."""
        cutoff = self.now() - self.contact_retention
        with transaction(self._registry, "case contact purge", write=True) as conn:
            result = conn.execute(
                cases.update().where(cases.c.state.in_(CLOSED_STATES), cases.c.decided_at < cutoff,
                                     cases.c.contact_purged_at.is_(None))
                .values(contact=None, signature=None, status_sha256=None, contact_purged_at=self.now())
            )
            return int(result.rowcount or 0)

    # ------------------------------------------------------------------ matches

    def attach_matches(self, case_id: str, matches: Iterable[tuple[str, str, int]], *, alert: bool) -> list[CaseMatch]:
        """Attach (content_id, kind, distance) results to a case; return the ones not attached before."""
        case_id = _check_case_id(case_id)
        now = self.now()
        new: list[CaseMatch] = []
        with transaction(self._registry, "case sweep results", write=True) as conn:
            seen = {(r.content_id, r.kind) for r in conn.execute(
                sa.select(case_matches.c.content_id, case_matches.c.kind).where(case_matches.c.case_id == case_id))}
            rows = []
            for content_id, kind, distance in matches:
                if (content_id, kind) in seen:
                    continue
                seen.add((content_id, kind))
                rows.append({"case_id": case_id, "content_id": content_id, "kind": kind, "distance": int(distance),
                             "found_at": now, "alert": alert})
                new.append(CaseMatch(content_id, kind, int(distance), now, alert))
            if rows:
                conn.execute(case_matches.insert(), rows)
        if new:
            self._emit("sweep.match", {"case_id": case_id, "alert": alert,
                                       "matches": [m.to_dict() for m in new]})
        return new

    def hashes_of(self, states: Iterable[str]) -> list[tuple[str, CaseHash]]:
        """(case_id, hash) of every case in `states` (for matching newly indexed content)."""
        with transaction(self._registry, "case hashes", write=False) as conn:
            rows = conn.execute(
                sa.select(case_hashes).join(cases, cases.c.case_id == case_hashes.c.case_id)
                .where(cases.c.state.in_(tuple(states)))
            ).all()
        return [(r.case_id, CaseHash(r.kind, r.value, r.quality, r.origin)) for r in rows]

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _event(conn: Connection, case_id: str, when: datetime, actor: str, from_state: str | None, to_state: str,
               detail: str | None) -> None:
        conn.execute(case_events.insert().values(case_id=case_id, occurred_at=when, actor=actor,
                                                 from_state=from_state, to_state=to_state, detail=detail))

    @staticmethod
    def _load(conn: Connection, case_id: str) -> Case:
        row = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).first()
        if row is None:
            raise CaseNotFoundError(f"No case has the number {case_id}; 'provenance cases list' shows them.")
        hashes = tuple(CaseHash(r.kind, r.value, r.quality, r.origin) for r in conn.execute(
            sa.select(case_hashes).where(case_hashes.c.case_id == case_id).order_by(case_hashes.c.hash_id)))
        events = tuple(CaseEvent(r.case_id, r.occurred_at, r.actor, r.from_state, r.to_state, r.detail)
                       for r in conn.execute(sa.select(case_events).where(case_events.c.case_id == case_id)
                                             .order_by(case_events.c.event_id)))
        matches = tuple(CaseMatch(r.content_id, r.kind, r.distance, r.found_at, r.alert) for r in conn.execute(
            sa.select(case_matches).where(case_matches.c.case_id == case_id)
            .order_by(case_matches.c.distance, case_matches.c.content_id)))
        return _row_to_case(row, hashes, events, matches)


def _note(text: object, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"Say {what}: the note may not be empty.")
    if len(text.strip()) > MAX_TEXT_CHARS:
        raise InvalidInputError(f"The note is too long: at most {MAX_TEXT_CHARS} characters.")
    return text.strip()


def _row_to_case(row: sa.Row, hashes: tuple = (), events: tuple = (), matches: tuple = ()) -> Case:
    return Case(row.case_id, row.state, row.channel, row.received_at, row.deadline_at, row.decided_at,
                row.overdue_at, tuple(json.loads(row.locations_json)), row.description, row.signature,
                bool(row.good_faith), row.contact, row.decision_note, hashes, events, matches)


def _public_payload(case: Case) -> dict:
    """A webhook payload: no contact, signature or reviewer names."""
    return {"case_id": case.case_id, "state": case.state, "received_at": case.received_at.isoformat(),
            "deadline_at": case.deadline_at.isoformat(),
            "decided_at": None if case.decided_at is None else case.decided_at.isoformat(),
            "overdue": case.overdue_at is not None, "locations": list(case.locations)}
