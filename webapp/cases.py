"""Take It Down removal requests (:mod:`provenance.cases`, ``docs/cases.md``).

``GET/POST /report``                    public form: the four elements; pictures hashed in the browser
``GET/POST /report/status/<token>``     the requester's private status page (state, deadline; withdraw)
``POST     /api/v1/cases``              public: the same request as JSON
``GET      /api/v1/cases/status/<token>`` public: the status as JSON
``POST     /api/v1/content``            token ``reviewer``: record content hashes (JSON rows or CSV), all or nothing
``GET/POST /admin/login``               a ``reviewer`` or ``admin`` token, exchanged for a session cookie
``GET      /admin/cases``               reviewers: cases, soonest deadline first
``GET      /admin/cases/<id>``          reviewers: one case (locations, hashes, sweep results)
``POST     /admin/cases/<id>``          reviewers: review, mark removed, reject, add hashes to a bank, sweep again

Contact details are personal data: never logged, never sent in webhooks, deleted
``PROVENANCE_CASE_CONTACT_DAYS`` after a case closes. The status page never names reviewers.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request, session, url_for

from provenance import (
    GOOD_FAITH_STATEMENT,
    CaseNotFoundError,
    CaseStore,
    ContentIndex,
    ContentRow,
    InvalidInputError,
    bank_case_hashes,
    check_content_row,
    check_request,
    file_digests,
    index_content,
    open_case_store,
    pdq_dihedral_hashes_file,
    sweep_case,
)

from .auth import require_token
from .errors import AppError
from .security import check_csrf
from .services import get_services
from .uploads import is_json, read_json_object, read_upload

__all__ = ["bp", "init_app", "NCII_BANK", "content_row_or_400", "record_content"]

logger = logging.getLogger(__name__)

bp = Blueprint("cases", __name__)

#: Bank that "add to NCII bank" puts a case's hashes in (made on first use).
NCII_BANK = "ncii-takedown"
_EXTENSION = "provenance_cases"
_SESSION_KEY = "reviewer_token_id"
_MAX_HASHES_FIELD = 16_384
_FORM_FIELDS = ("csrf_token", "locations", "description", "signature", "good_faith", "contact", "hashes",
                "hash_mode", "file")
_API_FIELDS = ("locations", "description", "signature", "good_faith", "contact", "hashes")
_LIMITED = ("cases.report_form", "cases.api_create", "cases.status", "cases.api_status", "cases.login")


class _CaseServices:
    """Per-process case store and content index (the index caches a PDQ snapshot); webhooks sent off-thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._store: CaseStore | None = None
        self._index: ContentIndex | None = None

    def get(self) -> tuple[CaseStore, ContentIndex]:
        with self._lock:
            if self._pid != os.getpid() or self._store is None:
                registry = get_services().registry
                settings = current_app.config["PROVENANCE_SETTINGS"]
                clock = current_app.config.get("PROVENANCE_CASES_CLOCK")
                store = open_case_store(registry, settings, **({"clock": clock} if clock else {}),
                                        background=not current_app.config.get("PROVENANCE_WEBHOOKS_SYNC"))
                self._store, self._index, self._pid = store, ContentIndex(registry), os.getpid()
            return self._store, self._index  # type: ignore[return-value]


def _cases() -> tuple[CaseStore, ContentIndex]:
    return current_app.extensions[_EXTENSION].get()


def _error(exc: InvalidInputError) -> AppError:
    if isinstance(exc, CaseNotFoundError):
        return AppError(404, "not_found", str(exc))
    return AppError(400, "invalid_request", str(exc))


# --------------------------------------------------------------------------- intake


def _hashes_from_form() -> list[dict]:
    mode = request.form.get("hash_mode", "browser")
    if mode not in ("browser", "server"):
        raise AppError(400, "invalid_request", "hash_mode must be 'browser' or 'server'.")
    if mode == "server":
        if "file" not in request.files or not request.files["file"].filename:
            return []
        upload = read_upload()  # held in memory for this request only, then dropped
        digests = file_digests(upload.data)
        out = [{"kind": "md5", "value": digests.md5}, {"kind": "sha256", "value": digests.sha256}]
        if upload.mime.startswith("image/") and upload.mime != "image/svg+xml":
            variants = pdq_dihedral_hashes_file(upload.data, max_pixels=current_app.config["PROVENANCE_SETTINGS"].max_pixels)
            out.insert(0, {"kind": "pdq", "value": variants[0].to_hex(), "quality": variants[0].quality})
            out[1:1] = [{"kind": "pdqv", "value": v.to_hex(), "quality": v.quality} for v in variants[1:]]
        return out
    raw = request.form.get("hashes", "")
    if len(raw) > _MAX_HASHES_FIELD:
        raise AppError(400, "invalid_request", f"The hashes field is longer than {_MAX_HASHES_FIELD} characters.")
    if not raw.strip():
        return []
    try:
        hashes = json.loads(raw)
    except ValueError:
        raise AppError(400, "invalid_request", "The picture hashes could not be read; pick the pictures again.") from None
    if not isinstance(hashes, list):
        raise AppError(400, "invalid_request", "The hashes field must be a JSON list.")
    return hashes


