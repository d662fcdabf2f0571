"""The C2PA Soft Binding Resolution API, under ``PROVENANCE_RESOLUTION_PREFIX`` (default ``/c2pa/v1``).

``GET|POST matches/byBinding``       alg + base64 value -> ``{"matches": [{"manifestId", "similarityScore"}]}``
``POST     matches/byContent``       an image (raw body or multipart ``file``) -> the same; never stored
``GET      manifests/<manifestId>``  the manifest store embedded at stamping, ``application/c2pa``
``GET      services/supportedAlgorithms``  what we resolve (public)

A bearer token whose role grants ``resolve`` (the spec's ``fetch:manifests`` scope) is needed
unless ``PROVENANCE_RESOLUTION_PUBLIC=1``. The lookups are in :mod:`provenance.resolution`;
errors are JSON as elsewhere in the API (:mod:`webapp.errors`). See ``docs/resolution.md``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from provenance import resolution

from .auth import optional_token, require_token
from .errors import AppError
from .services import get_services
from .uploads import check_fields, is_json, read_json_object, read_upload

__all__ = ["bp", "MAX_GET_VALUE_CHARS"]

logger = logging.getLogger(__name__)

bp = Blueprint("resolution", __name__)

#: Longest base64 value accepted in a GET query; longer ones go in a POST body (the spec's 414).
MAX_GET_VALUE_CHARS = 2048
_TRUE = ("true", "1")
_FALSE = ("false", "0", "")


def _authorise() -> None:
    """A ``resolve`` token, unless the operator made resolution public (a sent token must still be good)."""
    if current_app.config["PROVENANCE_SETTINGS"].resolution_public:
        optional_token("resolve")
    else:
        require_token("resolve")


def _matches(found: tuple[resolution.ResolutionMatch, ...]) -> Response:
    response = jsonify({"matches": [m.to_dict() for m in found]})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Authorization"
    return response


def _by_binding(alg: object, value: object, max_results: object) -> Response:
    services = get_services()
    alg = resolution.check_alg(alg)
    data = resolution.decode_value(value)
    limit = resolution.check_max_results(max_results)
    return _matches(resolution.find_by_binding(services.registry, services.banks, alg, data, max_results=limit))


@bp.get("/matches/byBinding")
def by_binding_get() -> Response:
    """The manifests a soft binding (query parameters ``alg``, ``value``, ``maxResults``) matches."""
    _authorise()
    check_fields(("alg", "value", "maxResults"))
    value = request.args.get("value")
    if value is not None and len(value) > MAX_GET_VALUE_CHARS:
        raise AppError(414, "uri_too_long", f"'value' is longer than {MAX_GET_VALUE_CHARS} characters; send it in "
                       "the body of a POST to matches/byBinding instead.")
    if value is not None:  # an unencoded '+' arrives as a space, which base64 never contains
        value = value.replace(" ", "+")
    return _by_binding(request.args.get("alg"), value, request.args.get("maxResults"))


@bp.post("/matches/byBinding")
def by_binding_post() -> Response:
    """The manifests a soft binding (JSON body ``{"alg", "value"}``, query ``maxResults``) matches."""
    _authorise()
    check_fields(("maxResults",))
    if not is_json():
        raise AppError(415, "unsupported_type", "Send the query as JSON ('Content-Type: application/json'): "
                       '{"alg": "...", "value": "<base64>"}.')
    body = read_json_object(("alg", "value"), required=("alg", "value"))
    return _by_binding(body["alg"], body["value"], request.args.get("maxResults"))


@bp.post("/matches/byContent")
def by_content() -> Response:
    """The manifests an uploaded image matches, by our watermark and by PDQ among our stamped outputs."""
    _authorise()
    check_fields(("alg", "maxResults", "hintAlg", "hintValue", "file", "name"))
    alg = request.args.get("alg")
    algs = (resolution.check_alg(alg),) if alg else (resolution.WATERMARK_ALG, resolution.PDQ_ALG)
    limit = resolution.check_max_results(request.args.get("maxResults"))
    hint_alg, hint_value = request.args.get("hintAlg"), request.args.get("hintValue")
    if (hint_alg is None) != (hint_value is None):
        raise AppError(400, "invalid_input", "Send 'hintAlg' and 'hintValue' together, or neither.")
    upload = read_upload()
    if not upload.mime.startswith("image/") or upload.mime == "image/svg+xml":
        raise AppError(415, "unsupported_type", f"matches/byContent takes images; this is {upload.mime}. "
                       "For other media, send the soft binding to matches/byBinding.")
    services = get_services()
    found: list[resolution.ResolutionMatch] = []
    if hint_alg is not None:
        found.extend(resolution.find_by_binding(services.registry, services.banks, resolution.check_alg(hint_alg),
                                                resolution.decode_value(hint_value), max_results=limit))
    verifier = services.verifier
    seen = {m.manifest_id for m in found}
    found.extend(m for m in resolution.find_by_content(
        upload.data, registry=services.registry, banks=services.banks, keyring=verifier.keyring,
        max_pixels=services.settings.max_pixels, search=services.settings.watermark_search, algs=algs,
        max_results=limit,
    ) if m.manifest_id not in seen)
    return _matches(tuple(found[:limit]))


@bp.get("/manifests/<manifestId>")
def manifest(manifestId: str) -> Response:  # noqa: N803 (the spec's name, so the documented path matches)
    """The manifest store recorded for this manifest ID (a stamp ID), byte for byte as embedded."""
    _authorise()
    check_fields(("returnActiveManifest",))
    flag = (request.args.get("returnActiveManifest") or "").strip().lower()
    if flag not in _TRUE + _FALSE:
        raise AppError(400, "invalid_input", "'returnActiveManifest' must be true or false.")
    manifest_id = resolution.check_manifest_id(manifestId)
    store = resolution.manifest_store_for(get_services().registry, manifest_id, active_only=flag in _TRUE)
    if store is None:
        raise AppError(404, "not_found", f"No manifest {manifest_id} here; find manifest IDs with matches/byBinding.")
    response = Response(store, mimetype="application/c2pa")
    response.headers["Content-Disposition"] = f'attachment; filename="{manifest_id}.c2pa"'
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Vary"] = "Authorization"
    return response


@bp.get("/services/supportedAlgorithms")
def supported_algorithms() -> Response:
    """The soft-binding algorithms this service resolves (public, as in the spec)."""
    check_fields(())
    response = jsonify(resolution.supported_algorithms())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
