"""API bearer tokens for the web app, kept in the registry database.

A token is shown once, when it is made; the registry stores only its SHA-256, so
a copy of the database does not give anyone access. Each token has a role:

``match``  may see hash-bank results: ``POST /api/v1/match`` and the full verification report
           (bank names, labels, distances) -- for a platform's trust-and-safety reviewers
``stamp``  may stamp images through the API and read back the stamps it made
``resolve`` may use the C2PA Soft Binding Resolution API (``/c2pa/v1``): find manifests by
           watermark ID, fingerprint or content, and fetch them (the spec's ``fetch:manifests``)
``reviewer`` may review Take It Down removal cases (``/admin/cases``) and record content hashes
           in the content index (:mod:`provenance.cases`)
``admin``  may do all of that, read any stamp record and manage the hash banks

``match`` and ``stamp`` are separate: a generation service that stamps its outputs has no
business seeing bank contents, and a reviewer has none stamping images. Only ``admin`` grants
more than its own name (:data:`ROLE_GRANTS`).

Tokens are revoked, never deleted, so the table keeps who could do what and when.

::

    with Registry.open(settings) as registry:
        store = TokenStore(registry)
        issued = store.create("stamp", label="image service")   # issued.token: show it once
        store.authenticate(issued.token)                         # -> ApiToken, or None
        store.revoke(issued.info.token_id)

The table is defined in :mod:`provenance.registry.schema` and made by registry migration 4
("api tokens"). The command line is
``provenance tokens create|list|revoke``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from .errors import InvalidInputError
from .registry import Registry, transaction
from .registry.schema import api_tokens

__all__ = ["TOKEN_ROLES", "ROLE_GRANTS", "TOKEN_PREFIX", "ApiToken", "IssuedToken", "TokenStore", "hash_token"]

logger = logging.getLogger(__name__)

#: Roles a token can have.
TOKEN_ROLES = ("match", "stamp", "admin", "resolve", "reviewer")
#: What each role may do: its own name, and for ``admin`` every role's.
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "match": frozenset({"match"}),
    "stamp": frozenset({"stamp"}),
    "resolve": frozenset({"resolve"}),
    "reviewer": frozenset({"reviewer"}),
    "admin": frozenset(TOKEN_ROLES),
}
#: Every token starts with this, so that leaked ones are easy to spot (and to scan for).
TOKEN_PREFIX = "prov_"
_MAX_LABEL = 200
_MAX_TOKEN_CHARS = 200
_TOKEN_ID = re.compile(r"[0-9a-f]{8}")

# Run on every authenticated request; built once so SQLAlchemy reuses its compiled form.
_BY_DIGEST = sa.select(api_tokens).where(api_tokens.c.token_sha256 == sa.bindparam("digest"))


def hash_token(token: str) -> str:
    """The SHA-256 of `token` as 64 hex characters (what the registry stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiToken:
    """A token's record, without the token itself.

    Attributes
    ----------
    token_id : str
        8 hex characters; names the token in ``tokens list`` and ``tokens revoke``.
    role : str
        One of :data:`TOKEN_ROLES`.
    label : str or None
        Who or what it is for.
    created_at, revoked_at : datetime
        UTC; `revoked_at` is None while the token is usable.
    """

    token_id: str
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until the token is revoked."""
        return self.revoked_at is None

    def can(self, role: str) -> bool:
        """True when this token's role grants `role` (:data:`ROLE_GRANTS`) and it is not revoked.

        Raises
        ------
        InvalidInputError
            If `role` is not one of :data:`TOKEN_ROLES`.
        """
        return self.active and _check_role(role) in ROLE_GRANTS.get(self.role, frozenset())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "token_id": self.token_id,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "active": self.active,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret `token` (shown once, never stored) and its record."""

    token: str
    info: ApiToken

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"IssuedToken(token='{TOKEN_PREFIX}...', info={self.info!r})"


def _row(row: sa.Row) -> ApiToken:
    m = row._mapping
    return ApiToken(m["token_id"], m["role"], m["label"], m["created_at"], m["revoked_at"])


def _check_role(role: object) -> str:
    if role not in TOKEN_ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(TOKEN_ROLES)}; got {role!r}.")
    return role  # type: ignore[return-value]


def _check_token_id(token_id: object) -> str:
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id.strip().lower()):
        raise InvalidInputError(f"A token ID is 8 hex characters, as 'provenance tokens list' shows; got {token_id!r}.")
    return token_id.strip().lower()


class TokenStore:
    """Create, check, list and revoke API tokens in a :class:`~provenance.registry.Registry`.

    Parameters
    ----------
    registry : Registry
        An open registry (schema version 3 or later); it stays open.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def create(self, role: str, *, label: str | None = None) -> IssuedToken:
        """Make a token with `role` and return it; only its hash is stored.

        Raises
        ------
        InvalidInputError
            If `role` is not one of :data:`TOKEN_ROLES` or `label` is too long.
        RegistryError
            If the database fails.
        """
        role = _check_role(role)
        if label is not None:
            if not isinstance(label, str) or len(label) > _MAX_LABEL:
                raise InvalidInputError(f"label must be text of at most {_MAX_LABEL} characters.")
            label = label.strip() or None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = ApiToken(secrets.token_hex(4), role, label, datetime.now(timezone.utc))
        with transaction(self.registry, "token create", write=True) as conn:
            conn.execute(
                api_tokens.insert().values(
                    token_id=info.token_id, token_sha256=hash_token(token), role=role, label=label,
                    created_at=info.created_at,
                )
            )
        logger.info("created %s token %s", role, info.token_id)
        return IssuedToken(token, info)

    def authenticate(self, token: object) -> ApiToken | None:
        """Return the active token record matching `token`, or None (unknown, revoked or malformed).

        Raises
        ------
        RegistryError
            If the database fails.
        """
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        digest = hash_token(token)
        with transaction(self.registry, "token check", write=False) as conn:
            row = conn.execute(_BY_DIGEST, {"digest": digest}).first()
        if row is None or not hmac.compare_digest(row._mapping["token_sha256"], digest):
            return None
        found = _row(row)
        return found if found.active else None

    def list(self, *, include_revoked: bool = True) -> list[ApiToken]:
        """All tokens, oldest first."""
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.token_id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with transaction(self.registry, "token list", write=False) as conn:
            return [_row(r) for r in conn.execute(query)]

    def get(self, token_id: str) -> ApiToken | None:
        """The token with this ID, or None."""
        token_id = _check_token_id(token_id)
        with transaction(self.registry, "token read", write=False) as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        return None if row is None else _row(row)

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke a token (idempotent) and return its record.

        Raises
        ------
        InvalidInputError
            If no token has this ID.
        """
        token_id = _check_token_id(token_id)
        now = datetime.now(timezone.utc)
        with transaction(self.registry, "token revoke", write=True) as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
            if row is None:
                raise InvalidInputError(f"No token has the ID {token_id}; see 'provenance tokens list'.")
            if row._mapping["revoked_at"] is None:
                conn.execute(
                    api_tokens.update().where(api_tokens.c.token_id == token_id).values(revoked_at=now)
                )
                logger.info("revoked token %s", token_id)
                return replace(_row(row), revoked_at=now)
            return _row(row)
