"""Compliance figures under a controlled clock: within 48 h, median and p95, overdue (decided late too), per day."""

from __future__ import annotations

from datetime import timedelta

from provenance.cases import case_figures

from case_helpers import make_request


def test_figures(store, clock, registry):
    start = clock.now
    hours = [1, 10, 30, 60]  # the last one is decided late
    ids = []
    for _ in hours:
        ids.append(store.receive(make_request()).case.case_id)
    open_id = store.receive(make_request()).case.case_id
    for case_id, h in zip(ids, hours):
        clock.now = start + timedelta(hours=h)
        store.flag_overdue()
        store.mark_removed(case_id, actor="r", what="gone")
    assert store.get(open_id).overdue_at == start + timedelta(hours=60)  # flagged by the check at hour 60
    clock.advance(days=1)
    store.receive(make_request())
    f = case_figures(registry, since=start - timedelta(hours=9), until=clock.now + timedelta(seconds=1))
    assert (f.received, f.decided, f.open) == (6, 4, 2)
    assert f.decided_within_48h_pct == 75.0
    assert f.median_hours_to_decision == 20.0
    assert f.p95_hours_to_decision == 55.5  # linear interpolation between 30 and 60
    assert f.overdue == 2  # the late decided one and the open one
    assert [(d["day"], d["received"], d["decided"], d["within_48h"], d["overdue"]) for d in f.per_day] == [
        ("2026-06-01", 5, 4, 3, 2), ("2026-06-04", 1, 0, 0, 0)]
    empty = case_figures(registry, since=start + timedelta(days=10), until=start + timedelta(days=11))
    assert empty.received == 0 and empty.decided_within_48h_pct is None
