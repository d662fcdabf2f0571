"""Hostile input (issue 11): corrupt AVIF, one source reader, decompression bombs, a corrupt C2PA container.

Each test here failed on the code before the fix it pins.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import EXIT_SOME_FAILED
from provenance.errors import ImageTooLargeError, InvalidImageError, InvalidInputError, ManifestError
from provenance.images import decode_image, read_source
from provenance.manifest import read_manifest
from provenance.metadata import read_metadata
from provenance.report import Verifier
from provenance.settings import Settings
from provenance.stamp import Stamper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bombs import lossless_webp as lossless_webp_bomb  # noqa: E402  (a valid one-colour WebP of any size)

#: Where 64 bytes of the AV1 payload of gen_sample1.avif are overwritten: libavif then fails
#: with "Decoding of color planes failed" (Pillow's AVIF plugin raises RuntimeError).
AVIF_DAMAGE_AT = 67_611


def corrupt_avif(shared_dir: Path) -> bytes:
    data = bytearray((shared_dir / "c2pa-fixtures" / "gen_sample1.avif").read_bytes())
    data[AVIF_DAMAGE_AT:AVIF_DAMAGE_AT + 64] = b"\xaa" * 64
    return bytes(data)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(instance_path=tmp_path / "instance")


def test_corrupt_avif_is_bad_input(shared_dir: Path) -> None:
    with pytest.raises(InvalidImageError, match="corrupt or truncated.*RuntimeError"):
        decode_image(corrupt_avif(shared_dir))


def test_cli_verify_writes_one_line_per_file(shared_dir: Path, tmp_path: Path) -> None:
    bad, good, junk = tmp_path / "bad.avif", tmp_path / "good.png", tmp_path / "junk.png"
    bad.write_bytes(corrupt_avif(shared_dir))
    good.write_bytes((shared_dir / "samples" / "kodim03.png").read_bytes())
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "instance"), "PROVENANCE_DATABASE_URL": ""}
    result = CliRunner().invoke(main, ["verify", "--json", "--no-progress", str(bad), str(junk), str(good)], env=env)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert [line["path"] for line in lines] == [str(bad), str(junk), str(good)]
    # The AVIF carries Content Credentials: its report says the pixels could not be decoded.
    assert lines[0]["report"]["watermark"]["status"] == "not_decoded"
    assert "truncated or corrupt" in lines[1]["error"] and "report" in lines[2]
    assert "Traceback" not in result.output


_UNREADABLE_SCRIPT = """
import json, sys
from provenance.images import decode_image, read_source
from provenance.manifest import read_manifest
from provenance.metadata import read_metadata
from provenance.report import Verifier
from provenance.settings import Settings
settings = Settings().with_instance(sys.argv[2])
verifier = Verifier(settings, use_registry=False)
out = {}
for name, read in [("read_source", read_source), ("decode_image", decode_image), ("read_metadata", read_metadata),
                   ("read_manifest", lambda p: read_manifest(p, settings=settings)), ("verify", verifier.verify)]:
    try:
        read(sys.argv[1])
        out[name] = "read"
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def test_unreadable_file_is_bad_input_everywhere(tmp_path: Path) -> None:
    # Before: a PermissionError escaped as a raw OSError from all but the verifier (a 500 in the app).
    locked = tmp_path / "locked.png"
    locked.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    locked.chmod(0)
    command = [sys.executable, "-c", _UNREADABLE_SCRIPT, str(locked), str(tmp_path / "instance")]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(outcomes) == {"read_source", "decode_image", "read_metadata", "read_manifest", "verify"}
    for name, outcome in outcomes.items():
        assert outcome.startswith("InvalidInputError") and "permission denied" in outcome, (name, outcome)


def test_folders_and_missing_files_are_bad_input_everywhere(tmp_path: Path, settings: Settings) -> None:
    readers = (read_source, decode_image, read_metadata, lambda p: read_manifest(p, settings=settings))
    for read in readers:
        with pytest.raises(InvalidInputError, match="is a folder"):
            read(tmp_path)
        with pytest.raises(InvalidInputError, match="no such file"):
            read(tmp_path / "missing.jpg")
    with Verifier(settings, use_registry=False) as verifier, pytest.raises(InvalidInputError, match="is a folder"):
        verifier.verify(tmp_path)