def _receive(fields: dict, hashes: object, channel: str, origin: str):
    store, index = _cases()
    try:
        req = check_request(locations=fields.get("locations"), description=fields.get("description"),
                            signature=fields.get("signature"), good_faith=fields.get("good_faith"),
                            contact=fields.get("contact"), hashes=hashes, channel=channel, hash_origin=origin)
    except InvalidInputError as exc:
        raise _error(exc) from None
    new = store.receive(req)
    if new.case.hashes:
        sweep_case(store, index, new.case.case_id)
    return new


@bp.route("/report", methods=["GET", "POST"])
def report_form() -> Any:
    """The public form; POST files a case and shows its number, deadline and status link."""
    if request.method == "GET":
        return render_template("takedown_form.html", statement=GOOD_FAITH_STATEMENT, values={}, error=None)
    check_csrf()
    unknown = sorted((set(request.form) | set(request.files)) - set(_FORM_FIELDS))
    if unknown:
        raise AppError(400, "unknown_field", f"Unknown field(s) {', '.join(unknown)}.")
    values = {k: request.form.get(k, "") for k in ("locations", "description", "signature", "contact")}
    try:
        hashes = _hashes_from_form()
        new = _receive({**values, "good_faith": request.form.get("good_faith") == "yes"}, hashes, "form",
                       request.form.get("hash_mode", "browser") if request.form.get("hash_mode") == "server" else "browser")
    except AppError as exc:
        if exc.status != 400:
            raise
        page = render_template("takedown_form.html", statement=GOOD_FAITH_STATEMENT, values=values, error=exc.message)
        return Response(page, status=400)
    link = url_for("cases.status", token=new.status_token, _external=True)
    return render_template("takedown_done.html", case=new.case, link=link)


@bp.post("/api/v1/cases")
def api_create() -> Response:
    """The same request as JSON: ``locations`` (list), ``description``, ``signature``, ``good_faith`` (true),
    ``contact``, optional ``hashes`` ([{kind, value, quality}]). 201 with the case number and status link."""
    if not is_json():
        raise AppError(415, "unsupported_type", "Send the request as application/json.")
    body = read_json_object(_API_FIELDS)
    new = _receive(body, body.get("hashes"), "api", "api")
    return Response(json.dumps({**new.case.status_dict(), "status_token": new.status_token,
                                "status_url": url_for("cases.status", token=new.status_token, _external=True)}),
                    status=201, mimetype="application/json")


@bp.route("/report/status/<token>", methods=["GET", "POST"])
def status(token: str) -> str:
    """The requester's status page: state and deadline, a rejection's reason; never reviewers' names.
    POST ``action=withdraw`` withdraws an open case."""
    store = _cases()[0]
    try:
        case = store.by_status_token(token)
        if request.method == "POST":
            check_csrf()
            if request.form.get("action") != "withdraw":
                raise AppError(400, "invalid_request", "The only action here is withdraw.")
            case = store.withdraw(case.case_id, actor="requester")
    except InvalidInputError as exc:
        raise _error(exc) from None
    return render_template("takedown_status.html", case=case)


@bp.get("/api/v1/cases/status/<token>")
def api_status(token: str) -> Response:
    """The status as JSON."""
    try:
        return jsonify(_cases()[0].by_status_token(token).status_dict())
    except CaseNotFoundError as exc:
        raise AppError(404, "not_found", str(exc)) from None


# --------------------------------------------------------------------------- content index


def content_row_or_400(content_id: object, hashes: dict) -> ContentRow:
    """A content-index row from ``/api/v1/hash``'s answer, or a 400 naming what is wrong."""
    try:
        return check_content_row(content_id, pdq=hashes.get("pdq"), quality=hashes.get("quality"),
                                 md5=hashes.get("md5"), sha256=hashes.get("sha256"))
    except InvalidInputError as exc:
        raise AppError(400, "invalid_request", f"{exc} (record=true needs content_id=...)") from None


def record_content(rows: list[ContentRow]) -> list[dict]:
    """Record content rows and return the alerts they raise (for ``/api/v1/hash?record=true`` too)."""
    store, index = _cases()
    return [{"case_id": c, **m.to_dict()} for c, m in index_content(store, index, rows)]


