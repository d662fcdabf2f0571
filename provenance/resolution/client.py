"""Asking other Soft Binding Resolution API services (``PROVENANCE_RESOLVERS``) for a manifest.

:class:`ResolverClient` speaks the API to one service over HTTP (standard library only);
:func:`resolve_remotely` is what the verifier calls when a file carries a soft binding that our
registry does not hold. Every way a service can fail (timeout, refused connection, an HTTP
error, a body that is not the API's, a manifest that does not validate) becomes a recorded
attempt with a plain message, never an exception: verification completes with what it has.

A match's ``endpoint`` is followed only when it is one of the configured services, and HTTP
redirects are not followed at all, so that a service cannot make ours fetch from an address the
operator did not choose, nor carry a token there. A service's token (``PROVENANCE_RESOLVER_TOKENS``)
is sent to that service only.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigError, ProvenanceError, ResolverError
from ..manifest import ManifestSummary
from .server import PDQ_ALG, WATERMARK_ALG

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_STORE_BYTES",
    "ResolverClient",
    "RemoteMatch",
    "RemoteAttempt",
    "RecoveredManifest",
    "RemoteResolution",
    "resolve_remotely",
    "binding_value",
    "load_resolver_tokens",
    "soft_binding_queries",
]

logger = logging.getLogger(__name__)

#: Largest JSON answer read from a service, and largest manifest store.
MAX_JSON_BYTES = 1024 * 1024
MAX_STORE_BYTES = 32 * 1024 * 1024
_MAX_BINDINGS = 4  # soft bindings asked about per verification
_MAX_FETCHES = 3  # manifests fetched per service when earlier ones do not validate
_MAX_ERROR_CHARS = 200
_USER_AGENT = "provenance-resolver-client/1"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 (urllib's hook)
        raise ResolverError(f"{req.full_url}: answered HTTP {code}, a redirect; redirects are not followed.")


_OPENER = urllib.request.build_opener(_NoRedirects)


def load_resolver_tokens(path: str | Path) -> dict[str, str]:
    """Bearer tokens for resolution services: a file of ``BASE_URL TOKEN`` lines (``#`` comments).

    Raises
    ------
    ConfigError
        If the file cannot be read or a line is not a URL and a token.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read PROVENANCE_RESOLVER_TOKENS {path}: {exc}.") from None
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")) or not parts[1].isprintable():
            raise ConfigError(f"PROVENANCE_RESOLVER_TOKENS {path}, line {number}: write 'BASE_URL TOKEN', e.g. "
                              "'https://other.example/c2pa/v1 prov_...'.")
        tokens[parts[0].rstrip("/")] = parts[1]
    return tokens


@dataclass(frozen=True)
class RemoteMatch:
    """One match a service returned (``c2pa.softBindingQueryResult`` item)."""

    manifest_id: str
    similarity_score: int | None = None
    endpoint: str | None = None


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + "..."


class ResolverClient:
    """One Soft Binding Resolution API service.

    Parameters
    ----------
    base_url : str
        The service's base URL, e.g. ``https://example.org/c2pa/v1`` (its routes are
        ``base_url + "/matches/byBinding"`` and so on).
    timeout_s : float
        Seconds a request may take, connecting and reading.
    token : str, optional
        A bearer token for this service (sent to it only; redirects are not followed).
    """

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self._token = token

    def __repr__(self) -> str:
        return f"ResolverClient({self.base_url!r})"

    def _get(self, path: str, *, accept: str, max_bytes: int, deadline: float | None,
             body: bytes | None = None) -> bytes:
        url = self.base_url + path
        headers = {"Accept": accept, "User-Agent": _USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
        started = time.monotonic()
        limit = self.timeout_s if deadline is None else min(self.timeout_s, deadline - started)
        if limit <= 0:
            raise ResolverError(f"{self.base_url}: not asked, the time for remote resolution ran out.")
        try:
            with _OPENER.open(request, timeout=limit) as response:
                chunks, size = [], 0
                while True:
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise ResolverError(f"{url}: the answer is larger than {max_bytes} bytes; not read.")
                    if time.monotonic() - started > limit:
                        raise ResolverError(f"{url}: no complete answer within {limit:.1f} s.")
                    chunks.append(chunk)
                return b"".join(chunks)
        except urllib.error.HTTPError as exc:
            raise ResolverError(f"{url}: HTTP {exc.code} {_clip(exc.reason)}.") from None
        except (socket.timeout, TimeoutError):
            raise ResolverError(f"{url}: no answer within {limit:.1f} s.") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise ResolverError(f"{url}: no answer within {limit:.1f} s.") from None
            raise ResolverError(f"{url}: cannot connect ({_clip(reason)}).") from None
        except (OSError, ValueError) as exc:  # reset connections, malformed HTTP
            raise ResolverError(f"{url}: the connection failed ({_clip(exc)}).") from None

    def _json(self, path: str, *, deadline: float | None, body: Any = None) -> Any:
        raw = self._get(path, accept="application/json", max_bytes=MAX_JSON_BYTES, deadline=deadline,
                        body=None if body is None else json.dumps(body).encode("utf-8"))
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise ResolverError(f"{self.base_url}{path.split('?')[0]}: the answer is not JSON.") from None

    def supported_algorithms(self, *, deadline: float | None = None) -> frozenset[str]:
        """The algorithm names the service resolves (``services/supportedAlgorithms``).

        Raises
        ------
        ResolverError
            If the service fails or answers something that is not an algorithm list.
        """
        answer = self._json("/services/supportedAlgorithms", deadline=deadline)
        names: set[str] = set()
        if not isinstance(answer, dict):
            raise ResolverError(f"{self.base_url}: services/supportedAlgorithms did not answer an object.")
        for kind in ("watermarks", "fingerprints"):
            items = answer.get(kind, [])
            if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("alg"), str) for i in items):
                raise ResolverError(f"{self.base_url}: services/supportedAlgorithms has a malformed {kind!r} list.")
            names.update(i["alg"] for i in items)
        return frozenset(names)

    def by_binding(self, alg: str, value_b64: str, *, max_results: int = 10,
                   deadline: float | None = None) -> tuple[RemoteMatch, ...]:
        """``POST matches/byBinding``: the manifests a base64 soft-binding value matches.

        Raises
        ------
        ResolverError
            If the service fails or answers something that is not a query result.
        """
        path = f"/matches/byBinding?maxResults={int(max_results)}"
        answer = self._json(path, deadline=deadline, body={"alg": alg, "value": value_b64})
        matches = answer.get("matches", []) if isinstance(answer, dict) else None
        if not isinstance(matches, list):
            raise ResolverError(f"{self.base_url}: matches/byBinding did not answer a 'matches' list.")
        out = []
        for item in matches[:max_results]:
            mid = item.get("manifestId") if isinstance(item, dict) else None
            score = item.get("similarityScore") if isinstance(item, dict) else None
            endpoint = item.get("endpoint") if isinstance(item, dict) else None
            if (not isinstance(mid, str) or not mid or len(mid) > 512
                    or (score is not None and (not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100))
                    or (endpoint is not None and not isinstance(endpoint, str))):
                raise ResolverError(f"{self.base_url}: matches/byBinding returned a malformed match.")
            out.append(RemoteMatch(mid, score, endpoint.rstrip("/") if endpoint else None))
        return tuple(out)

    def manifest(self, manifest_id: str, *, active_only: bool = False, deadline: float | None = None) -> bytes:
        """``GET manifests/{manifestId}``: the manifest store bytes (``application/c2pa``).

        Raises
        ------
        ResolverError
            If the service fails or sends nothing.
        """
        path = "/manifests/" + urllib.parse.quote(manifest_id, safe="")
        if active_only:
            path += "?returnActiveManifest=true"
        data = self._get(path, accept="application/c2pa", max_bytes=MAX_STORE_BYTES, deadline=deadline)
        if not data:
            raise ResolverError(f"{self.base_url}: manifests/{_clip(manifest_id)} is empty.")
        return data


