"""The error tree: bad input and server faults are different branches, old names still import."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance import errors
from provenance.errors import ProvenanceError, RegistryUnavailable, ServerFault, SigningError, TimestampAuthorityError
from provenance.registry import Registry
from provenance.settings import Settings
from provenance.signing import ai_generated_manifest, load_credentials, sign_asset

DEAD_URL = "http://127.0.0.1:9/"  # the discard port: nothing listens there


def test_every_error_is_in_errors_and_drawn_in_its_tree() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, ProvenanceError) for c in classes)
    for cls in classes:
        assert cls.__module__ == "provenance.errors"
        assert f" {cls.__name__} " in errors.__doc__ or f" {cls.__name__}\n" in errors.__doc__, cls


def test_bad_input_and_server_faults_are_different_branches() -> None:
    e = errors
    for bad_input in (e.HashListError, e.BankNotFoundError, e.BankExistsError):
        assert issubclass(bad_input, e.InvalidInputError) and not issubclass(bad_input, ServerFault)
    for fault in (e.RegistryError, RegistryUnavailable, e.DuplicateStampError, SigningError, TimestampAuthorityError):
        assert issubclass(fault, ServerFault)
    assert issubclass(SigningError, e.ManifestError)  # old `except ManifestError` around signing still catch it
    assert not issubclass(e.ManifestError, ServerFault)


def test_old_names_import_from_their_old_modules() -> None:
    from provenance import banks, registry

    assert banks.BankNotFoundError is errors.BankNotFoundError and banks.BankExistsError is errors.BankExistsError
    assert banks.HashListError is errors.HashListError and registry.DuplicateStampError is errors.DuplicateStampError


def test_an_unreachable_database_is_registry_unavailable() -> None:
    with pytest.raises(RegistryUnavailable, match="cannot connect"):
        Registry("postgresql+psycopg://user:pw@127.0.0.1:9/none", connect_timeout_s=1)


@pytest.fixture(scope="module")
def png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 120, dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def test_a_time_stamp_authority_down_is_a_server_fault(tmp_path: Path, png: bytes) -> None:
    credentials = dataclasses.replace(load_credentials(Settings(instance_path=tmp_path)), tsa_url=DEAD_URL)
    manifest = ai_generated_manifest(generator="x", watermark_id="0123456789abcdef")
    with pytest.raises(TimestampAuthorityError, match="time-stamp authority .* did not answer"):
        sign_asset(png, "image/png", manifest, credentials)


def test_a_key_that_does_not_match_the_certificate_is_a_signing_error(tmp_path: Path, png: bytes) -> None:
    ours = load_credentials(Settings(instance_path=tmp_path / "a"))
    other = load_credentials(Settings(instance_path=tmp_path / "b"))
    broken = dataclasses.replace(ours, private_key_pem=other.private_key_pem)
    manifest = ai_generated_manifest(generator="x", watermark_id="0123456789abcdef")
    with pytest.raises(SigningError, match="PROVENANCE_SIGNING_KEY") as caught:
        sign_asset(png, "image/png", manifest, broken)
    assert not isinstance(caught.value, TimestampAuthorityError)
