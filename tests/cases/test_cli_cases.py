"""``provenance cases list|show|decide|sweep|index`` against a real SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from provenance.cases import CaseStore
from provenance.cli import main
from provenance.registry import Registry
from provenance.settings import Settings

from case_helpers import make_request


def test_list_show_decide_index(tmp_path: Path) -> None:
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst")}
    with Registry.open(Settings.from_env(env)) as registry:
        case_id = CaseStore(registry).receive(make_request()).case.case_id
    runner = CliRunner()
    listed = runner.invoke(main, ["cases", "list"], env=env)
    assert listed.exit_code == 0 and case_id in listed.stdout and "received" in listed.stdout
    shown = runner.invoke(main, ["cases", "show", case_id, "--json"], env=env)
    assert json.loads(shown.stdout)["locations"] == ["https://platform.example/p/123"]

    bad = runner.invoke(main, ["cases", "decide", case_id, "removed"], env=env)
    assert bad.exit_code != 0 and "what was removed" in bad.output
    done = runner.invoke(main, ["cases", "decide", case_id, "removed", "--note", "post 123", "--actor", "ops"], env=env)
    assert done.exit_code == 0 and "is now removed" in done.stdout
    again = runner.invoke(main, ["cases", "decide", case_id, "rejected", "--note", "no"], env=env)
    assert again.exit_code != 0 and "cannot become rejected" in again.output
    assert case_id not in runner.invoke(main, ["cases", "list"], env=env).stdout

    csv_text = "content_id,pdq,quality,md5,sha256\nupload-1,,,{},\nupload-2,{},90,,\n".format("a" * 32, "0" * 64)
    indexed = runner.invoke(main, ["cases", "index", "-"], input=csv_text, env=env)
    assert indexed.exit_code == 0, indexed.output
    assert "indexed 2 row(s); 1 alert(s)" in indexed.stdout and f"ALERT {case_id}: upload-1 (md5 0)" in indexed.stdout

    broken = runner.invoke(main, ["cases", "index", "-"], input="content_id,pdq\nx,zz\n", env=env)
    assert broken.exit_code != 0 and "line 2" in broken.output and "Nothing was imported" in broken.output
    assert json.loads(runner.invoke(main, ["cases", "show", case_id, "--json"], env=env).stdout)["matches"][0]["alert"]
