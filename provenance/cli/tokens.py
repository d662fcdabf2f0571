"""``provenance tokens create|list|revoke``: bearer tokens for the web API."""

from __future__ import annotations

import click

from ..registry import Registry
from ..settings import Settings
from ..tokens import TOKEN_ROLES, TokenStore
from .common import echo_json, json_option, reports_errors

__all__ = ["tokens_group"]


@click.group("tokens")
def tokens_group() -> None:
    """Create, list and revoke API tokens (stored hashed in the registry).

    A `match` token may see hash-bank results (POST /api/v1/match, the full report of
    POST /api/v1/verify); a `stamp` token may stamp images through POST /api/v1/stamp and read
    the stamps it made; an `admin` token may do both, read any stamp and manage the hash banks.
    `match` and `stamp` do not include each other. The registry is the one PROVENANCE_DATABASE_URL
    (or the instance folder) names.
    """


@tokens_group.command("create")
@click.option("--role", type=click.Choice(TOKEN_ROLES), required=True, help="match: hash-bank results; stamp: stamp images; resolve: the soft-binding resolution API; admin: everything, including bank management.")
@click.option("--label", help="Who or what the token is for, e.g. 'image service'.")
@json_option
@reports_errors
def create_command(role: str, label: str | None, as_json: bool) -> None:
    """Make a token and print it once (only its SHA-256 is kept)."""
    with Registry.open(Settings.from_env()) as registry:
        issued = TokenStore(registry).create(role, label=label)
    if as_json:
        echo_json({"token": issued.token, **issued.info.to_dict()})
        return
    click.echo(issued.token)
    click.echo(
        f"token {issued.info.token_id} ({role}) created; it is shown only now: keep it secret. "
        f"Revoke with: provenance tokens revoke {issued.info.token_id}",
        err=True,
    )


@tokens_group.command("list")
@click.option("--active", "active_only", is_flag=True, help="Leave out revoked tokens.")
@json_option
@reports_errors
def list_command(active_only: bool, as_json: bool) -> None:
    """List tokens: ID, role, label, created, revoked (never the tokens themselves)."""
    with Registry.open(Settings.from_env()) as registry:
        tokens = TokenStore(registry).list(include_revoked=not active_only)
    for token in tokens:
        if as_json:
            echo_json(token.to_dict())
        else:
            revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            click.echo(
                f"{token.token_id}  {token.role:<5}  {token.created_at:%Y-%m-%d %H:%M}  {revoked:<24}  {token.label or ''}".rstrip()
            )
    if not tokens and not as_json:
        click.echo("no tokens; make one with: provenance tokens create --role stamp", err=True)


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID")
@reports_errors
def revoke_command(token_id: str) -> None:
    """Revoke the token ID (as 'tokens list' shows it); it stops working at once."""
    with Registry.open(Settings.from_env()) as registry:
        token = TokenStore(registry).revoke(token_id)
    click.echo(f"token {token.token_id} revoked")
