"""What a removal request holds, its checks, and the frozen records the case store returns.

A valid request under the TAKE IT DOWN Act (section 3) has four elements: a signature, the
image's identification and location, a good-faith statement, and contact information.
:func:`check_request` names the first element that is missing or wrong, and bounds every
field, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from ..errors import InvalidInputError

__all__ = [
    "CASE_STATES",
    "OPEN_STATES",
    "CLOSED_STATES",
    "GOOD_FAITH_STATEMENT",
    "MAX_LOCATIONS",
    "MAX_HASHES",
    "MAX_TEXT_CHARS",
    "Case",
    "CaseEvent",
    "CaseHash",
    "CaseMatch",
    "CaseRequest",
    "check_hash",
    "check_request",
]

#: Every state a case can be in.
CASE_STATES = ("received", "in_review", "removed", "rejected", "withdrawn")
#: States in which the 48-hour clock runs.
OPEN_STATES = ("received", "in_review")
#: Decided states.
CLOSED_STATES = ("removed", "rejected", "withdrawn")
#: The statement the requester affirms (the Act, section 3(a)(1)(B)(iii)).
GOOD_FAITH_STATEMENT = (
    "I have a good faith belief that the intimate visual depiction identified in this request "
    "is not consensual, and I am the identifiable individual depicted or authorized to act on their behalf."
)
#: Most locations (URLs) in one request.
MAX_LOCATIONS = 50
#: Most hashes (pictures x kinds) in one request.
MAX_HASHES = 60
#: Longest free-text field, in characters.
MAX_TEXT_CHARS = 4000
_MAX_URL_CHARS = 2000
_MAX_SIGNATURE_CHARS = 200
_MAX_CONTACT_CHARS = 254
_HEX_LEN = {"pdq": 64, "pdqv": 64, "md5": 32, "sha256": 64}  # pdqv: a dihedral variant of a pdq
_EMAIL = re.compile(r"[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().-]{5,24}[0-9]")
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class CaseHash:
    """One hash of a reported picture: ``kind`` is pdq, pdqv (one of its 7 rotated or mirrored
    variants, swept too), md5 or sha256; value is lowercase hex."""

    kind: str
    value: str
    quality: int | None = None
    origin: str = "browser"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"kind": self.kind, "value": self.value, "quality": self.quality, "origin": self.origin}


@dataclass(frozen=True)
class CaseRequest:
    """A checked removal request, ready to store (see :func:`check_request`)."""

    locations: tuple[str, ...]
    description: str
    signature: str
    good_faith: bool
    contact: str
    hashes: tuple[CaseHash, ...] = ()
    channel: str = "form"

    def __repr__(self) -> str:  # personal data stays out of logs and tracebacks
        return f"CaseRequest(locations={len(self.locations)}, hashes={len(self.hashes)}, channel={self.channel!r})"


@dataclass(frozen=True)
class CaseEvent:
    """One transition of a case: who (``actor``), when, from which state to which."""

    case_id: str
    occurred_at: datetime
    actor: str
    from_state: str | None
    to_state: str
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"occurred_at": self.occurred_at.isoformat(), "actor": self.actor, "from_state": self.from_state,
                "to_state": self.to_state, "detail": self.detail}


@dataclass(frozen=True)
class CaseMatch:
    """An indexed content ID that a case's hashes match: by ``kind`` (pdq, md5, sha256) at ``distance`` bits."""

    content_id: str
    kind: str
    distance: int
    found_at: datetime
    alert: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"content_id": self.content_id, "kind": self.kind, "distance": self.distance,
                "found_at": self.found_at.isoformat(), "alert": self.alert}


