"""The hash-bank side of the web app: /api/v1/hash, /api/v1/match, bank management, the public
verify view and the transparency page, through Flask's test client.

Each test gets a fresh registry (SQLite in tmp_path; the main flows also on PostgreSQL), real
uploads, real PDQ hashing, real tokens. Nothing mocked.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import wave

import pytest

from provenance.banks import REVIEW_NOTE
from provenance.hashing import pdq_dihedral_hashes_file, pdq_hash_file
from provenance.registry import Registry
from provenance.tokens import TokenStore

from api_helpers import bearer, error_of, form



BANK = "zz-secret-bank"  # a name that appears nowhere else, so its absence from a response means something
LABEL = "zz-label"


class Site:
    """An app on its own registry, with one token per role."""

    def __init__(self, app_factory, url: str, **overrides) -> None:
        self.app = app_factory(database_url=url, **overrides)
        self.client = self.app.test_client()
        self.registry = Registry(url)
        store = TokenStore(self.registry)
        self.token = {role: store.create(role).token for role in ("match", "stamp", "admin")}
        self.auth = {role: bearer(t) for role, t in self.token.items()}

    def close(self) -> None:
        self.app.extensions["provenance_services"].close()
        self.registry.close()

    def post_json(self, path: str, body, role: str | None = "admin"):
        return self.client.post(path, json=body, headers=self.auth[role] if role else {})

    def bank_with(self, hexes: list[str], name: str = BANK, label: str = LABEL, threshold: int = 31) -> None:
        assert self.post_json("/api/v1/banks", {"name": name, "label": label, "threshold": threshold}).status_code == 201
        r = self.post_json(f"/api/v1/banks/{name}/hashes", {"hashes": hexes})
        assert r.status_code == 200 and r.get_json()["added"] == len(hexes), r.get_json()

    def audit_count(self, kind: str) -> int:
        return sum(1 for e in self.registry.audit_events() if e.kind == kind)


@pytest.fixture
def site(app_factory, tmp_path):
    s = Site(app_factory, f"sqlite:///{tmp_path / 'banks.sqlite'}")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_site(request, app_factory, tmp_path):
    url = f"sqlite:///{tmp_path / 'banks.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Site(app_factory, url)
    yield s
    s.close()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 40)
    return out.getvalue()


def _flip(hex_value: str, bits: int) -> str:
    n = int(hex_value, 16)
    for i in range(bits):
        n ^= 1 << (i * 7)
    return f"{n:064x}"


# --------------------------------------------------------------------------- /api/v1/hash


def test_hash_gives_pdq_dihedrals_and_digests_and_stores_nothing(site, media) -> None:
    data = media.photo_jpeg
    r = site.client.post("/api/v1/hash", data=data, content_type="image/jpeg")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    expected = pdq_dihedral_hashes_file(data)
    assert body["pdq"] == pdq_hash_file(data).to_hex() == expected[0].to_hex()
    assert body["dihedral"] == [h.to_hex() for h in expected] and body["quality"] == expected[0].quality
    assert body["matchable"] is True and body["mime"] == "image/jpeg"
    assert (body["md5"], body["sha256"]) == (hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    multipart = site.client.post("/api/v1/hash", **form({"file": (io.BytesIO(data), "a.jpg")}))
    assert multipart.get_json() == body
    assert site.registry.audit_events() == [] and "X-RateLimit-Limit" in r.headers


@pytest.mark.parametrize(("kind", "mime"), [("wav", "audio/wav"), ("svg", "image/svg+xml")])
def test_hash_of_audio_or_svg_has_digests_only(site, kind: str, mime: str) -> None:
    data = _wav() if kind == "wav" else b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    body = site.client.post("/api/v1/hash", data=data, content_type=mime).get_json()
    assert body["mime"] == mime and body["pdq"] is None and body["dihedral"] is None and body["matchable"] is False
    assert body["md5"] == hashlib.md5(data).hexdigest()


def test_hash_errors(site, media, app_factory, tmp_path) -> None:
    assert error_of(site.client.post("/api/v1/hash", data=b"", content_type="image/png")) == (400, "empty_file")
    assert error_of(site.client.post("/api/v1/hash", data=media.text, content_type="text/plain")) == (415, "unsupported_type")
    assert error_of(site.client.post("/api/v1/hash?x=1", data=media.photo_jpeg, content_type="image/jpeg")) == (400, "unknown_field")
    truncated = media.photo_jpeg[: len(media.photo_jpeg) // 4]
    assert error_of(site.client.post("/api/v1/hash", data=truncated, content_type="image/jpeg"))[0] == 400
    small = app_factory(max_upload_bytes=10_000).test_client()
    assert error_of(small.post("/api/v1/hash", data=media.photo_jpeg, content_type="image/jpeg")) == (413, "too_large")
    assert site.client.post("/api/v1/hash", data=media.photo_jpeg, content_type="image/jpeg").status_code == 200


# --------------------------------------------------------------------------- /api/v1/match


def test_match_file_and_hashes_then_withdraw_takes_effect(any_site, media) -> None:
    s = any_site
    pdq = pdq_hash_file(media.photo_jpeg).to_hex()
    md5 = hashlib.md5(media.photo_jpeg).hexdigest()
    s.bank_with([pdq])
    r = s.client.post("/api/v1/match", data=media.photo_jpeg, content_type="image/jpeg", headers=s.auth["match"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "matched" and body["review_note"] == REVIEW_NOTE and REVIEW_NOTE in body["explanation"]
    (m,) = body["matches"]
    assert (m["bank"], m["label"], m["kind"], m["distance"], m["threshold"], m["variant"]) == (BANK, LABEL, "pdq", 0, 31, "original")
    assert set(m) >= {"source", "case_id", "hash", "listed_at"}

    near = s.post_json("/api/v1/match", {"pdq": _flip(pdq, 10).upper()}, role="match").get_json()
    assert near["status"] == "matched" and near["matches"][0]["distance"] == 10
    exact = s.post_json("/api/v1/match", {"md5": md5}, role="admin").get_json()
    assert exact["status"] == "no_match" and "exact hashes only" in exact["explanation"]
    assert s.audit_count("match") == 3

    w = s.post_json(f"/api/v1/banks/{BANK}/withdraw", {"hashes": [pdq]})
    assert w.status_code == 200 and w.get_json() == {"bank": BANK, "withdrawn": 1}
    after = s.post_json("/api/v1/match", {"pdq": pdq}, role="match").get_json()
    assert after["status"] == "no_match" and after["matches"] == []


def test_match_exact_digest_of_a_video_like_file(site) -> None:
    data = _wav()
    site.bank_with([{"hash": hashlib.md5(data).hexdigest(), "kind": "md5", "case_id": "C-9"}])
    body = site.client.post("/api/v1/match", data=data, content_type="audio/wav", headers=site.auth["match"]).get_json()
    assert body["status"] == "matched" and body["pdq"] is None
    assert (body["matches"][0]["kind"], body["matches"][0]["case_id"]) == ("md5", "C-9")


def test_match_needs_a_match_token(site, media) -> None:
    r = site.client.post("/api/v1/match", data=media.photo_jpeg, content_type="image/jpeg")
    assert error_of(r) == (401, "unauthorized") and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = site.client.post("/api/v1/match", data=media.photo_jpeg, content_type="image/jpeg", headers=site.auth["stamp"])
    assert error_of(r) == (403, "forbidden")
    r = site.client.post("/api/v1/match", json={"pdq": "0" * 64}, headers=bearer("prov_not-a-real-token"))
    assert error_of(r) == (401, "unauthorized")
    assert site.audit_count("match") == 0


@pytest.mark.parametrize(("body", "code"), [
    ({"pdq": "zz" * 32}, "invalid_input"),                # malformed hex
    ({"pdq": "ab" * 31}, "invalid_input"),                # wrong length
    ({"md5": "ab" * 15}, "invalid_input"),
    ({"sha256": "g" * 64}, "invalid_input"),
    ({"pdq": "ab" * 32, "quality": 101}, "invalid_input"),
    ({"pdq": "ab" * 32, "quality": "high"}, "invalid_input"),
    ({"md5": "ab" * 16, "quality": 80}, "invalid_input"),
    ({"pdq": "ab" * 32, "bank": "x"}, "unknown_field"),   # unknown field
    ({}, "missing_field"),
    (["ab" * 32], "invalid_json"),
])
def test_match_json_errors(site, body, code) -> None:
    assert error_of(site.post_json("/api/v1/match", body, role="match")) == (400, code)
    assert site.audit_count("match") == 0


def test_match_malformed_json_and_unsupported_media(site, media) -> None:
    r = site.client.post("/api/v1/match", data=b"{not json", content_type="application/json", headers=site.auth["match"])
    assert error_of(r) == (400, "invalid_json")
    r = site.client.post("/api/v1/match", data=media.text, content_type="text/plain", headers=site.auth["match"])
    assert error_of(r) == (415, "unsupported_type")


def test_match_too_large_is_413(app_factory, tmp_path, media) -> None:
    s = Site(app_factory, f"sqlite:///{tmp_path / 'b.sqlite'}", max_upload_bytes=10_000)
    try:
        r = s.client.post("/api/v1/match", data=media.photo_jpeg, content_type="image/jpeg", headers=s.auth["match"])
        assert error_of(r) == (413, "too_large")
        r = s.client.post(f"/api/v1/banks/{BANK}/hashes", data=("ab" * 32 + "\n") * 400, content_type="text/csv",
                          headers=s.auth["admin"])
        assert error_of(r) == (413, "too_large")
    finally:
        s.close()


# --------------------------------------------------------------------------- bank management


def test_bank_lifecycle(any_site) -> None:
    s = any_site
    r = s.post_json("/api/v1/banks", {"name": BANK, "label": LABEL, "threshold": 20, "enabled": True,
                                      "description": "reports from the helpline"})
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/api/v1/banks/{BANK}")
    assert (r.get_json()["threshold"], r.get_json()["entry_count"]) == (20, 0)
    assert error_of(s.post_json("/api/v1/banks", {"name": BANK, "label": LABEL})) == (409, "exists")

    listed = s.client.get("/api/v1/banks", headers=s.auth["admin"]).get_json()["banks"]
    assert {b["name"] for b in listed} >= {BANK, "stamped-outputs"}

    hexes = [f"{i:064x}" for i in range(1, 4)]
    added = s.post_json(f"/api/v1/banks/{BANK}/hashes", {"hashes": hexes[:2]}).get_json()
    assert added == {"bank": BANK, "added": 2, "skipped": 0, "rows": 2}
    csv_text = "hash,kind,source,case_id\n" + "\n".join(f"{h},pdq,helpline,C-{i}" for i, h in enumerate(hexes)) + "\n"
    dup = s.client.post(f"/api/v1/banks/{BANK}/hashes", **form({"file": (io.BytesIO(csv_text.encode()), "list.csv")}),
                        headers=s.auth["admin"])
    assert error_of(dup) == (400, "invalid_hash_list") and "already in bank" in dup.get_json()["error"]["message"]
    skip = s.client.post(f"/api/v1/banks/{BANK}/hashes?skip_existing=true", data=csv_text, content_type="text/csv",
                         headers=s.auth["admin"]).get_json()
    assert (skip["added"], skip["skipped"]) == (1, 2)

    patched = s.client.patch(f"/api/v1/banks/{BANK}", json={"threshold": 5, "enabled": False}, headers=s.auth["admin"])
    assert patched.status_code == 200 and (patched.get_json()["threshold"], patched.get_json()["enabled"]) == (5, False)
    got = s.client.get(f"/api/v1/banks/{BANK}", headers=s.auth["admin"]).get_json()
    assert (got["entry_count"], got["enabled"], got["description"]) == (3, False, "reports from the helpline")

    exported = s.client.get(f"/api/v1/banks/{BANK}/export?format=json", headers=s.auth["admin"])
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert [e["hash"] for e in json.loads(exported.get_data())["hashes"]] == hexes
    as_csv = s.client.get(f"/api/v1/banks/{BANK}/export", headers=s.auth["admin"])
    assert as_csv.mimetype == "text/csv" and as_csv.get_data(as_text=True).splitlines()[0].startswith("hash,kind")
    assert f'filename="{BANK}.csv"' in as_csv.headers["Content-Disposition"]
    # The export re-imports into a new bank unchanged.
    assert s.post_json("/api/v1/banks", {"name": "copy", "label": "ncii"}).status_code == 201
    again = s.client.post("/api/v1/banks/copy/hashes", data=as_csv.get_data(), content_type="text/csv", headers=s.auth["admin"])
    assert again.get_json()["added"] == 3


def test_failed_import_leaves_the_bank_unchanged(any_site) -> None:
    s = any_site
    s.bank_with(["ab" * 32])
    before = s.client.get(f"/api/v1/banks/{BANK}/export?format=json", headers=s.auth["admin"]).get_data()
    bad = {"hashes": ["cd" * 32, "ef" * 32, "not-hex" + "0" * 57]}
    r = s.post_json(f"/api/v1/banks/{BANK}/hashes", bad)
    assert error_of(r) == (400, "invalid_hash_list") and "3: " in r.get_json()["error"]["message"]
    r = s.post_json(f"/api/v1/banks/{BANK}/hashes", {"hashes": ["cd" * 32, {"hash": "ab" * 16, "kind": "pdq"}]})
    assert error_of(r)[0] == 400
    r = s.client.post(f"/api/v1/banks/{BANK}/hashes", data="hash\n" + "cd" * 32 + "\n" + "cd" * 32 + "\n",
                      content_type="text/csv", headers=s.auth["admin"])
    assert error_of(r) == (400, "invalid_hash_list")  # duplicate within the list
    assert s.client.get(f"/api/v1/banks/{BANK}/export?format=json", headers=s.auth["admin"]).get_data() == before
    assert s.client.get(f"/api/v1/banks/{BANK}", headers=s.auth["admin"]).get_json()["entry_count"] == 1
    assert s.post_json("/api/v1/match", {"pdq": "cd" * 32}, role="match").get_json()["status"] == "no_match"


def test_bank_endpoints_need_admin(site) -> None:
    calls = [
        ("get", "/api/v1/banks", None), ("post", "/api/v1/banks", {"name": "b", "label": "x"}),
        ("get", f"/api/v1/banks/{BANK}", None), ("patch", f"/api/v1/banks/{BANK}", {"threshold": 3}),
        ("post", f"/api/v1/banks/{BANK}/hashes", {"hashes": ["ab" * 32]}),
        ("post", f"/api/v1/banks/{BANK}/withdraw", {"hashes": ["ab" * 32]}),
        ("get", f"/api/v1/banks/{BANK}/export", None),
    ]
    for method, path, body in calls:
        kwargs = {} if body is None else {"json": body}
        assert error_of(getattr(site.client, method)(path, **kwargs)) == (401, "unauthorized"), path
        for role in ("match", "stamp"):
            r = getattr(site.client, method)(path, headers=site.auth[role], **kwargs)
            assert error_of(r) == (403, "forbidden"), (path, role)
    assert [b.name for b in site.app.extensions["provenance_services"].banks.list()] == ["stamped-outputs"]


@pytest.mark.parametrize(("method", "path", "body", "expected"), [
    ("post", "/api/v1/banks", {"name": BANK, "label": "Bad Label!"}, (400, "invalid_input")),
    ("post", "/api/v1/banks", {"name": "bad name", "label": "x"}, (400, "invalid_input")),
    ("post", "/api/v1/banks", {"name": BANK, "label": "x", "threshold": 999}, (400, "invalid_input")),
    ("post", "/api/v1/banks", {"name": BANK, "label": "x", "enabled": "yes"}, (400, "invalid_input")),
    ("post", "/api/v1/banks", {"name": BANK, "label": "x", "colour": "red"}, (400, "unknown_field")),
    ("post", "/api/v1/banks", {"name": BANK}, (400, "missing_field")),
    ("patch", f"/api/v1/banks/{BANK}", {}, (400, "missing_field")),
    ("patch", f"/api/v1/banks/{BANK}", {"name": "renamed"}, (400, "unknown_field")),
    ("patch", f"/api/v1/banks/{BANK}", {"threshold": "31"}, (400, "invalid_input")),
    ("patch", f"/api/v1/banks/{BANK}", {"description": None}, (400, "invalid_input")),
    ("patch", "/api/v1/banks/nope", {"threshold": 3}, (404, "not_found")),
    ("get", "/api/v1/banks/nope", None, (404, "not_found")),
    ("get", "/api/v1/banks/nope/export", None, (404, "not_found")),
    ("get", f"/api/v1/banks/{BANK}/export?format=xml", None, (400, "invalid_input")),
    ("get", "/api/v1/banks?page=2", None, (400, "unknown_field")),
    ("post", "/api/v1/banks/nope/hashes", {"hashes": ["ab" * 32]}, (404, "not_found")),
    ("post", f"/api/v1/banks/{BANK}/hashes", {"hashes": "ab" * 32}, (400, "invalid_input")),
    ("post", f"/api/v1/banks/{BANK}/hashes", {"hashes": ["ab" * 32], "mode": "x"}, (400, "unknown_field")),
    ("post", f"/api/v1/banks/{BANK}/hashes", {"hashes": ["ab" * 32], "skip_existing": "maybe"}, (400, "invalid_input")),
    ("post", f"/api/v1/banks/{BANK}/withdraw", {"hashes": ["ff" * 32]}, (400, "invalid_input")),  # not in the bank
    ("post", f"/api/v1/banks/{BANK}/withdraw", {"hashes": ["ab" * 31]}, (400, "invalid_input")),
    ("post", f"/api/v1/banks/{BANK}/withdraw", {"hashes": ["ab" * 32], "kind": "sha1"}, (400, "invalid_input")),
    ("post", f"/api/v1/banks/{BANK}/withdraw", {"hash": "ab" * 32}, (400, "unknown_field")),
    ("post", "/api/v1/banks/nope/withdraw", {"hashes": ["ab" * 32]}, (404, "not_found")),
])
def test_bank_errors(site, method, path, body, expected) -> None:
    site.bank_with(["ab" * 32])
    kwargs = {} if body is None else {"json": body}
    r = getattr(site.client, method)(path, headers=site.auth["admin"], **kwargs)
    assert error_of(r) == expected
    bank = site.client.get(f"/api/v1/banks/{BANK}", headers=site.auth["admin"]).get_json()
    assert (bank["label"], bank["threshold"], bank["entry_count"], bank["enabled"]) == (LABEL, 31, 1, True)


def test_bank_bodies_of_the_wrong_type_are_415(site) -> None:
    r = site.client.post("/api/v1/banks", data="name=x&label=y", content_type="application/x-www-form-urlencoded",
                         headers=site.auth["admin"])
    assert error_of(r) == (415, "unsupported_type")
    site.bank_with(["ab" * 32])
    r = site.client.post(f"/api/v1/banks/{BANK}/hashes", data=b"\x89PNG....", content_type="image/png", headers=site.auth["admin"])
    assert error_of(r) == (415, "unsupported_type")
    r = site.client.post(f"/api/v1/banks/{BANK}/withdraw", data="ab" * 32, content_type="text/plain", headers=site.auth["admin"])
    assert error_of(r) == (415, "unsupported_type")


# --------------------------------------------------------------------------- verify: public vs full


def test_unauthenticated_verify_never_leaks_bank_names_or_distances(any_site, media) -> None:
    s = any_site
    pdq = pdq_hash_file(media.photo_jpeg).to_hex()
    s.bank_with([_flip(pdq, 3)])
    public = s.client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg")
    text = public.get_data(as_text=True)
    assert public.status_code == 200 and public.headers["X-Provenance-View"] == "public"
    for secret in (BANK, LABEL, '"distance"', '"threshold"', "matched", _flip(pdq, 3)):
        assert secret not in text, secret
    hm = public.get_json()["hash_match"]
    assert hm["status"] == "withheld" and hm["matches"] == [] and hm["banks_checked"] is None

    stamp = s.client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg", headers=s.auth["stamp"])
    assert stamp.headers["X-Provenance-View"] == "public" and BANK not in stamp.get_data(as_text=True)

    for role in ("match", "admin"):
        full = s.client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg", headers=s.auth[role])
        assert full.headers["X-Provenance-View"] == "full"
        (m,) = full.get_json()["hash_match"]["matches"]
        assert (m["bank"], m["label"], m["distance"]) == (BANK, LABEL, 3)
    bad = s.client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg", headers=bearer("prov_nope"))
    assert error_of(bad) == (401, "unauthorized")
    # The audit log counted the match each time, whatever the caller saw.
    events = [e for e in s.registry.audit_events() if e.kind == "verify"]
    assert len(events) == 4 and all(e.detail["bank_matches"] == {LABEL: 1} for e in events)


def test_the_form_shows_the_public_view(site, media) -> None:
    site.bank_with([pdq_hash_file(media.photo_jpeg).to_hex()])
    page = site.client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = site.client.post("/verify", **form({"csrf_token": token, "file": (io.BytesIO(media.photo_jpeg), "photo.jpg")}))
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert BANK not in html
    assert LABEL not in html
    assert not re.search(r"distance \d", html) and '"distance"' not in html and "&#34;distance&#34;" not in html
    assert "Shown to reviewers only" in html and "authorised reviewers" in html and "never proof" in html


# --------------------------------------------------------------------------- transparency


def _totals(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'<dd id="total-([a-z-]+)">(\d+)</dd>', html)}


def test_transparency_counts_change_after_stamp_verify_and_match(any_site, media, shared_dir) -> None:
    s = any_site
    before = s.client.get("/transparency")
    assert before.status_code == 200 and before.mimetype == "text/html"
    assert '<table id="per-day-table">' in before.get_data(as_text=True)
    t0 = _totals(before.get_data(as_text=True))
    assert t0 == {"stamps": 0, "verifications": 0, "bank-checks": 0, "bank-matches": 0}

    png = (shared_dir / "samples" / "kodim03.png").read_bytes()  # not the photo the bank holds
    stamped = s.client.post("/api/v1/stamp?generator=transparency-gen%201", data=png, content_type="image/png",
                            headers=s.auth["stamp"])
    assert stamped.status_code == 201
    assert s.client.post("/api/v1/verify", data=stamped.get_data(), content_type="image/png").status_code == 200
    s.bank_with([pdq_hash_file(media.photo_jpeg).to_hex()])
    assert s.client.post("/api/v1/match", data=media.photo_jpeg, content_type="image/jpeg",
                         headers=s.auth["match"]).get_json()["status"] == "matched"

    after = s.client.get("/transparency?days=7", headers=s.auth["admin"]).get_data(as_text=True)
    # The verify matched the stamped-outputs bank (every stamp lands there); the match, the new bank.
    assert _totals(after) == {"stamps": 1, "verifications": 1, "bank-checks": 1, "bank-matches": 2}
    assert "transparency-gen 1" in after and "ai_generated_trusted" in after and LABEL in after
    assert len(re.findall(r"<time datetime=", after)) == 7  # one row per day, quiet days included
    for private in (s.token["stamp"], stamped.headers["X-Provenance-Stamp-Id"], hashlib.sha256(png).hexdigest()):
        assert private not in after

    figures = s.client.get("/api/v1/transparency", headers=s.auth["admin"]).get_json()
    assert figures["totals"]["stamps"] == {"transparency-gen 1": 1} and figures["totals"]["verifications"] == 1
    assert figures["totals"]["bank_matches"] == {LABEL: 1, "stamped-outputs": 1} and figures["totals"]["bank_checks"] == 1
    today = figures["until"][:10]
    assert s.client.get(f"/api/v1/transparency?since={today}", headers=s.auth["admin"]).get_json()["totals"] == figures["totals"]
    public = s.client.get("/api/v1/transparency?days=7").get_json()  # complete past days only
    assert public["totals"]["verifications"] == 0 and public["totals"]["bank_matches"] == {}
    assert public["until"][:10] == today and "public_view" in public


def test_public_transparency_counts_do_not_reveal_a_bank_match(site, media) -> None:
    """Probe finding 3: read bank_matches, verify an image, read again: +1 must not show."""
    site.bank_with([pdq_hash_file(media.photo_jpeg).to_hex()])
    before = site.client.get("/api/v1/transparency?days=1").get_json()
    report = site.client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg")
    assert report.status_code == 200
    after = site.client.get("/api/v1/transparency?days=1").get_json()
    assert after["totals"]["bank_matches"] == before["totals"]["bank_matches"]
    assert after["days"] == before["days"] and after["totals"] == before["totals"]
    page = site.client.get("/transparency?days=1").get_data(as_text=True)
    assert LABEL not in page and 'id="public-view"' in page
    admin = site.client.get("/api/v1/transparency?days=1", headers=site.auth["admin"]).get_json()
    assert admin["totals"]["bank_matches"] == {LABEL: 1}  # operators keep the live figures


@pytest.mark.parametrize("query", ["days=0", "days=367", "days=abc", "since=2999-01-01", "since=yesterday",
                                   "since=2001-01-01", "days=3&since=2024-01-01", "page=1"])
def test_transparency_bad_parameters_are_400(site, query: str) -> None:
    assert error_of(site.client.get(f"/api/v1/transparency?{query}"))[0] == 400
    page = site.client.get(f"/transparency?{query}")
    assert page.status_code == 400 and page.mimetype == "text/html"


def test_transparency_is_linked_from_every_page(client) -> None:
    assert 'href="/transparency"' in client.get("/").get_data(as_text=True)