def test_read_source_takes_file_objects(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\nrest")
    with path.open("rb") as fh:
        src = read_source(fh)
    assert (src.data[:4], src.name, src.mime) == (b"\x89PNG", "x.bin", "image/png")
    with path.open("r") as fh, pytest.raises(InvalidInputError, match="binary mode"):
        read_source(fh)


def test_tiny_file_declaring_a_huge_image_is_refused_at_once() -> None:
    bomb = lossless_webp_bomb(10_900, 10_900)
    assert len(bomb) == 38
    with pytest.raises(ImageTooLargeError, match="38 bytes but declares 10900x10900"):
        decode_image(bomb)


def test_decode_memory_budget(tmp_path: Path) -> None:
    from provenance.images import DECODE_BYTES_PER_PIXEL, encode_image
    import numpy as np

    noisy = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    png = encode_image(noisy, "PNG")
    need = 300 * 400 * DECODE_BYTES_PER_PIXEL
    assert decode_image(png, max_decode_bytes=need).shape == (300, 400, 3)
    with pytest.raises(ImageTooLargeError, match="PROVENANCE_MAX_DECODE_MB"):
        decode_image(png, max_decode_bytes=need - 1)


_BOMB_SCRIPT = """
import resource, sys, time
from provenance.errors import ImageTooLargeError
from provenance.report import Verifier
from provenance.settings import Settings
sys.path.insert(0, {tests!r})
from test_hostile_input import lossless_webp_bomb
bomb = lossless_webp_bomb({side}, {side})
with Verifier(Settings().with_instance({inst!r}), use_registry=False) as verifier:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        verifier.verify(bomb)
        outcome = "verified"
    except ImageTooLargeError:
        outcome = "refused"
    print(outcome, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
"""


def test_a_38_byte_file_costs_neither_seconds_nor_gigabytes(tmp_path: Path) -> None:
    # Before: 4.5-9 s and ~2 GB RSS for one verification of this file.
    script = _BOMB_SCRIPT.format(tests=str(Path(__file__).parent), side=10_900, inst=str(tmp_path / "inst"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    outcome, seconds, extra_kib = out.stdout.split()
    assert outcome == "refused"
    assert float(seconds) < 1.0 and int(extra_kib) < 100 * 1024, out.stdout


def _png_with_broken_container(settings: Settings) -> bytes:
    with Stamper(settings) as stamper:
        data = stamper.stamp_image(
            Path(__file__).resolve().parents[2] / "shared" / "samples" / "kodim03.png", generator="g", output_format="PNG"
        ).data
    end = data.find(b"IEND") - 4  # a chunk whose length runs past the end of the file, before IEND
    return data[:end] + struct.pack(">I", 0x7FFFFFF0) + b"teXtabc" + data[end:]


def test_corrupt_c2pa_container_is_a_finding_not_the_end(shared_dir: Path, settings: Settings) -> None:
    data = _png_with_broken_container(settings)
    with pytest.raises(ManifestError, match="could not be parsed"):
        read_manifest(data, settings=settings)  # strict, as before
    summary = read_manifest(data, settings=settings, strict=False)
    assert summary.state == "invalid" and summary.container_unparsed
    with Verifier(settings) as verifier:
        report = verifier.verify(data)  # before: ManifestError, no watermark or registry check
    assert report.manifest.state == "invalid" and "could not be parsed" in report.manifest.explanation
    assert report.registry.status in ("found", "not_found") and report.watermark.status != "not_applicable"
    assert report.verdict.code == "credentials_invalid"


def test_garbage_that_no_reader_can_parse_is_still_an_error(settings: Settings) -> None:
    with Verifier(settings, use_registry=False) as verifier, pytest.raises((ManifestError, InvalidImageError)):
        verifier.verify(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)


def test_a_file_that_fails_unexpectedly_still_gets_its_line(tmp_path: Path) -> None:
    from provenance.cli.common import file_error_message

    path = tmp_path / "x.png"
    assert file_error_message(path, RuntimeError("boom")) == "unexpected error (RuntimeError: boom); please report it"
    assert file_error_message(path, InvalidInputError(f"{path}: no such file.")) == "no such file."
    assert file_error_message(path, FileNotFoundError(2, "No such file or directory", str(path))) == (
        "No such file or directory"
    )