@dataclass(frozen=True)
class RemoteAttempt:
    """One question to one service, and how it went.

    `outcome` is ``matched``, ``no_match``, ``unsupported`` (the service does not resolve
    this algorithm), ``invalid_manifest`` (it sent a manifest that does not validate),
    ``not_followed`` (the match names a service that is not configured) or ``error`` (timeout, connection, HTTP error or an answer that is not the API's).
    """

    service: str
    alg: str | None
    outcome: str
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"service": self.service, "alg": self.alg, "outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True)
class RecoveredManifest:
    """A manifest store a service returned, read and validated here."""

    service: str
    manifest_id: str
    alg: str
    similarity_score: int | None
    summary: ManifestSummary = field(repr=False)
    signature_state: str = "invalid"
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        manifest = self.summary.to_dict()
        manifest["signature_state"] = self.signature_state
        return {"service": self.service, "manifest_id": self.manifest_id, "alg": self.alg,
                "similarity_score": self.similarity_score, "size": self.size, "manifest": manifest}


@dataclass(frozen=True)
class RemoteResolution:
    """What the configured resolution services said about a file.

    `status` is ``recovered`` (a service returned credentials whose signature holds),
    ``recovered_invalid`` (it returned credentials, but they do not validate), ``not_found``
    or ``failed`` (no service could answer).
    """

    status: str
    explanation: str
    recovered: RecoveredManifest | None = None
    attempts: tuple[RemoteAttempt, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"status": self.status, "explanation": self.explanation,
                "recovered": None if self.recovered is None else self.recovered.to_dict(),
                "attempts": [a.to_dict() for a in self.attempts]}


