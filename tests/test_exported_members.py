"""The public API is pinned: ``provenance.__all__`` and what the web app imports (httpx's style)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import provenance

WEBAPP = Path(__file__).resolve().parents[1] / "webapp"

EXPORTED = [
    "ApiToken", "BankExistsError", "BankNotFoundError", "Banks", "ConfigError", "DuplicateStampError",
    "HASH_KINDS", "HashListError", "ImageTooLargeError", "InvalidImageError", "InvalidInputError", "InvalidVideoError", "VideoTooLargeError",
    "ManifestError", "PerceptualHash", "ProvenanceError", "REVIEW_NOTE", "Registry", "RegistryError",
    "RegistryUnavailable", "ResolverError", "SEARCH_MODES", "ServerFault", "Settings", "SigningError", "Stamper",
    "TimestampAuthorityError", "TokenStore", "VERDICT_CODES", "VerificationReport", "Verifier",
    "__version__", "detect_mime_type", "load_secret_file", "errors", "file_digests", "images", "parse_since",
    "pdq_dihedral_hashes_file", "resolution", "transparency_report", "video", "watermark",
    # Take It Down cases
    "CaseNotFoundError", "CaseStateError", "WebhookSignatureError", "GOOD_FAITH_STATEMENT", "CaseStore",
    "ContentIndex", "ContentRow", "bank_case_hashes", "case_figures", "check_content_row", "check_request",
    "index_content", "open_case_store", "sweep_case",
]


def test_all_is_pinned() -> None:
    assert sorted(provenance.__all__) == sorted(EXPORTED)
    assert len(set(provenance.__all__)) == len(provenance.__all__)


def test_every_exported_member_resolves_and_comes_from_provenance() -> None:
    for name in provenance.__all__:
        member = getattr(provenance, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__.startswith("provenance."), (name, member.__module__)
        elif inspect.ismodule(member):
            assert member.__name__ == f"provenance.{name}"
    assert set(provenance.__all__) <= set(dir(provenance))


def test_webapp_imports_only_the_public_api() -> None:
    used: set[str] = set()
    for path in sorted(WEBAPP.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "provenance":
                assert node.module == "provenance", f"{path.name} imports from {node.module}; use `from provenance import ...`"
                used.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("provenance."), f"{path.name} imports {alias.name}"
    assert used and used <= set(provenance.__all__), used - set(provenance.__all__)
