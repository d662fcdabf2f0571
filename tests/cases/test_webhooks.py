"""Webhooks against a real HTTP receiver on loopback: signatures, retries with backoff, logging, replay."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from provenance.cases import CaseStore, WebhookSender, sign_delivery, verify_delivery
from provenance.errors import InvalidInputError, WebhookSignatureError
from provenance.registry import transaction
from provenance.registry.schema import webhook_deliveries

from case_helpers import make_request

SECRET = b"0123456789abcdef0123456789abcdef"


class Receiver:
    """A loopback HTTP server that verifies each delivery; it fails the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first, self.requests, self.verified, self.seen = fail_first, [], [], set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                if len(receiver.requests) <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    receiver.verified.append(verify_delivery(
                        SECRET, self.headers.get("Provenance-Signature"), body,
                        delivery_id=self.headers.get("Provenance-Webhook-Id"), seen=receiver.seen))
                    self.send_response(204)
                except WebhookSignatureError:
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _log(registry):
    with transaction(registry, "t", write=False) as conn:
        return conn.execute(sa.select(webhook_deliveries).order_by(webhook_deliveries.c.row_id)).all()


def test_events_delivered_signed_and_overdue_fires_once(registry, clock, receiver):
    sender = WebhookSender(registry, receiver.url, SECRET, backoff_s=0.01)
    store = CaseStore(registry, clock=clock, notify=sender.send)
    case_id = store.receive(make_request()).case.case_id
    clock.advance(hours=49)
    for _ in range(3):
        store.flag_overdue()
    store.mark_removed(case_id, actor="reviewer:a", what="deleted")
    events = [d["event"] for d in receiver.verified]
    assert events == ["case.received", "case.overdue", "case.decided"]
    assert all(d["data"]["case_id"] == case_id for d in receiver.verified)
    assert "jane" not in json.dumps(receiver.verified) and "reviewer:a" not in json.dumps(receiver.verified)
    assert [(r.event, r.ok, r.status_code) for r in _log(registry)] == [
        ("case.received", True, 204), ("case.overdue", True, 204), ("case.decided", True, 204)]


def test_retried_with_backoff_and_each_attempt_logged(registry):
    receiver = Receiver(fail_first=2)
    waits: list[float] = []
    try:
        sender = WebhookSender(registry, receiver.url, SECRET, backoff_s=0.5, sleep=waits.append)
        assert sender.send("case.received", {"case_id": "TD-1"}) is True
    finally:
        receiver.close()
    assert waits == [0.5, 1.0]
    rows = _log(registry)
    assert [(r.attempt, r.ok, r.status_code) for r in rows] == [(1, False, 503), (2, False, 503), (3, True, 204)]
    assert len({r.delivery_id for r in rows}) == 1


def test_unreachable_receiver_gives_up_and_logs(registry):
    sender = WebhookSender(registry, "http://127.0.0.1:9/nothing", SECRET, attempts=2, backoff_s=0, timeout_s=1)
    assert sender.send("case.decided", {}) is False
    assert [(r.attempt, r.ok) for r in _log(registry)] == [(1, False), (2, False)]
    assert all(r.error for r in _log(registry))


def test_tampered_replayed_old_and_forged_deliveries_refused():
    body = b'{"id":"d1","event":"case.received","data":{}}'
    now = int(time.time())
    header = sign_delivery(SECRET, now, body)
    seen: set[str] = set()
    assert verify_delivery(SECRET, header, body, delivery_id="d1", seen=seen)["event"] == "case.received"
    with pytest.raises(WebhookSignatureError, match="replay"):
        verify_delivery(SECRET, header, body, delivery_id="d1", seen=seen)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_delivery(SECRET, header, body.replace(b"received", b"decided"), delivery_id="d2", seen=seen)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_delivery(b"another-secret-of-enough-length", header, body, delivery_id="d3")
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_delivery(SECRET, sign_delivery(SECRET, now - 3600, body), body, delivery_id="d4")
    for bad in (None, "", "v1=abc", "t=x,v1=abc"):
        with pytest.raises(WebhookSignatureError):
            verify_delivery(SECRET, bad, body, delivery_id="d5")
    with pytest.raises(InvalidInputError):
        WebhookSender(None, "ftp://x", SECRET)  # type: ignore[arg-type]
    assert SECRET not in repr(WebhookSender(None, "http://x", SECRET)).encode()  # type: ignore[arg-type]
