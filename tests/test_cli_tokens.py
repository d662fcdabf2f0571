"""Tests for ``provenance tokens create|list|revoke`` against a real SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from provenance.cli import main
from provenance.registry import Registry
from provenance.settings import Settings
from provenance.tokens import TokenStore


def test_create_list_revoke(tmp_path: Path) -> None:
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst")}
    runner = CliRunner()
    made = runner.invoke(main, ["tokens", "create", "--role", "stamp", "--label", "svc"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("prov_") and "shown only now" in made.stderr
    with Registry.open(Settings.from_env(env)) as registry:
        info = TokenStore(registry).authenticate(token)
    assert info is not None and info.role == "stamp" and info.label == "svc"

    listed = runner.invoke(main, ["tokens", "list", "--json"], env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["token_id"], r["role"], r["active"]) for r in rows] == [(info.token_id, "stamp", True)]
    assert token not in listed.output

    revoked = runner.invoke(main, ["tokens", "revoke", info.token_id], env=env)
    assert revoked.exit_code == 0 and f"token {info.token_id} revoked" in revoked.output
    assert info.token_id in runner.invoke(main, ["tokens", "list"], env=env).stdout
    assert runner.invoke(main, ["tokens", "list", "--active"], env=env).stdout == ""


def test_errors(tmp_path: Path) -> None:
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst")}
    runner = CliRunner()
    bad_role = runner.invoke(main, ["tokens", "create", "--role", "root"], env=env)
    assert bad_role.exit_code == 64 and "root" in bad_role.output
    missing = runner.invoke(main, ["tokens", "revoke", "0000abcd"], env=env)
    assert missing.exit_code == 1 and "error: No token has the ID 0000abcd" in missing.stderr


def test_create_a_match_token(tmp_path: Path) -> None:
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "inst")}
    runner = CliRunner()
    made = runner.invoke(main, ["tokens", "create", "--role", "match", "--label", "reviewers", "--json"], env=env)
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["role"] == "match"
    assert "match: hash-bank results" in runner.invoke(main, ["tokens", "create", "--help"], env=env).stdout
