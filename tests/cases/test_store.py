"""The case workflow under a controlled clock: states, audit events, deadline, overdue once, purging."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from provenance.cases import CaseStore, check_request
from provenance.errors import CaseNotFoundError, CaseStateError, InvalidInputError
from provenance.registry import transaction
from provenance.registry.schema import case_events, cases

from case_helpers import make_request


def test_receive_sets_deadline_and_audit_event(store, clock, sent):
    new = store.receive(make_request())
    case = new.case
    assert case.state == "received" and case.deadline_at - case.received_at == store.deadline
    assert case.received_at == clock.now
    assert [(e.from_state, e.to_state, e.actor) for e in case.events] == [(None, "received", "requester:form")]
    assert [h.kind for h in case.hashes] == ["pdq", "md5"]
    assert sent[0][0] == "case.received" and "contact" not in sent[0][1] and "jane" not in repr(sent[0][1])
    assert store.by_status_token(new.status_token).case_id == case.case_id


def test_every_transition_is_an_audit_event_with_actor_and_time(store, clock):
    case_id = store.receive(make_request()).case.case_id
    clock.advance(hours=1)
    store.start_review(case_id, actor="reviewer:alice")
    clock.advance(hours=2)
    case = store.mark_removed(case_id, actor="reviewer:alice", what="post 123 deleted")
    assert case.state == "removed" and case.decision_note == "post 123 deleted"
    assert [(e.to_state, e.actor) for e in case.events] == [
        ("received", "requester:form"), ("in_review", "reviewer:alice"), ("removed", "reviewer:alice")]
    assert case.events[-1].occurred_at - case.events[0].occurred_at == case.decided_at - case.received_at
    assert (case.decided_at - case.received_at).total_seconds() == 3 * 3600


def test_decision_from_received_passes_through_review(store):
    case_id = store.receive(make_request()).case.case_id
    case = store.reject(case_id, actor="reviewer:bob", reason="The URL shows a landscape.")
    assert [e.to_state for e in case.events] == ["received", "in_review", "rejected"]
    assert case.status_dict()["reason"] == "The URL shows a landscape."
    assert "reviewer" not in repr(case.status_dict())


def test_closed_case_refuses_new_decisions_and_writes_nothing(store, registry):
    case_id = store.receive(make_request()).case.case_id
    store.withdraw(case_id, actor="requester")
    with pytest.raises(CaseStateError, match="withdrawn; it cannot become removed"):
        store.mark_removed(case_id, actor="reviewer:a", what="x")
    with transaction(registry, "t", write=False) as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(case_events)) == 2
    with pytest.raises(InvalidInputError, match="reason"):
        store.reject(store.receive(make_request()).case.case_id, actor="r", reason="  ")


def test_unknown_cases_and_tokens(store):
    with pytest.raises(CaseNotFoundError):
        store.get("TD-0000000000")
    with pytest.raises(CaseNotFoundError):
        store.get("../etc")
    for forged in ("x" * 43, "", None, "a" * 500):
        with pytest.raises(CaseNotFoundError):
            store.by_status_token(forged)


def test_overdue_flagged_once_and_still_counted(store, clock, sent):
    case_id = store.receive(make_request()).case.case_id
    clock.advance(hours=47, minutes=59)
    assert store.flag_overdue() == []
    clock.advance(minutes=2)
    assert [c.case_id for c in store.flag_overdue()] == [case_id]
    clock.advance(hours=5)
    assert store.flag_overdue() == []
    case = store.mark_removed(case_id, actor="reviewer:a", what="deleted")
    assert case.overdue_at is not None  # still counted after the late decision
    assert [e for e, _ in sent].count("case.overdue") == 1


def test_deadline_is_configurable(registry, clock):
    store = CaseStore(registry, clock=clock, deadline_hours=24)
    case = store.receive(make_request()).case
    assert (case.deadline_at - case.received_at).total_seconds() == 24 * 3600


def test_contact_purged_after_retention_and_status_link_expires(store, clock, registry):
    new = store.receive(make_request())
    store.mark_removed(new.case.case_id, actor="reviewer:a", what="deleted")
    clock.advance(days=29)
    assert store.purge_contacts() == 0
    clock.advance(days=2)
    assert store.purge_contacts() == 1
    case = store.get(new.case.case_id)
    assert case.contact is None and case.signature is None and case.state == "removed"
    with pytest.raises(CaseNotFoundError, match="expired"):
        store.by_status_token(new.status_token)


def test_contact_never_logged(store, caplog):
    caplog.set_level(logging.DEBUG)
    new = store.receive(make_request(contact="secret.person@example.org", signature="Secret Person"))
    store.mark_removed(new.case.case_id, actor="r", what="gone")
    assert "secret.person" not in caplog.text and "Secret Person" not in caplog.text
    assert "secret.person" not in repr(make_request(contact="secret.person@example.org"))


@pytest.mark.parametrize(("field", "value", "named"), [
    ("locations", [], "element 2"),
    ("locations", ["javascript:alert(1)"], "http"),
    ("description", "", "description"),
    ("signature", " ", "signature"),
    ("good_faith", False, "good-faith"),
    ("contact", "", "contact"),
    ("contact", "not a contact", "e-mail address or one phone"),
    ("description", "x" * 5000, "too long"),
    ("signature", "y" * 300, "too long"),
    ("locations", ["https://a.example/" + str(i) for i in range(60)], "at most 50"),
    ("hashes", [{"kind": "pdq", "value": "zz" * 32}], "hex"),
    ("hashes", [{"kind": "md5", "value": "a" * 31}], "32 hex"),
    ("hashes", [{"kind": "sha1", "value": "a" * 40}], "kind"),
    ("hashes", [{"kind": "pdq", "value": "a" * 64, "quality": 101}], "quality"),
])
def test_missing_or_bad_element_is_named(field, value, named):
    with pytest.raises(InvalidInputError, match=named):
        make_request(**{field: value})


def test_refused_request_writes_nothing(store, registry):
    with pytest.raises(InvalidInputError):
        store.receive(make_request(contact=""))
    with transaction(registry, "t", write=False) as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(cases)) == 0


def test_list_sorted_by_deadline(store, clock):
    a = store.receive(make_request()).case.case_id
    clock.advance(hours=1)
    b = store.receive(make_request()).case.case_id
    assert [c.case_id for c in store.list()] == [a, b]
    store.reject(a, actor="r", reason="no")
    assert [c.case_id for c in store.list(states=["received", "in_review"])] == [b]


def test_check_request_accepts_phone_and_dedupes_locations():
    req = check_request(locations="https://x.example/1\nhttps://x.example/1\n", description="d", signature="s",
                        good_faith=True, contact="+44 20 7946 0958")
    assert req.locations == ("https://x.example/1",) and req.contact == "+44 20 7946 0958"
