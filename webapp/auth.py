"""Bearer tokens on API requests: ``Authorization: Bearer prov_...`` (:mod:`provenance.tokens`).

:func:`require_token` answers 401 without a usable token and 403 when its role does not grant
what the endpoint needs; :func:`optional_token` lets public endpoints show more to a token
that grants a role (an unusable token is still 401: a caller who sent one meant to use it).
"""

from __future__ import annotations

from flask import g, request

from provenance import ApiToken

from .errors import AppError
from .services import get_services

__all__ = ["require_token", "optional_token", "requester"]

_BEARER = 'Bearer realm="provenance"'


def _authenticate() -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(401, "unauthorized", "Send the token as 'Authorization: Bearer prov_...'.",
                       headers={"WWW-Authenticate": _BEARER})
    found = get_services().tokens.authenticate(token.strip())
    if found is None:
        raise AppError(401, "unauthorized", "The token is unknown or has been revoked.",
                       headers={"WWW-Authenticate": f'{_BEARER}, error="invalid_token"'})
    g.api_token = found
    return found


def require_token(role: str) -> ApiToken:
    """The request's token, which must grant `role`.

    Raises
    ------
    AppError
        401 without a token or with an unknown, revoked or malformed one; 403 when its role
        does not grant `role`.
    """
    found = _authenticate()
    if found is None:
        raise AppError(401, "unauthorized", "This endpoint needs a bearer token: 'Authorization: Bearer prov_...' "
                       "(made with 'provenance tokens create').", headers={"WWW-Authenticate": _BEARER})
    if not found.can(role):
        raise AppError(403, "forbidden", f"This token's role ({found.role}) does not allow this; it needs {role}.")
    return found


def optional_token(role: str) -> bool:
    """True when the request carries a token that grants `role`; False without a token.

    Raises
    ------
    AppError
        401 when a token was sent but is unknown, revoked or malformed.
    """
    found = _authenticate()
    return found is not None and found.can(role)


def requester(token: ApiToken) -> str:
    """How the registry records who made a stamp: ``token:<id>``."""
    return f"token:{token.token_id}"
