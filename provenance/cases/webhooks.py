"""Signed webhook deliveries to the platform's own systems, retried with backoff, each logged.

A delivery is a JSON body ``{"id", "event", "created_at", "data"}`` POSTed with headers
``Provenance-Webhook-Id`` and ``Provenance-Signature: t=<unix seconds>,v1=<hex>``, where
``v1 = HMAC-SHA256(secret, "<t>." + body)``. A receiver checks it with :func:`verify_delivery`:
the signature must match, ``t`` be recent, and the id not seen before (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from pathlib import Path
import time
import urllib.error
import urllib.request
from typing import Callable, MutableSet

from ..errors import InvalidInputError, WebhookSignatureError
from ..keys import load_secret_file
from ..registry import Registry, transaction
from ..registry.schema import utc_now, webhook_deliveries

__all__ = ["load_webhook_secret", "WEBHOOK_EVENTS", "SIGNATURE_HEADER", "ID_HEADER", "WebhookSender", "sign_delivery", "verify_delivery"]

logger = logging.getLogger(__name__)

#: Events a webhook receives.
WEBHOOK_EVENTS = ("case.received", "case.overdue", "case.decided", "sweep.match")
SIGNATURE_HEADER = "Provenance-Signature"
ID_HEADER = "Provenance-Webhook-Id"
#: Seconds a delivery's timestamp may differ from the receiver's clock.
DEFAULT_TOLERANCE_S = 300


def load_webhook_secret(path: Path) -> bytes:
    """The webhook HMAC secret in `path`, made (0600, 32 random bytes as hex) if it does not exist.

    Raises
    ------
    ConfigError
        If it cannot be read or made, or is shorter than 16 bytes.
    """
    return load_secret_file(path, what="webhook secret", min_bytes=16, setting="PROVENANCE_WEBHOOK_SECRET_FILE")


def sign_delivery(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret, str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={mac}"


def verify_delivery(secret: bytes, header: object, body: bytes, *, delivery_id: object, now: float | None = None,
                    tolerance_s: int = DEFAULT_TOLERANCE_S, seen: MutableSet[str] | None = None) -> dict:
    """Check a received delivery; return its parsed body.

    Raises
    ------
    WebhookSignatureError
        If the header is missing or malformed, the signature does not match the body, the
        timestamp is outside `tolerance_s`, or `delivery_id` is in `seen` (a replay).
    """
    if not isinstance(header, str) or not header:
        raise WebhookSignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        raise WebhookSignatureError(f"The {SIGNATURE_HEADER} header must look like 't=<unix>,v1=<hex>'.")
    expected = sign_delivery(secret, int(parts["t"]), body).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts["v1"]):
        raise WebhookSignatureError("The signature does not match the body: it was changed or signed with another secret.")
    now = time.time() if now is None else now
    if abs(now - int(parts["t"])) > tolerance_s:
        raise WebhookSignatureError(f"The delivery's timestamp is more than {tolerance_s} s from now: too old to accept.")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise WebhookSignatureError(f"The {ID_HEADER} header is missing.")
    if seen is not None:
        if delivery_id in seen:
            raise WebhookSignatureError(f"Delivery {delivery_id} was received before: a replay.")
        seen.add(delivery_id)
    return json.loads(body)


class WebhookSender:
    """POST signed events to one URL, retrying failures with exponential backoff; log every attempt.

    Parameters
    ----------
    registry : Registry
        Where attempts are logged (``webhook_deliveries``).
    url : str
    secret : bytes
        At least 16 bytes.
    attempts : int
        Tries per delivery.
    backoff_s : float
        Wait before the second try; doubled after each failure.
    timeout_s : float
        Per request.
    sleep : callable
        ``time.sleep``; tests may pass another.
    """

    def __init__(self, registry: Registry, url: str, secret: bytes, *, attempts: int = 4, backoff_s: float = 0.5,
                 timeout_s: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError("The webhook URL must start with http:// or https://.")
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise InvalidInputError("The webhook secret must be at least 16 bytes.")
        self._registry, self.url, self._secret = registry, url, secret
        self.attempts, self.backoff_s, self.timeout_s, self._sleep = attempts, backoff_s, timeout_s, sleep

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSender({self.url!r})"

    def send(self, event: str, data: dict) -> bool:
        """Deliver one event; True once the receiver answered 2xx, False after the last failed try."""
        if event not in WEBHOOK_EVENTS:
            raise InvalidInputError(f"Unknown webhook event {event!r}; events are {', '.join(WEBHOOK_EVENTS)}.")
        delivery_id = secrets.token_hex(16)
        body = json.dumps({"id": delivery_id, "event": event, "created_at": utc_now().isoformat(), "data": data},
                          separators=(",", ":")).encode()
        wait = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            status, error = None, None
            try:
                req = urllib.request.Request(self.url, data=body, method="POST", headers={
                    "Content-Type": "application/json", ID_HEADER: delivery_id,
                    SIGNATURE_HEADER: sign_delivery(self._secret, int(time.time()), body)})
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (configured URL)
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", exc))[:300]
            ok = status is not None and 200 <= status < 300
            self._log(delivery_id, event, attempt, status, ok, error)
            if ok:
                return True
            logger.warning("webhook %s %s attempt %d failed: %s", event, delivery_id, attempt, error)
            if attempt < self.attempts:
                self._sleep(wait)
                wait *= 2
        return False

    def _log(self, delivery_id: str, event: str, attempt: int, status: int | None, ok: bool, error: str | None) -> None:
        with transaction(self._registry, "webhook log", write=True) as conn:
            conn.execute(webhook_deliveries.insert().values(
                delivery_id=delivery_id, event=event, attempt=attempt, attempted_at=utc_now(),
                status_code=status, ok=ok, error=error))
