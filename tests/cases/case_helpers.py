"""Helpers for the case tests (imported by name, as tests/webapp/api_helpers.py is)."""

from __future__ import annotations

from provenance.cases import check_request


def make_request(**overrides):
    fields = dict(locations=["https://platform.example/p/123"], description="A photo of me posted without consent.",
                  signature="Jane Doe", good_faith=True, contact="jane@example.org",
                  hashes=[{"kind": "pdq", "value": "f" * 64, "quality": 90}, {"kind": "md5", "value": "a" * 32}])
    fields.update(overrides)
    return check_request(**fields)
