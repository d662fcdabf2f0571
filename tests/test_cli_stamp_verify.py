"""Tests for ``provenance stamp`` and ``provenance verify``: real images, certificates and registry."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "verification-report.v1.json").read_text())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "instance"), "PROVENANCE_DATABASE_URL": ""}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def photo(shared_dir: Path) -> Path:
    return shared_dir / "samples" / "kodim03.png"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _clean_error(result, code: int = EXIT_ERROR) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_stamp_then_verify_json(runner: CliRunner, env: dict, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    stamped = runner.invoke(main, ["stamp", str(photo), str(out), "--generator", "cli-gen", "--requester", "bob", "--json"], env=env)
    assert stamped.exit_code == EXIT_OK, stamped.output
    (line,) = _lines(stamped.stdout)
    assert line["path"] == str(out) and line["stamp"]["mime"] == "image/jpeg" and out.is_file()

    checked = runner.invoke(main, ["verify", str(out), "--json"], env=env)
    assert checked.exit_code == EXIT_OK, checked.output
    (record,) = _lines(checked.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(record["report"])
    report = record["report"]
    assert report["verdict"]["code"] == "ai_generated_trusted"
    assert report["watermark"]["stamp_id"] == line["stamp"]["stamp_id"] == report["registry"]["record"]["stamp_id"]


def test_verify_folder_text_output_and_partial_failure(
    runner: CliRunner, env: dict, photo: Path, tmp_path: Path, shared_dir: Path
) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    assert runner.invoke(main, ["stamp", str(photo), str(folder / "a.png"), "--generator", "g"], env=env).exit_code == 0
    (folder / "b.jpg").write_bytes((shared_dir / "c2pa-fixtures" / "pub_adobe-20220124-A.jpg").read_bytes())
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)  # corrupt
    (folder / "notes.txt").write_text("ignored: not media")

    result = runner.invoke(main, ["verify", str(folder), "--progress"], env=env)
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert f"{folder / 'a.png'}: AI-generated: signed by" in result.stdout
    assert f"{folder / 'b.jpg'}: No provenance signals found" in result.stdout
    assert "  - " in result.stdout  # reasons, indented
    assert f"error: {folder / 'c.png'}: " in result.stderr and "truncated or corrupt" in result.stderr
    assert "/3 [" in result.stderr  # the progress bar, on stderr

    as_json = runner.invoke(main, ["verify", str(folder), "--json", "--no-progress"], env=env)
    lines = _lines(as_json.stdout)
    assert [Path(x["path"]).name for x in lines] == ["a.png", "b.jpg", "c.png"]
    assert "error" in lines[2] and lines[1]["report"]["verdict"]["code"] == "no_signals"


def test_verify_one_bad_file_is_exit_1(runner: CliRunner, env: dict, tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    result = runner.invoke(main, ["verify", str(bad)], env=env)
    assert result.exit_code == EXIT_ERROR and "not a file type provenance can check" in result.stderr
    line = _clean_error(runner.invoke(main, ["verify", str(tmp_path / "none.png")], env=env))
    assert line == f"error: {tmp_path / 'none.png'}: no such file."


def test_stamp_errors_are_one_line_and_leave_no_file(runner: CliRunner, env: dict, photo: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(photo.read_bytes()[:5000])
    cases = [
        ([str(corrupt), str(tmp_path / "o1.png")], env, "corrupt or truncated"),
        ([str(photo), str(tmp_path / "o2.xyz")], env, "output format"),
        ([str(photo), str(tmp_path / "o3.png")], {**env, "PROVENANCE_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"},
         "PROVENANCE_DATABASE_URL"),
        ([str(photo), str(tmp_path / "o4.png")], {**env, "PROVENANCE_SIGNING_CERT": str(tmp_path / "c.pem"),
                                                   "PROVENANCE_SIGNING_KEY": str(tmp_path / "k.pem")}, "does not exist"),
    ]
    for args, environ, message in cases:
        line = _clean_error(runner.invoke(main, ["stamp", *args, "--generator", "g"], env=environ))
        assert message in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("o")) == []
    missing = runner.invoke(main, ["stamp", str(photo), str(tmp_path / "o.png")], env=env)
    assert missing.exit_code == EXIT_USAGE and "--generator" in missing.output