Validator = Callable[[bytes], tuple[ManifestSummary, str]]


def _try_matches(client: ResolverClient, clients: dict[str, ResolverClient], alg: str, matches: Sequence[RemoteMatch],
                 validate: Validator, deadline: float, attempts: list[RemoteAttempt]) -> RecoveredManifest | None:
    """Fetch and validate up to :data:`_MAX_FETCHES` matched manifests; the first that validates wins."""
    fallback = None
    for match in matches[:_MAX_FETCHES]:
        source = client if match.endpoint in (None, client.base_url) else clients.get(match.endpoint)
        if source is None:
            attempts.append(RemoteAttempt(client.base_url, alg, "not_followed", _clip(
                f"the match names another service ({match.endpoint}), which is not in PROVENANCE_RESOLVERS; not asked.")))
            continue
        try:
            store = source.manifest(match.manifest_id, deadline=deadline)
            summary, state = validate(store)
        except ResolverError as exc:
            attempts.append(RemoteAttempt(source.base_url, alg, "error", _clip(exc)))
            continue
        except ProvenanceError as exc:  # the bytes are not a manifest store c2pa can read
            attempts.append(RemoteAttempt(source.base_url, alg, "invalid_manifest", _clip(exc)))
            continue
        found = RecoveredManifest(source.base_url, match.manifest_id, alg, match.similarity_score, summary, state, len(store))
        if state in ("valid", "trusted"):
            attempts.append(RemoteAttempt(source.base_url, alg, "matched", f"manifest {_clip(match.manifest_id)}"))
            return found
        attempts.append(RemoteAttempt(source.base_url, alg, "invalid_manifest", _clip(
            f"manifest {match.manifest_id} does not validate: {summary.error or summary.explanation}")))
        fallback = fallback or found
    return fallback


