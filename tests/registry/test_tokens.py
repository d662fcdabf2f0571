"""Tests for provenance.tokens: API tokens stored hashed in the registry (SQLite and PostgreSQL)."""

from __future__ import annotations


import pytest
import sqlalchemy as sa

from provenance.errors import InvalidInputError
from provenance.registry import Registry
from provenance.tokens import TOKEN_PREFIX, TOKEN_ROLES, TokenStore, hash_token

@pytest.fixture
def store(db_url: str):
    with Registry(db_url) as registry:
        yield TokenStore(registry)


def test_create_authenticate_revoke(store: TokenStore) -> None:
    issued = store.create("stamp", label=" image service ")
    assert issued.token.startswith(TOKEN_PREFIX) and len(issued.token) > 40
    assert issued.token not in repr(issued)
    found = store.authenticate(issued.token)
    assert found == issued.info and found.label == "image service" and found.can("stamp") and not found.can("admin")
    assert store.authenticate(issued.token + "x") is None and store.authenticate("nope") is None
    assert store.authenticate(None) is None and store.authenticate(TOKEN_PREFIX + "a" * 500) is None
    revoked = store.revoke(issued.info.token_id)
    assert revoked.revoked_at is not None and not revoked.active
    assert store.authenticate(issued.token) is None
    assert store.revoke(issued.info.token_id.upper()).revoked_at == revoked.revoked_at  # idempotent


def test_admin_can_everything(store: TokenStore) -> None:
    admin = store.authenticate(store.create("admin").token)
    assert admin.can("admin") and admin.can("stamp") and admin.can("match")


@pytest.mark.parametrize(("role", "grants"), [
    ("match", {"match"}),
    ("stamp", {"stamp"}),
    ("admin", {"match", "stamp", "admin", "resolve", "reviewer"}),
    ("resolve", {"resolve"}),
    ("reviewer", {"reviewer"}),
])
def test_match_and_stamp_do_not_include_each_other(store: TokenStore, role: str, grants: set[str]) -> None:
    token = store.authenticate(store.create(role).token)
    assert {r for r in TOKEN_ROLES if token.can(r)} == grants
    with pytest.raises(InvalidInputError):
        token.can("root")


def test_only_the_hash_is_stored(store: TokenStore) -> None:
    issued = store.create("admin")
    engine = store.registry._engine
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM api_tokens"))]
    flat = " ".join(str(v) for row in rows for v in row)
    assert issued.token not in flat and hash_token(issued.token) in flat


def test_list_and_get(store: TokenStore) -> None:
    a, b = store.create("stamp"), store.create("admin", label="ops")
    store.revoke(a.info.token_id)
    assert [t.token_id for t in store.list()] == [a.info.token_id, b.info.token_id]
    assert [t.token_id for t in store.list(include_revoked=False)] == [b.info.token_id]
    assert store.get(b.info.token_id).label == "ops" and store.get("00000000") is None


@pytest.mark.parametrize("call", [
    lambda s: s.create("root"),
    lambda s: s.create("stamp", label="x" * 201),
    lambda s: s.revoke("zz"),
    lambda s: s.revoke("00000000"),
])
def test_bad_arguments(store: TokenStore, call) -> None:
    with pytest.raises(InvalidInputError):
        call(store)
