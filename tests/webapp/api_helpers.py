"""Request helpers shared by the web app's test modules (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart


def form(fields: dict) -> dict:
    """Multipart request arguments, encoded in memory (werkzeug's test client spools big multipart
    bodies to a temporary file that it never closes, which pytest reports as a ResourceWarning)."""
    boundary, body = encode_multipart(
        {k: FileStorage(v[0], v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    )
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response) -> tuple[int, str]:
    """Status and error code of a JSON error answer, after checking its shape and that no traceback leaked."""
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"] and "Traceback" not in response.get_data(as_text=True)
    return response.status_code, body["error"]["code"]