@dataclass(frozen=True)
class Case:
    """A removal case as reviewers see it (the requester's status page shows only state and deadline).

    ``contact`` and ``signature`` are None once purged; ``overdue_at`` is when the case was first
    seen past its deadline while open (set once, kept after it is decided).
    """

    case_id: str
    state: str
    channel: str
    received_at: datetime
    deadline_at: datetime
    decided_at: datetime | None
    overdue_at: datetime | None
    locations: tuple[str, ...]
    description: str
    signature: str | None
    good_faith: bool
    contact: str | None
    decision_note: str | None
    hashes: tuple[CaseHash, ...] = ()
    events: tuple[CaseEvent, ...] = ()
    matches: tuple[CaseMatch, ...] = field(default=())

    def __repr__(self) -> str:
        return f"Case({self.case_id!r}, state={self.state!r}, deadline_at={self.deadline_at.isoformat()!r})"

    @property
    def is_open(self) -> bool:
        """True while the case waits for a decision."""
        return self.state in OPEN_STATES

    def status_dict(self) -> dict[str, Any]:
        """What the requester may see: number, state, deadline, and a rejection's reason; no names."""
        out: dict[str, Any] = {"case_id": self.case_id, "state": self.state,
                               "received_at": self.received_at.isoformat(), "deadline_at": self.deadline_at.isoformat(),
                               "decided_at": None if self.decided_at is None else self.decided_at.isoformat()}
        if self.state == "rejected":
            out["reason"] = self.decision_note
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything reviewers see, JSON-ready."""
        return {
            **self.status_dict(),
            "channel": self.channel,
            "overdue": self.overdue_at is not None,
            "overdue_at": None if self.overdue_at is None else self.overdue_at.isoformat(),
            "locations": list(self.locations),
            "description": self.description,
            "good_faith": self.good_faith,
            "contact": self.contact,
            "decision_note": self.decision_note,
            "hashes": [h.to_dict() for h in self.hashes],
            "events": [e.to_dict() for e in self.events],
            "matches": [m.to_dict() for m in self.matches],
        }


def _text(value: object, name: str, element: str, max_chars: int, *, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInputError(f"The request is missing {element}: fill in '{name}'.")
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"'{name}' must be text; got {type(value).__name__}.")
    text = value.strip()
    if len(text) > max_chars:
        raise InvalidInputError(f"'{name}' is too long: at most {max_chars} characters; got {len(text)}.")
    if "\x00" in text:
        raise InvalidInputError(f"'{name}' contains a NUL character; send plain text.")
    return text


def _locations(value: object) -> tuple[str, ...]:
    element = "the identification and location of the image (element 2)"
    if isinstance(value, str):
        value = [line for line in value.splitlines()]
    if not isinstance(value, (list, tuple)):
        raise InvalidInputError("'locations' must be a list of URLs (one per line in the form).")
    urls = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    if len(urls) != len([v for v in value if not (isinstance(v, str) and not v.strip())]):
        raise InvalidInputError("'locations' must hold only URLs as text.")
    if not urls:
        raise InvalidInputError(f"The request is missing {element}: give at least one URL in 'locations'.")
    if len(urls) > MAX_LOCATIONS:
        raise InvalidInputError(f"'locations' holds at most {MAX_LOCATIONS} URLs; got {len(urls)}. Send several requests.")
    for url in urls:
        if len(url) > _MAX_URL_CHARS:
            raise InvalidInputError(f"A URL in 'locations' is longer than {_MAX_URL_CHARS} characters.")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
            raise InvalidInputError(
                f"Each location must be an http(s) URL where the image is shown; got {url[:100]!r}."
            )
    return tuple(dict.fromkeys(urls))


def _contact(value: object) -> str:
    text = _text(value, "contact", "contact information (element 4): an e-mail address or phone number",
                 _MAX_CONTACT_CHARS)
    if not (_EMAIL.fullmatch(text) or _PHONE.fullmatch(text)):
        raise InvalidInputError("'contact' must be one e-mail address or one phone number, so we can reach you.")
    return text


def check_hash(kind: object, value: object, quality: object = None, *, origin: str = "api") -> CaseHash:
    """Check one hash of a reported picture.

    Raises
    ------
    InvalidInputError
        If the kind is not pdq, md5 or sha256, the value is not lowercase-able hex of the right
        length, or the quality is not 0-100.
    """
    if kind not in _HEX_LEN:
        raise InvalidInputError(f"A hash kind is pdq, pdqv, md5 or sha256; got {str(kind)[:20]!r}.")
    if not isinstance(value, str):
        raise InvalidInputError(f"A {kind} hash must be a hex string; got {type(value).__name__}.")
    text = value.strip().lower()
    if len(text) != _HEX_LEN[kind] or not _HEX.fullmatch(text):
        raise InvalidInputError(f"A {kind} hash is {_HEX_LEN[kind]} hex digits; got {value[:80]!r}.")
    if kind in ("pdq", "pdqv"):
        if quality is None:
            quality = 100
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise InvalidInputError(f"A PDQ hash's quality is a whole number 0-100; got {str(quality)[:20]!r}.")
    else:
        quality = None
    return CaseHash(kind, text, quality, origin)


def _hashes(value: object, origin: str) -> tuple[CaseHash, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidInputError("'hashes' must be a list of {kind, value, quality} objects.")
    if len(value) > MAX_HASHES:
        raise InvalidInputError(f"'hashes' holds at most {MAX_HASHES} hashes; got {len(value)}.")
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidInputError("Each item of 'hashes' must be an object {kind, value, quality}.")
        out.append(check_hash(item.get("kind"), item.get("value"), item.get("quality"), origin=origin))
    return tuple(dict.fromkeys(out))


def check_request(
    *,
    locations: object,
    description: object,
    signature: object,
    good_faith: object,
    contact: object,
    hashes: Sequence[Mapping[str, Any]] | None = None,
    channel: str = "form",
    hash_origin: str = "browser",
) -> CaseRequest:
    """Check the four elements and the optional hashes; return a :class:`CaseRequest`.

    Raises
    ------
    InvalidInputError
        Naming the first missing or malformed element, or an oversized field.
    """
    checked_locations = _locations(locations)
    checked_description = _text(description, "description", "a description of the image (element 2)", MAX_TEXT_CHARS)
    checked_signature = _text(signature, "signature", "a signature (element 1): type your full name",
                              _MAX_SIGNATURE_CHARS)
    if good_faith is not True:
        raise InvalidInputError(
            "The request is missing the good-faith statement (element 3): tick the box 'good_faith' to affirm it."
        )
    checked_contact = _contact(contact)
    return CaseRequest(checked_locations, checked_description, checked_signature, True, checked_contact,
                       _hashes(hashes, hash_origin), channel)
