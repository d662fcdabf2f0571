"""Tests for the ``provenance`` command line: real images, real keys, real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    KEY_FILE_ENV,
    expand_paths,
    load_keys,
)
from provenance.cli.demo import synthetic_photo
from provenance.cli.watermark import describe_result
from provenance.errors import ConfigError
from provenance.images import decode_image, save_image
from provenance.watermark import WatermarkResult

KEY_HEX = "5e" * 16 + "c1" * 16
PAYLOAD = "0102030405060708"
SIDE = 320


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return synthetic_photo(SIDE, SIDE, seed=7)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "watermark.key"
    path.write_text(KEY_HEX + "\n")
    return path


@pytest.fixture
def plain_png(tmp_path: Path, photo: np.ndarray) -> Path:
    path = tmp_path / "plain.png"
    save_image(photo, path)
    return path


@pytest.fixture
def marked_png(runner: CliRunner, tmp_path: Path, plain_png: Path, key_file: Path) -> Path:
    out = tmp_path / "marked.png"
    result = runner.invoke(
        main, ["watermark", "embed", str(plain_png), str(out), "--payload", PAYLOAD, "--key-file", str(key_file)]
    )
    assert result.exit_code == EXIT_OK, result.output
    return out


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _assert_clean_error(result, code: int = EXIT_ERROR) -> str:
    """One ``error:`` line on stderr, nothing on stdout, no traceback; return the line."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


# --- the group -------------------------------------------------------------------------------


def test_help_explains_the_tool_and_lists_commands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Watermark AI-generated images" in result.output
    for word in ("watermark", "demo", "Exit codes", f"{EXIT_SOME_FAILED}   some files", str(EXIT_USAGE)):
        assert word in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "0.1.0" in result.output