@bp.post("/api/v1/content")
def api_content() -> Response:
    """Record hashes of uploads: JSON ``{"rows": [{content_id, pdq, quality, md5, sha256}]}`` or a CSV
    with those columns. All rows or none; the answer lists the alerts (matches with open or removed cases)."""
    require_token("reviewer")
    settings = current_app.config["PROVENANCE_SETTINGS"]
    if is_json():
        body = read_json_object(("rows",), required=("rows",))
        records = body["rows"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise AppError(400, "invalid_request", "rows must be a list of objects.")
    elif (request.mimetype or "") in ("text/csv", "application/csv"):
        try:
            records = list(csv.DictReader(io.StringIO(request.get_data(cache=False).decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise AppError(400, "invalid_request", f"The CSV could not be read: {exc}.") from None
    else:
        raise AppError(415, "unsupported_type", "Send application/json or text/csv.")
    if len(records) > settings.bank_max_import_rows:
        raise AppError(413, "too_large", f"At most {settings.bank_max_import_rows:,} rows per request.")
    rows = []
    for n, r in enumerate(records, start=1):
        try:
            rows.append(check_content_row(r.get("content_id"), pdq=r.get("pdq"), quality=r.get("quality"),
                                          md5=r.get("md5"), sha256=r.get("sha256")))
        except InvalidInputError as exc:
            raise AppError(400, "invalid_request", f"row {n}: {exc} Nothing was recorded.") from None
    alerts = record_content(rows)
    return jsonify({"recorded": len(rows), "alerts": alerts})


# --------------------------------------------------------------------------- reviewers


def _reviewer() -> str:
    """The signed-in reviewer's actor name; the token is checked again on every request (revocation)."""
    token_id = session.get(_SESSION_KEY)
    token = get_services().tokens.get(token_id) if isinstance(token_id, str) else None
    if token is None or not token.can("reviewer"):
        session.pop(_SESSION_KEY, None)
        why = "Your reviewer token has been revoked; sign in with a valid one." if token is not None else \
            "Sign in with a reviewer or admin token first."
        raise AppError(401, "unauthorized", why)
    return f"token:{token.token_id}"


@bp.route("/admin/login", methods=["GET", "POST"])
def login() -> Any:
    """Exchange a ``reviewer`` or ``admin`` token for a session cookie."""
    if request.method == "GET":
        return render_template("takedown_login.html", error=None)
    check_csrf()
    found = get_services().tokens.authenticate(request.form.get("token", "").strip())
    if found is None or not found.can("reviewer"):
        msg = "That token is unknown or revoked." if found is None else f"A {found.role} token cannot review cases."
        return Response(render_template("takedown_login.html", error=msg), status=401)
    session[_SESSION_KEY] = found.token_id
    return redirect(url_for("cases.admin_list"))


@bp.get("/admin/cases")
def admin_list() -> str:
    """Cases, soonest deadline first; flags overdue ones and purges expired contact details."""
    _reviewer()
    store = _cases()[0]
    store.flag_overdue()
    store.purge_contacts()
    return render_template("takedown_admin_list.html", cases=store.list(), now=store.now())


@bp.route("/admin/cases/<case_id>", methods=["GET", "POST"])
def admin_case(case_id: str) -> Any:
    """One case; POST an ``action``: review, removed (``note``: what), rejected (``note``: reason), bank, sweep."""
    actor = _reviewer()
    store, index = _cases()
    message = None
    try:
        if request.method == "POST":
            check_csrf()
            action, note = request.form.get("action", ""), request.form.get("note", "")
            if action == "review":
                store.start_review(case_id, actor=actor)
            elif action in ("removed", "rejected"):
                store.decide(case_id, action, actor=actor, note=note)
            elif action == "sweep":
                message = f"{len(sweep_case(store, index, case_id))} new match(es)."
            elif action == "bank":
                message = _add_to_bank(store.get(case_id))
            else:
                raise AppError(400, "invalid_request", "action must be review, removed, rejected, bank or sweep.")
        case = store.get(case_id)
    except InvalidInputError as exc:
        raise _error(exc) from None
    return render_template("takedown_admin_case.html", case=case, message=message, now=store.now())


def _add_to_bank(case) -> str:
    added = bank_case_hashes(get_services().banks, case, NCII_BANK)
    return f"Added to the {NCII_BANK} bank ({added} new)."


def _format_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def init_app(app: Flask) -> None:
    """Register the blueprint and rate-limit its public endpoints (call after :func:`webapp.limits.init_app`)."""
    app.register_blueprint(bp)
    app.extensions[_EXTENSION] = _CaseServices()
    app.jinja_env.filters["utc"] = _format_time
    limiter = app.extensions.get("provenance_limiter")
    if limiter is not None:
        rate = app.config["PROVENANCE_SETTINGS"].rate_limit
        for endpoint in _LIMITED:
            app.view_functions[endpoint] = limiter.limit(rate)(app.view_functions[endpoint])