def resolve_remotely(resolvers: Sequence[str], bindings: Sequence[tuple[str, str]], validate: Validator, *,
                     timeout_s: float = 5.0, tokens: Mapping[str, str] | None = None) -> RemoteResolution:
    """Ask each service in turn about each soft binding until one returns credentials that validate.

    Parameters
    ----------
    resolvers : sequence of str
        Base URLs (``PROVENANCE_RESOLVERS``).
    bindings : sequence of (alg, base64 value)
        What the file carries, most specific first; the first :data:`_MAX_BINDINGS` are asked about.
    validate : callable
        Reads a manifest store's bytes: returns its summary and signature state (``trusted``,
        ``valid`` or ``invalid``); may raise a :class:`~provenance.errors.ProvenanceError`.
    timeout_s : float
        Per request; the whole resolution takes at most this times the number of services
        (keep that below ``PROVENANCE_REQUEST_TIMEOUT`` when verifying in the web app).
    tokens : mapping, optional
        Bearer token per base URL (:func:`load_resolver_tokens`).

    Returns
    -------
    RemoteResolution
    """
    tokens = tokens or {}
    clients = {url.rstrip("/"): ResolverClient(url, timeout_s=timeout_s, token=tokens.get(url.rstrip("/")))
               for url in resolvers}
    deadline = time.monotonic() + timeout_s * max(1, len(clients))
    attempts: list[RemoteAttempt] = []
    fallback: RecoveredManifest | None = None
    bindings = list(dict.fromkeys(bindings))[:_MAX_BINDINGS]
    for client in clients.values():
        try:
            supported = client.supported_algorithms(deadline=deadline)
        except ResolverError as exc:
            attempts.append(RemoteAttempt(client.base_url, None, "error", _clip(exc)))
            continue
        for alg, value in bindings:
            if alg not in supported:
                attempts.append(RemoteAttempt(client.base_url, alg, "unsupported"))
                continue
            try:
                matches = client.by_binding(alg, value, max_results=_MAX_FETCHES, deadline=deadline)
            except ResolverError as exc:
                attempts.append(RemoteAttempt(client.base_url, alg, "error", _clip(exc)))
                continue
            if not matches:
                attempts.append(RemoteAttempt(client.base_url, alg, "no_match"))
                continue
            found = _try_matches(client, clients, alg, matches, validate, deadline, attempts)
            if found is not None and found.signature_state in ("valid", "trusted"):
                text = (f"Content Credentials were recovered from {found.service} (manifest {found.manifest_id}, "
                        f"found by {found.alg}); their signature is {found.signature_state}.")
                return RemoteResolution("recovered", text, found, tuple(attempts))
            fallback = fallback or found
    if fallback is not None:
        text = (f"{fallback.service} returned Content Credentials (manifest {fallback.manifest_id}), but they do not "
                "validate; they are not relied on.")
        return RemoteResolution("recovered_invalid", text, fallback, tuple(attempts))
    if attempts and all(a.outcome == "error" for a in attempts):
        return RemoteResolution("failed", "No resolution service could be asked: "
                                + "; ".join(a.detail or a.outcome for a in attempts[:3]), None, tuple(attempts))
    asked = len(clients)
    return RemoteResolution("not_found", f"None of the {asked} resolution service{'s' if asked != 1 else ''} asked "
                            "knows this file's soft bindings.", None, tuple(attempts))


def binding_value(data: bytes) -> str:
    """A soft-binding value for the API: standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def soft_binding_queries(*, watermark_id: str | None, soft_bindings: Sequence[tuple[str, str]] = (),
                         pdq_hex: str | None = None) -> list[tuple[str, str]]:
    """What to ask resolution services about a file, most specific first, as ``(alg, base64 value)``.

    Parameters
    ----------
    watermark_id : str or None
        The ID (16 hex) our watermark carries, if one was found.
    soft_bindings : sequence of (alg, value)
        The file's own ``c2pa.soft-binding`` values. Ours hold the ID in hex and are converted
        to base64 of its bytes; other algorithms' values are sent as written (base64 per the spec).
    pdq_hex : str or None
        The file's PDQ hash (64 hex), when matchable.
    """
    out = [(WATERMARK_ALG, binding_value(bytes.fromhex(watermark_id)))] if watermark_id else []
    for alg, value in soft_bindings:
        ours = alg == WATERMARK_ALG and len(value) == 16 and all(c in "0123456789abcdefABCDEF" for c in value)
        out.append((alg, binding_value(bytes.fromhex(value)) if ours else value))
    if pdq_hex:
        out.append((PDQ_ALG, binding_value(bytes.fromhex(pdq_hex))))
    return list(dict.fromkeys(out))
