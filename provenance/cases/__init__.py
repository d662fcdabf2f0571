"""Take It Down removal cases: intake, the 48-hour workflow, the sweep for copies, webhooks, figures.

Modules, one concern each: :mod:`.records` (the four statutory elements, checks, frozen
records), :mod:`.store` (:class:`CaseStore`: states, audit events, deadline, purging),
:mod:`.sweep` (:class:`ContentIndex`: hashes of a platform's uploads and the sweep),
:mod:`.webhooks` (signed deliveries), :mod:`.figures` (compliance figures). Tables live in the
registry (migration 7, ``_v7_cases``). See ``docs/cases.md``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .figures import CaseFigures, case_figures
from .records import (
    CASE_STATES,
    CLOSED_STATES,
    GOOD_FAITH_STATEMENT,
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseHash,
    CaseMatch,
    CaseRequest,
    check_hash,
    check_request,
)
from .store import CaseStore, NewCase
from .sweep import DEFAULT_SWEEP_THRESHOLD, ContentIndex, ContentRow, PdqSnapshot, check_content_row
from .webhooks import WEBHOOK_EVENTS, WebhookSender, load_webhook_secret, sign_delivery, verify_delivery
from .store import Clock

from ..registry import Registry
from ..registry.schema import utc_now
from ..settings import Settings

if TYPE_CHECKING:
    from ..banks import Banks

__all__ = [
    "CASE_STATES",
    "CLOSED_STATES",
    "DEFAULT_SWEEP_THRESHOLD",
    "GOOD_FAITH_STATEMENT",
    "OPEN_STATES",
    "WEBHOOK_EVENTS",
    "Case",
    "CaseEvent",
    "CaseFigures",
    "CaseHash",
    "CaseMatch",
    "CaseRequest",
    "CaseStore",
    "ContentIndex",
    "ContentRow",
    "NewCase",
    "PdqSnapshot",
    "WebhookSender",
    "case_figures",
    "check_content_row",
    "check_hash",
    "check_request",
    "sign_delivery",
    "bank_case_hashes",
    "index_content",
    "open_case_store",
    "sweep_case",
    "verify_delivery",
]


def sweep_case(store: CaseStore, index: ContentIndex, case_id: str) -> list[CaseMatch]:
    """Sweep the index for one case's hashes, attach the results; return the newly found matches."""
    case = store.get(case_id)
    return store.attach_matches(case_id, index.sweep(case.hashes), alert=False)


def index_content(store: CaseStore, index: ContentIndex, rows: list[ContentRow]) -> list[tuple[str, CaseMatch]]:
    """Record new content and check it against open and removed cases: (case_id, match) alerts."""
    index.record(rows)
    found = ContentIndex.match_rows(rows, store.hashes_of(("received", "in_review", "removed")), index.threshold)
    alerts: list[tuple[str, CaseMatch]] = []
    by_case: dict[str, list[tuple[str, str, int]]] = {}
    for case_id, content_id, kind, distance in found:
        by_case.setdefault(case_id, []).append((content_id, kind, distance))
    for case_id, matches in sorted(by_case.items()):
        alerts.extend((case_id, m) for m in store.attach_matches(case_id, matches, alert=True))
    return alerts


def open_case_store(registry: Registry, settings: Settings, *, clock: Clock = utc_now,
                    background: bool = False) -> CaseStore:
    """A :class:`CaseStore` configured by `settings`, sending webhooks when ``PROVENANCE_WEBHOOK_URL`` is set.

    With `background`, each delivery (and its retries) runs in its own daemon thread, so a slow
    receiver does not hold up the request that caused the event.
    """
    notify = None
    if settings.webhook_url:
        secret = load_webhook_secret(settings.webhook_secret_path or settings.instance_path / "webhook_secret")
        sender = WebhookSender(registry, settings.webhook_url, secret)
        notify = sender.send
        if background:
            def notify(event: str, payload: dict) -> None:
                threading.Thread(target=sender.send, args=(event, payload), name="webhook", daemon=True).start()
    return CaseStore(registry, clock=clock, deadline_hours=settings.case_deadline_hours,
                     contact_days=settings.case_contact_days, notify=notify)


def bank_case_hashes(banks: "Banks", case: Case, bank: str, *, label: str = "ncii") -> int:
    """Add a case's PDQ, MD5 and SHA-256 hashes to `bank` (made if missing), so verify and match catch
    re-uploads; return how many were new.

    Raises
    ------
    InvalidInputError
        If the case has no hashes.
    """
    from ..banks import BankEntry  # the banks package is heavier; only this action needs it
    from ..errors import BankNotFoundError, InvalidInputError

    entries = [BankEntry(h.value, kind=h.kind, quality=h.quality, source="takedown", case_id=case.case_id)
               for h in case.hashes if h.kind in ("pdq", "md5", "sha256")]
    if not entries:
        raise InvalidInputError("This case has no hashes to add to a bank.")
    try:
        banks.get(bank)
    except BankNotFoundError:
        banks.create(bank, label=label, description="Hashes from Take It Down removal cases.")
    return banks.add(bank, entries, skip_existing=True).added