@pytest.mark.parametrize(
    "args", [["no-such-command"], ["watermark", "detect"], ["watermark", "embed", "a.png"], ["--bogus"]]
)
def test_usage_errors_exit_64(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_USAGE
    assert "Traceback" not in result.output and "Usage:" in result.output


# --- embed and detect ------------------------------------------------------------------------


def test_embed_then_detect_round_trip(runner: CliRunner, tmp_path: Path, plain_png: Path, key_file: Path) -> None:
    out = tmp_path / "out.png"
    embedded = runner.invoke(
        main, ["watermark", "embed", str(plain_png), str(out), "--payload", PAYLOAD, "--key-file", str(key_file)]
    )
    assert embedded.exit_code == 0, embedded.output
    assert PAYLOAD in embedded.stdout and "PSNR" in embedded.stdout and "64 bits" in embedded.stdout
    psnr = float(embedded.stdout.split("PSNR ")[1].split(" dB")[0])
    assert 38.0 < psnr < 46.0
    assert decode_image(out).shape == (SIDE, SIDE, 3)

    detected = runner.invoke(main, ["watermark", "detect", str(out), "--key-file", str(key_file)])
    assert detected.exit_code == 0, detected.output
    assert detected.stdout.startswith(f"{out}: watermark found, payload {PAYLOAD}, p = ")
    assert "geometry: unchanged" in detected.stdout


def test_embed_to_jpeg_with_quality_and_key_hex(runner: CliRunner, tmp_path: Path, plain_png: Path) -> None:
    out = tmp_path / "out.jpg"
    args = ["watermark", "embed", str(plain_png), str(out), "--payload", "0xabcd", "--key-hex", KEY_HEX]
    result = runner.invoke(main, [*args, "--quality", "90", "--psnr", "38"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"\xff\xd8"
    detected = runner.invoke(main, ["watermark", "detect", str(out), "--key-hex", KEY_HEX, "--json"])
    assert _json_lines(detected.stdout)[0]["watermark"]["payload"] == "abcd"


def test_embed_keeps_alpha(runner: CliRunner, tmp_path: Path, photo: np.ndarray, key_file: Path) -> None:
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    source, out = tmp_path / "rgba.png", tmp_path / "rgba-marked.png"
    save_image(rgba, source)
    result = runner.invoke(
        main, ["watermark", "embed", str(source), str(out), "--payload", "ff", "--key-file", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    marked = decode_image(out, keep_alpha=True)
    assert marked.shape == (SIDE, SIDE, 4) and np.all(marked[..., 3] == 200)
    jpeg_out = str(tmp_path / "x.jpg")
    refused = runner.invoke(
        main, ["watermark", "embed", str(source), jpeg_out, "--payload", "ff", "--key-file", str(key_file)]
    )
    assert "JPEG cannot hold transparency" in _assert_clean_error(refused)
    assert not (tmp_path / "x.jpg").exists()


def test_detect_json_lines(runner: CliRunner, marked_png: Path, plain_png: Path, key_file: Path) -> None:
    result = runner.invoke(
        main, ["watermark", "detect", str(marked_png), str(plain_png), "--key-file", str(key_file), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = _json_lines(result.stdout)
    assert [r["path"] for r in records] == [str(marked_png), str(plain_png)]
    found, missing = records[0]["watermark"], records[1]["watermark"]
    assert found["detected"] is True and found["payload"] == PAYLOAD and found["p_value"] < 1e-9
    assert missing["detected"] is False and missing["payload"] is None


def test_detect_folder_gives_one_line_per_image(
    runner: CliRunner, tmp_path: Path, marked_png: Path, plain_png: Path, key_file: Path
) -> None:
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.png").write_bytes(marked_png.read_bytes())
    (folder / "a.PNG").write_bytes(plain_png.read_bytes())
    save_image(decode_image(marked_png), folder / "sub" / "c.jpg", quality=90)
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(marked_png.read_bytes())

    result = runner.invoke(main, ["watermark", "detect", str(folder), "--key-file", str(key_file), "--json"])
    assert result.exit_code == 0, result.output
    records = _json_lines(result.stdout)
    assert [Path(r["path"]).name for r in records] == ["a.PNG", "b.png", "c.jpg"]
    assert [r["watermark"]["detected"] for r in records] == [False, True, True]

    human = runner.invoke(main, ["watermark", "detect", str(folder), "--key-file", str(key_file)])
    lines = human.stdout.splitlines()
    assert len(lines) == 3 and "no watermark found (best score" in lines[0] and "watermark found" in lines[1]


def test_bad_files_are_reported_and_the_run_goes_on(
    runner: CliRunner, tmp_path: Path, marked_png: Path, key_file: Path
) -> None:
    text = tmp_path / "text.png"
    text.write_text("hello, I am not a picture\n")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(marked_png.read_bytes()[:2000])
    missing = tmp_path / "missing.png"
    files = [str(text), str(truncated), str(missing), str(marked_png)]
    args = ["watermark", "detect", *files, "--key-file", str(key_file)]

    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_SOME_FAILED
    assert "Traceback" not in result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"error: {text}: ") and "not an image format" in errors[0]
    assert errors[1].startswith(f"error: {truncated}: ") and "truncated" in errors[1]
    assert errors[2] == f"error: {missing}: no such file"
    assert result.stdout.startswith(f"{marked_png}: watermark found, payload {PAYLOAD}")

    as_json = runner.invoke(main, [*args, "--json"])
    assert as_json.exit_code == EXIT_SOME_FAILED
    records = _json_lines(as_json.stdout)
    assert [set(r) for r in records] == [{"path", "error"}] * 3 + [{"path", "watermark"}]
    assert records[3]["watermark"]["payload"] == PAYLOAD


def test_progress_bar_never_touches_stdout(
    runner: CliRunner, marked_png: Path, plain_png: Path, key_file: Path
) -> None:
    args = ["watermark", "detect", str(marked_png), str(plain_png), "--key-file", str(key_file), "--json"]
    result = runner.invoke(main, [*args, "--progress"])
    assert result.exit_code == 0
    assert len(_json_lines(result.stdout)) == 2  # every stdout line is JSON
    assert "/2 [" in result.stderr  # tqdm's counter (of 2 files) went to stderr; the final 2/2 frame may be skipped
    quiet = runner.invoke(main, args)
    assert quiet.stderr == ""  # not a terminal: no bar unless forced


# --- clean errors ------------------------------------------------------------------------------


def test_missing_and_empty_key_files(runner: CliRunner, tmp_path: Path, plain_png: Path) -> None:
    missing = runner.invoke(main, ["watermark", "detect", str(plain_png), "--key-file", str(tmp_path / "nope.key")])
    assert "does not exist" in _assert_clean_error(missing)
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"")
    result = runner.invoke(main, ["watermark", "detect", str(plain_png), "--key-file", str(empty)])
    assert "is empty" in _assert_clean_error(result)
    blank = tmp_path / "blank.key"
    blank.write_text("\n  \n")
    result = runner.invoke(main, ["watermark", "detect", str(plain_png), "--key-file", str(blank)])
    assert "is empty" in _assert_clean_error(result)


@pytest.mark.parametrize(
    "payload, message",
    [("xyz", "must be hex"), ("abc", "must be hex"), ("", "must be hex"), ("00" * 9, "at most 8 bytes")],
)
def test_bad_payloads(
    runner: CliRunner, tmp_path: Path, plain_png: Path, key_file: Path, payload: str, message: str
) -> None:
    out = tmp_path / "out.png"
    result = runner.invoke(
        main, ["watermark", "embed", str(plain_png), str(out), "--payload", payload, "--key-file", str(key_file)]
    )
    assert message in _assert_clean_error(result)
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--key-hex", "abcd"], "at least 16"),
        (["--key-hex", "not hex"], "hex digits"),
        (["--key-hex", KEY_HEX, "--key-file", "x.key"], "not both"),
        ([], "No watermark key"),
    ],
)
def test_bad_key_options(runner: CliRunner, plain_png: Path, extra: list[str], message: str) -> None:
    unset = {KEY_FILE_ENV: None, "PROVENANCE_WATERMARK_KEYS": None}
    result = runner.invoke(main, ["watermark", "detect", str(plain_png), *extra], env=unset)
    assert message in _assert_clean_error(result)


def test_embed_errors_are_one_line(runner: CliRunner, tmp_path: Path, plain_png: Path, key_file: Path) -> None:
    base = ["watermark", "embed", "--payload", "01", "--key-file", str(key_file)]
    small = tmp_path / "small.png"
    save_image(synthetic_photo(100, 100, seed=1), small)
    cases = [
        ([str(tmp_path / "nope.png"), str(tmp_path / "o.png")], "no such file"),
        ([str(plain_png), str(tmp_path / "o.xyz")], "output format"),
        ([str(small), str(tmp_path / "o.png")], "at least 256x256"),
        ([str(plain_png), str(tmp_path / "no-folder" / "o.png")], "No such file or directory"),
    ]
    for paths, message in cases:
        assert message in _assert_clean_error(runner.invoke(main, [*base[:2], *paths, *base[2:]]))


def test_no_images_in_folder(runner: CliRunner, tmp_path: Path, key_file: Path) -> None:
    (tmp_path / "empty-folder").mkdir()
    result = runner.invoke(main, ["watermark", "detect", str(tmp_path / "empty-folder"), "--key-file", str(key_file)])
    assert "No image files found" in _assert_clean_error(result)


# --- keys ----------------------------------------------------------------------------------


def test_key_file_forms(tmp_path: Path) -> None:
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes(range(200, 232)))
    assert load_keys(raw, None)[0].secret == bytes(range(200, 232))
    hex_line = tmp_path / "hex.key"
    hex_line.write_text(f"# made for the tests\n{KEY_HEX.upper()}\n")
    assert load_keys(hex_line, None)[0].secret == bytes.fromhex(KEY_HEX)
    ring = tmp_path / "ring.keys"
    ring.write_text(f"new:{'aa' * 32}\nold:{KEY_HEX}\n")
    assert [k.key_id for k in load_keys(ring, None)] == ["new", "old"]
    short = tmp_path / "short.key"
    short.write_text("abcdef\n")
    with pytest.raises(ConfigError, match="at least 16"):
        load_keys(short, None)


def test_key_ring_tries_every_key(runner: CliRunner, tmp_path: Path, marked_png: Path) -> None:
    ring = tmp_path / "ring.keys"
    ring.write_text(f"k2026:{'aa' * 32}\nk2025:{KEY_HEX}\n")
    result = runner.invoke(main, ["watermark", "detect", str(marked_png), "--key-file", str(ring), "--json"])
    record = _json_lines(result.stdout)[0]
    assert record["watermark"]["payload"] == PAYLOAD and record["key_id"] == "k2025"


def test_key_file_from_environment(runner: CliRunner, marked_png: Path, key_file: Path) -> None:
    result = runner.invoke(main, ["watermark", "detect", str(marked_png)], env={KEY_FILE_ENV: str(key_file)})
    assert result.exit_code == 0 and f"payload {PAYLOAD}" in result.stdout


def test_expand_paths_keeps_named_files_and_sorts_folders(tmp_path: Path) -> None:
    (tmp_path / "d" / "z").mkdir(parents=True)
    for name in ("d/b.jpg", "d/a.png", "d/z/c.webp", "d/readme.md", "d/.x.png"):
        (tmp_path / name).write_bytes(b"x")
    named = tmp_path / "named.txt"
    got = expand_paths([named, tmp_path / "d", tmp_path / "d" / "a.png"])
    assert got == [named, tmp_path / "d" / "a.png", tmp_path / "d" / "b.jpg", tmp_path / "d" / "z" / "c.webp"]


def test_describe_result_geometry() -> None:
    result = WatermarkResult(True, bytes.fromhex("0102"), 3e-12, 25.12, 131072, 0.75, -2.0, True)
    assert describe_result(result) == (
        "watermark found, payload 0102, p = 3e-12 (strength 25.1 sd), geometry: scale 0.75, rotated -2.0°, mirrored"
    )
    assert describe_result(WatermarkResult(False, None, 0.9, 4.14, 131072)) == "no watermark found (best score 4.1 sd)"


# --- demo and the installed command ------------------------------------------------------------


def test_demo_writes_files_and_recovers_the_payload(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(main, ["demo", "--out", str(out), "--seed", "5"])  # kodim03 or a synthetic 768x512
    assert result.exit_code == 0, result.output
    assert "✓ matches" in result.stdout and "PSNR" in result.stdout and "p = " in result.stdout
    for name in ("original.png", "marked.png", "degraded.png", "demo-key.hex"):
        assert (out / name).is_file()
    assert decode_image(out / "degraded.png").shape == (307, 461, 3)  # 768x512 * 0.75 * 0.8
    assert (out / "demo-key.hex").stat().st_mode & 0o077 == 0
    again = runner.invoke(
        main, ["watermark", "detect", str(out / "degraded.png"), "--key-file", str(out / "demo-key.hex")]
    )
    # Scheme v2 marks on a grid of long side 640 (1.2 px of the 768 px original per grid pixel); this
    # 461 px copy is small enough to be looked at on its own pixels first: 128 * 1.2 * 0.75 = 115 px.
    assert "watermark found" in again.stdout and "scale 0.90" in again.stdout


def test_demo_fails_when_the_payload_is_lost(runner: CliRunner, tmp_path: Path) -> None:
    flat = tmp_path / "flat.png"
    save_image(np.full((256, 256, 3), 128, np.uint8), flat)
    result = runner.invoke(main, ["demo", "--out", str(tmp_path / "d"), "--image", str(flat), "--seed", "1"])
    assert result.exit_code == EXIT_ERROR
    assert "error: the payload was not recovered" in result.stderr and "256x256 is small" in result.stderr
    assert "Traceback" not in result.output


def test_synthetic_photo_is_deterministic_and_photo_like() -> None:
    a, b = synthetic_photo(64, 96, seed=3), synthetic_photo(64, 96, seed=3)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, synthetic_photo(64, 96, seed=4))
    assert 20 < a.std() < 90


@pytest.mark.slow
def test_console_script_and_python_m(tmp_path: Path, marked_png: Path, key_file: Path) -> None:
    script = Path(sys.executable).with_name("provenance")
    assert script.is_file(), "the console script is not installed; run pip install -e ."
    proc = subprocess.run(
        [str(script), "watermark", "detect", str(marked_png), "--key-file", str(key_file), "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["watermark"]["payload"] == PAYLOAD
    assert proc.stderr == ""

    proc = subprocess.run(
        [sys.executable, "-m", "provenance", "watermark", "detect", str(tmp_path / "nope.png"), "--key-file", key_file],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == EXIT_SOME_FAILED
    assert proc.stderr == f"error: {tmp_path / 'nope.png'}: no such file\n"
