"""Take It Down in the web app: the form, the JSON API, status links, reviewers, the content index."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from provenance.registry import Registry, transaction
from provenance.registry.schema import case_events, cases

from api_helpers import bearer, error_of, form

SCRIPT = '<script>alert("x")</script>'


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(app_factory, clock):
    return app_factory({"PROVENANCE_CASES_CLOCK": clock})


def csrf(client, path="/report") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def fields(**overrides) -> dict:
    out = {"locations": "https://platform.example/p/1", "description": "A photo of me.", "signature": "Jane Doe",
           "good_faith": "yes", "contact": "jane@example.org"}
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def post_form(client, **overrides):
    data = fields(**overrides)
    data.setdefault("csrf_token", csrf(client))
    return client.post("/report", **form(data))


def counts(web_settings) -> tuple[int, int]:
    with Registry.open(web_settings) as registry, transaction(registry, "t", write=False) as conn:
        return (conn.scalar(sa.select(sa.func.count()).select_from(cases)),
                conn.scalar(sa.select(sa.func.count()).select_from(case_events)))


def test_form_page_has_four_elements_and_privacy_note(client):
    page = client.get("/report").get_data(as_text=True)
    for name in ("locations", "description", "signature", "good_faith", "contact", "csrf_token"):
        assert f'name="{name}"' in page
    assert "never leaves your device" in page and "good faith belief" in page
    assert 'id="pictures" accept="image/*" multiple' in page  # no name: never submitted
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets


def test_form_files_a_case_and_status_link_shows_it(client, clock):
    r = post_form(client, hashes='[{"kind": "md5", "value": "' + "a" * 32 + '"}]')
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page
    case_id = re.search(r'id="case-id">(TD-[0-9A-F]{10})<', page).group(1)
    link = re.search(r'id="status-link" href="([^"]+)"', page).group(1)
    assert "2026-06-03 09:00 UTC" in page  # receipt + 48 h
    status = client.get(link.replace("http://localhost", ""))
    assert status.status_code == 200 and case_id in status.get_data(as_text=True)
    assert ">received<" in status.get_data(as_text=True)


@pytest.mark.parametrize(("missing", "named"), [
    ("locations", "element 2"), ("description", "description"), ("signature", "signature"),
    ("good_faith", "good-faith"), ("contact", "contact")])
def test_missing_element_named_and_nothing_written(client, web_settings, missing, named):
    r = post_form(client, **{missing: None})
    assert r.status_code == 400 and named in r.get_data(as_text=True)
    assert counts(web_settings) == (0, 0)


def test_script_in_every_text_field_is_escaped(client, app):
    token_page = post_form(client, locations="https://platform.example/p?q=" + "%3Cscript%3E",
                           description=SCRIPT, signature=SCRIPT, contact="jane@example.org")
    assert token_page.status_code == 200
    case_id = re.search(r"(TD-[0-9A-F]{10})", token_page.get_data(as_text=True)).group(1)
    bad = post_form(client, description=SCRIPT, contact=SCRIPT)  # re-rendered form with the values
    assert bad.status_code == 400
    assert SCRIPT not in bad.get_data(as_text=True) and "&lt;script&gt;" in bad.get_data(as_text=True)
    reviewer = _sign_in(app, client)
    page = client.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;alert" in page and reviewer


def test_form_needs_csrf(client, web_settings):
    r = post_form(client, csrf_token="forged")
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert counts(web_settings) == (0, 0)


def test_oversized_and_malformed(client, web_settings):
    assert post_form(client, description="x" * 5000).status_code == 400
    assert post_form(client, hashes="x" * 20000).status_code == 400
    assert post_form(client, hashes='[{"kind": "pdq", "value": "nothex"}]').status_code == 400
    assert post_form(client, hashes="{not json").status_code == 400
    assert post_form(client, extra="1").status_code == 400
    r = client.post("/api/v1/cases", json={**fields(good_faith=True, locations=["https://a.example/1"]),
                                           "hashes": [{"kind": "sha256", "value": "z" * 64}]})
    assert error_of(r) == (400, "invalid_request") and "sha256" in r.get_json()["error"]["message"]
    assert counts(web_settings) == (0, 0)


def test_server_hashing_is_an_explicit_choice(client, app, media):
    r = post_form(client, hash_mode="server", file=(io.BytesIO(media.photo_jpeg), "me.jpg"))
    assert r.status_code == 200
    case_id = re.search(r"(TD-[0-9A-F]{10})", r.get_data(as_text=True)).group(1)
    expected = client.post("/api/v1/hash", **form({"file": (io.BytesIO(media.photo_jpeg), "me.jpg")})).get_json()
    with Registry.open(app.config["PROVENANCE_SETTINGS"]) as registry:
        from provenance.cases import CaseStore
        stored = {(h.kind, h.value, h.origin) for h in CaseStore(registry).get(case_id).hashes}
    assert {("pdq", expected["pdq"], "server"), ("md5", expected["md5"], "server"),
            ("sha256", expected["sha256"], "server")} <= stored


def test_api_create_and_status(client, clock):
    body = {"locations": ["https://platform.example/p/9"], "description": "d", "signature": "J", "good_faith": True,
            "contact": "+1 202 555 0100", "hashes": [{"kind": "pdq", "value": "0f" * 32, "quality": 80}]}
    r = client.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert out["state"] == "received" and out["deadline_at"].startswith("2026-06-03T09:00")
    s = client.get(f"/api/v1/cases/status/{out['status_token']}")
    assert s.status_code == 200 and s.get_json()["case_id"] == out["case_id"] and "contact" not in s.get_json()
    assert error_of(client.post("/api/v1/cases", json={**body, "good_faith": False}))[0] == 400
    assert error_of(client.post("/api/v1/cases", json={**body, "x": 1})) == (400, "unknown_field")
    assert error_of(client.post("/api/v1/cases", data="nope")) == (415, "unsupported_type")


@pytest.mark.parametrize("token", ["A" * 43, "short", "x" * 120, "../../etc/passwd"])
def test_forged_status_tokens(client, token):
    r = client.get(f"/report/status/{token}")
    assert r.status_code == 404 and ("/" in token or "not valid" in r.get_data(as_text=True))
    assert error_of(client.get(f"/api/v1/cases/status/{token}"))[0] == 404


def test_expired_status_token(client, app, clock):
    out = client.post("/api/v1/cases", json={"locations": ["https://a.example/1"], "description": "d",
                                             "signature": "J", "good_faith": True, "contact": "j@example.org"}).get_json()
    _sign_in(app, client)
    tok = csrf(client, f"/admin/cases/{out['case_id']}")
    client.post(f"/admin/cases/{out['case_id']}", data={"csrf_token": tok, "action": "removed", "note": "post 1"})
    clock.now += timedelta(days=31)
    client.get("/admin/cases")  # the list purges expired contact details
    r = client.get(f"/report/status/{out['status_token']}")
    assert r.status_code == 404 and "expired" in r.get_data(as_text=True)


def _sign_in(app, client, role="reviewer"):
    settings = app.config["PROVENANCE_SETTINGS"]
    from provenance.tokens import TokenStore
    with Registry.open(settings) as registry:
        issued = TokenStore(registry).create(role, label="alice")
    r = client.post("/admin/login", data={"csrf_token": csrf(client, "/admin/login"), "token": issued.token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return issued


def test_reviewer_flow_status_never_names_reviewer(client, app, clock):
    out = client.post("/api/v1/cases", json={"locations": ["https://a.example/1"], "description": "d", "signature": "J",
                                             "good_faith": True, "contact": "j@example.org"}).get_json()
    assert client.get("/admin/cases").status_code == 401
    issued = _sign_in(app, client)
    listing = client.get("/admin/cases").get_data(as_text=True)
    assert out["case_id"] in listing
    tok = csrf(client, f"/admin/cases/{out['case_id']}")
    r = client.post(f"/admin/cases/{out['case_id']}", data={"csrf_token": tok, "action": "rejected", "note": "Not found"})
    assert r.status_code == 200 and 'id="state">rejected<' in r.get_data(as_text=True)
    assert f"token:{issued.info.token_id}" in r.get_data(as_text=True)
    status = client.get(f"/report/status/{out['status_token']}").get_data(as_text=True)
    assert "rejected" in status and "Not found" in status and issued.info.token_id not in status and "alice" not in status


def test_revoked_reviewer_refused_nothing_written(client, app, web_settings):
    out = client.post("/api/v1/cases", json={"locations": ["https://a.example/1"], "description": "d", "signature": "J",
                                             "good_faith": True, "contact": "j@example.org"}).get_json()
    issued = _sign_in(app, client)
    tok = csrf(client, f"/admin/cases/{out['case_id']}")
    from provenance.tokens import TokenStore
    with Registry.open(web_settings) as registry:
        TokenStore(registry).revoke(issued.info.token_id)
    before = counts(web_settings)
    r = client.post(f"/admin/cases/{out['case_id']}", data={"csrf_token": tok, "action": "removed", "note": "x"})
    assert r.status_code == 401 and "revoked" in r.get_data(as_text=True)
    assert counts(web_settings) == before
    assert client.get("/admin/cases").status_code == 401


def test_wrong_role_cannot_sign_in(client, app):
    from provenance.tokens import TokenStore
    with Registry.open(app.config["PROVENANCE_SETTINGS"]) as registry:
        issued = TokenStore(registry).create("stamp")
    r = client.post("/admin/login", data={"csrf_token": csrf(client, "/admin/login"), "token": issued.token})
    assert r.status_code == 401 and "cannot review" in r.get_data(as_text=True)


def test_content_index_sweep_bank_and_reupload_alert(client, app, media, tokens):
    reviewer = tokens.create("reviewer").token
    hashed = client.post("/api/v1/hash", **form({"file": (io.BytesIO(media.photo_jpeg), "p.jpg")})).get_json()
    body = {"locations": ["https://a.example/1"], "description": "d", "signature": "J", "good_faith": True,
            "contact": "j@example.org", "hashes": [{"kind": "pdq", "value": hashed["pdq"], "quality": hashed["quality"]}]}
    r = client.post("/api/v1/content", json={"rows": [{"content_id": "old-1", "pdq": hashed["pdq"]}]},
                    headers=bearer(reviewer))
    assert r.status_code == 200 and r.get_json() == {"recorded": 1, "alerts": []}
    out = client.post("/api/v1/cases", json=body).get_json()
    _sign_in(app, client)
    page = client.get(f"/admin/cases/{out['case_id']}").get_data(as_text=True)
    assert "old-1" in page  # swept at intake
    tok = csrf(client, f"/admin/cases/{out['case_id']}")
    assert "Added to the ncii-takedown bank (1 new)" in client.post(
        f"/admin/cases/{out['case_id']}", data={"csrf_token": tok, "action": "bank"}).get_data(as_text=True)
    client.post(f"/admin/cases/{out['case_id']}", data={"csrf_token": tok, "action": "removed", "note": "old-1 deleted"})
    rec = client.post("/api/v1/hash?record=true&content_id=new-7", headers=bearer(reviewer),
                      **form({"file": (io.BytesIO(media.photo_jpeg), "p.jpg")}))
    assert rec.status_code == 200 and [a["content_id"] for a in rec.get_json()["alerts"]] == ["new-7"]
    csv_body = "content_id,pdq,quality,md5,sha256\nx,zz,,,\n"
    bad = client.post("/api/v1/content", data=csv_body, content_type="text/csv", headers=bearer(reviewer))
    assert error_of(bad) == (400, "invalid_request") and "Nothing was recorded" in bad.get_json()["error"]["message"]
    assert error_of(client.post("/api/v1/content", json={"rows": []}))[0] == 401
    assert error_of(client.post("/api/v1/hash?record=true", headers=bearer(reviewer),
                                **form({"file": (io.BytesIO(media.photo_jpeg), "p.jpg")})))[0] == 400


def test_transparency_shows_case_figures(app_factory, tokens):
    client = app_factory().test_client()  # the real clock: the figures cover today
    body = {"locations": ["https://a.example/1"], "description": "d", "signature": "J", "good_faith": True,
            "contact": "j@example.org"}
    client.post("/api/v1/cases", json=body)
    admin = tokens.create("admin").token
    live = client.get("/api/v1/transparency?days=1", headers=bearer(admin)).get_json()["cases"]
    assert live["received"] == 1 and live["open"] == 1 and live["decided_within_48h_pct"] is None
    public = client.get("/api/v1/transparency").get_json()["cases"]
    assert set(public) >= {"received", "decided_within_48h_pct", "median_hours_to_decision", "p95_hours_to_decision",
                           "overdue", "per_day"}
    page = client.get("/transparency").get_data(as_text=True)
    assert 'id="cases-received"' in page and "Decided within 48 hours" in page


def test_cli_report_prints_case_figures(web_settings):
    from click.testing import CliRunner
    from provenance.cases import CaseStore
    from provenance.cli import main
    from case_helpers_web import request_for_cli
    with Registry.open(web_settings) as registry:
        CaseStore(registry).receive(request_for_cli())
    env = {"PROVENANCE_INSTANCE_PATH": str(web_settings.instance_path)}
    out = CliRunner().invoke(main, ["report", "--since", "2020-01-01"], env=env)
    assert out.exit_code == 0 and "removal cases: received=1 decided=0" in out.stdout


def test_rate_and_size_limits(app_factory, web_settings):
    client = app_factory(rate_limit="2 per minute").test_client()
    body = {"locations": ["https://a.example/1"], "description": "d", "signature": "J", "good_faith": True,
            "contact": "j@example.org"}
    assert [client.post("/api/v1/cases", json=body).status_code for _ in range(3)] == [201, 201, 429]
    small = app_factory(max_upload_bytes=2048).test_client()
    r = small.post("/api/v1/cases", json={**body, "description": "x" * 4000})
    assert error_of(r)[0] == 413
    assert counts(web_settings)[0] == 2


def test_requester_can_withdraw_with_csrf(client):
    out = client.post("/api/v1/cases", json={"locations": ["https://a.example/1"], "description": "d", "signature": "J",
                                             "good_faith": True, "contact": "j@example.org"}).get_json()
    path = f"/report/status/{out['status_token']}"
    assert client.post(path, data={"csrf_token": "forged", "action": "withdraw"}).status_code == 400
    r = client.post(path, data={"csrf_token": csrf(client, path), "action": "withdraw"})
    assert r.status_code == 200 and ">withdrawn<" in r.get_data(as_text=True) and 'id="withdraw"' not in r.get_data(as_text=True)
    again = client.post(path, data={"csrf_token": csrf(client), "action": "withdraw"})
    assert again.status_code == 400 and "cannot become withdrawn" in again.get_data(as_text=True)
