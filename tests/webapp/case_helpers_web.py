"""A removal request for the web app tests' CLI checks (imported by name, as api_helpers is)."""

from __future__ import annotations

from provenance.cases import check_request


def request_for_cli():
    return check_request(locations=["https://a.example/1"], description="d", signature="J", good_faith=True,
                         contact="j@example.org")
