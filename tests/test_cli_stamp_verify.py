"""Tests for ``provenance stamp`` and ``provenance verify``: real images, certificates and registry."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from provenance.manifest import read_manifest
from provenance.registry import Registry

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
    assert report["watermark"]["search"] == "full"

    quick = runner.invoke(main, ["verify", str(out), "--json", "--search", "quick"], env=env)
    assert quick.exit_code == EXIT_OK, quick.output
    assert _lines(quick.stdout)[0]["report"]["watermark"]["search"] == "quick"
    bad = runner.invoke(main, ["verify", str(out), "--search", "fast"], env=env)
    assert bad.exit_code == EXIT_USAGE and "'fast' is not one of 'full', 'crops', 'quick'" in bad.stderr


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


def test_stamp_prompt_hash_reaches_registry_and_manifest(runner: CliRunner, env: dict, photo: Path, tmp_path: Path) -> None:
    prompt_hash = hashlib.sha256(b"a lighthouse at dusk").hexdigest()
    out = tmp_path / "out.webp"
    result = runner.invoke(main, ["stamp", str(photo), str(out), "--generator", "g", "--prompt-hash", prompt_hash, "--json"],
                           env=env)
    assert result.exit_code == EXIT_OK, result.output
    stamp_id = _lines(result.stdout)[0]["stamp"]["stamp_id"]
    registry = Registry(f"sqlite:///{tmp_path / 'instance' / 'provenance.sqlite'}")
    try:
        record = registry.get_stamp(stamp_id)
    finally:
        registry.close()
    assert record.prompt_hash == prompt_hash
    assert prompt_hash in read_manifest(out.read_bytes()).manifest_json  # the generation assertion

    bad = runner.invoke(main, ["stamp", str(photo), str(tmp_path / "bad.png"), "--generator", "g",
                               "--prompt-hash", "a lighthouse at dusk"], env=env)
    assert "SHA-256 of the prompt" in _clean_error(bad) and not (tmp_path / "bad.png").exists()


def test_verify_folder_json_with_progress_bar(runner: CliRunner, env: dict, photo: Path, tmp_path: Path, shared_dir: Path) -> None:
    folder = tmp_path / "many"
    (folder / "sub").mkdir(parents=True)
    assert runner.invoke(main, ["stamp", str(photo), str(folder / "a.jpg"), "--generator", "g"], env=env).exit_code == 0
    for name in ("rs_C.jpg", "py_pdf-file.pdf", "rs_test.webp"):
        (folder / "sub" / name).write_bytes((shared_dir / "c2pa-fixtures" / name).read_bytes())
    result = runner.invoke(main, ["verify", str(folder), "--json", "--progress"], env=env)
    assert result.exit_code == EXIT_OK, result.output
    lines = _lines(result.stdout)  # stdout holds only JSON, one line per file
    assert len(result.stdout.strip().splitlines()) == len(lines) == 4
    assert {Path(x["path"]).name for x in lines} == {"a.jpg", "rs_C.jpg", "py_pdf-file.pdf", "rs_test.webp"}
    for line in lines:
        jsonschema.Draft202012Validator(SCHEMA).validate(line["report"])
    # The labelled bar, on stderr, with the file count as its total (tqdm may skip the final 4/4 redraw).
    assert "verify" in result.stderr and "/4 [" in result.stderr


def test_verify_unreachable_registry_and_offline_mode(runner: CliRunner, env: dict, photo: Path, tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(photo.read_bytes())
    down = {**env, "PROVENANCE_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}
    line = _clean_error(runner.invoke(main, ["verify", str(target)], env=down))
    assert "PROVENANCE_DATABASE_URL" in line and "secret" not in line and "--offline-registry" in line
    offline = runner.invoke(main, ["verify", str(target), "--offline-registry", "--json"], env=down)
    assert offline.exit_code == EXIT_OK, offline.output
    assert _lines(offline.stdout)[0]["report"]["registry"]["status"] == "not_configured"


def _documented_exit_codes() -> dict[int, tuple[str, str]]:
    """The exit-code table of docs/verify.md: code -> (stamp cell, verify cell)."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "verify.md").read_text(encoding="utf-8")
    section = docs.split("| exit code | `stamp` | `verify` |", 1)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        code, stamp, verify = (c.strip() for c in line.strip().strip("|").split("|"))
        rows[int(code)] = (stamp, verify)
    return rows


def test_exit_codes_are_documented_in_help_and_docs(runner: CliRunner) -> None:
    documented = _documented_exit_codes()
    assert set(documented) == {EXIT_OK, EXIT_ERROR, EXIT_SOME_FAILED, EXIT_USAGE}
    stamp_help = runner.invoke(main, ["stamp", "--help"]).stdout
    verify_help = runner.invoke(main, ["verify", "--help"]).stdout
    assert "Exit codes:" in stamp_help and "Exit codes:" in verify_help
    for code, (stamp, verify) in documented.items():
        in_stamp = re.search(rf"^\s+{code}\s+\S", stamp_help, re.MULTILINE) is not None
        assert in_stamp == (stamp != "—"), (code, stamp)
        assert re.search(rf"^\s+{code}\s+\S", verify_help, re.MULTILINE), (code, verify)
