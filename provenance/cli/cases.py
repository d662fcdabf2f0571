"""``provenance cases list|show|decide|sweep|tick|index``: Take It Down removal cases."""

from __future__ import annotations

import csv
import sys

import click

from ..cases import ContentIndex, check_content_row, index_content, open_case_store, sweep_case
from ..cases.records import CASE_STATES
from ..errors import HashListError, InvalidInputError
from ..registry import Registry
from ..settings import Settings
from .common import echo_json, json_option, reports_errors

__all__ = ["cases_group"]


@click.group("cases")
def cases_group() -> None:
    """Removal requests (TAKE IT DOWN Act): list, show, decide, sweep for copies.

    Cases arrive through /report and POST /api/v1/cases; each must be decided within
    PROVENANCE_CASE_DEADLINE_HOURS (48) of receipt. See docs/cases.md.
    """


@cases_group.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(CASE_STATES), help="Only these states (repeatable).")
@json_option
@reports_errors
def list_command(states: tuple[str, ...], as_json: bool) -> None:
    """List cases, soonest deadline first (open cases by default)."""
    with Registry.open(Settings.from_env()) as registry:
        store = open_case_store(registry, Settings.from_env())
        store.flag_overdue()
        found = store.list(states=states or ("received", "in_review"))
    for case in found:
        if as_json:
            echo_json({k: v for k, v in case.to_dict().items() if k not in ("contact", "events", "matches")})
        else:
            flag = "OVERDUE" if case.overdue_at else ""
            click.echo(f"{case.case_id}  {case.state:<9}  due {case.deadline_at:%Y-%m-%d %H:%M}Z  "
                       f"{len(case.locations)} location(s)  {flag}".rstrip())
    if not found and not as_json:
        click.echo("no cases", err=True)


@cases_group.command("show")
@click.argument("case_id", metavar="CASE")
@json_option
@reports_errors
def show_command(case_id: str, as_json: bool) -> None:
    """Show one case: locations, hashes, audit events, sweep results."""
    with Registry.open(Settings.from_env()) as registry:
        case = open_case_store(registry, Settings.from_env()).get(case_id)
    if as_json:
        echo_json(case.to_dict())
        return
    click.echo(f"{case.case_id}  {case.state}  received {case.received_at:%Y-%m-%d %H:%M}Z  "
               f"due {case.deadline_at:%Y-%m-%d %H:%M}Z{'  OVERDUE' if case.overdue_at else ''}")
    for url in case.locations:
        click.echo(f"  location  {url}")
    click.echo(f"  description  {case.description}")
    for h in case.hashes:
        click.echo(f"  {h.kind:<6} {h.value}" + (f"  q{h.quality}" if h.quality is not None else ""))
    for e in case.events:
        click.echo(f"  {e.occurred_at:%Y-%m-%d %H:%M:%S}Z  {e.actor}: {e.from_state or '-'} -> {e.to_state}"
                   + (f"  ({e.detail})" if e.detail else ""))
    for m in case.matches:
        click.echo(f"  match  {m.content_id}  {m.kind} {m.distance}" + ("  ALERT" if m.alert else ""))


@cases_group.command("decide")
@click.argument("case_id", metavar="CASE")
@click.argument("decision", type=click.Choice(("in_review", "removed", "rejected", "withdrawn")))
@click.option("--note", help="removed: what was removed; rejected: the reason (shown to the requester).")
@click.option("--actor", default="cli", show_default=True, help="Who decides (kept in the audit events).")
@reports_errors
def decide_command(case_id: str, decision: str, note: str | None, actor: str) -> None:
    """Move a case on: in_review, removed --note WHAT, rejected --note REASON, withdrawn."""
    with Registry.open(Settings.from_env()) as registry:
        case = open_case_store(registry, Settings.from_env()).decide(case_id, decision, actor=actor, note=note)
    click.echo(f"{case.case_id} is now {case.state}")


@cases_group.command("sweep")
@click.argument("case_id", metavar="CASE")
@reports_errors
def sweep_command(case_id: str) -> None:
    """Search the content index for copies of a case's pictures; attach what is found."""
    settings = Settings.from_env()
    with Registry.open(settings) as registry:
        new = sweep_case(open_case_store(registry, settings), ContentIndex(registry), case_id)
    click.echo(f"{len(new)} new match(es)")


@cases_group.command("tick")
@reports_errors
def tick_command() -> None:
    """Flag overdue cases (once each) and purge contact details past their retention."""
    settings = Settings.from_env()
    with Registry.open(settings) as registry:
        store = open_case_store(registry, settings)
        flagged, purged = store.flag_overdue(), store.purge_contacts()
    click.echo(f"{len(flagged)} newly overdue, {purged} contact(s) purged")


@cases_group.command("index")
@click.argument("csv_file", type=click.File("r"), default="-")
@reports_errors
def index_command(csv_file) -> None:
    """Import content hashes (CSV: content_id,pdq,quality,md5,sha256), all or nothing; alert on matches."""
    reader = csv.DictReader(csv_file)
    rows = []
    try:
        for n, rec in enumerate(reader, start=2):
            rows.append(check_content_row(rec.get("content_id"), pdq=rec.get("pdq"), quality=rec.get("quality"),
                                          md5=rec.get("md5"), sha256=rec.get("sha256")))
    except InvalidInputError as exc:
        raise HashListError(f"line {n}: {exc} Nothing was imported.") from None
    settings = Settings.from_env()
    with Registry.open(settings) as registry:
        alerts = index_content(open_case_store(registry, settings), ContentIndex(registry), rows)
    click.echo(f"indexed {len(rows)} row(s); {len(alerts)} alert(s)")
    for case_id, m in alerts:
        click.echo(f"ALERT {case_id}: {m.content_id} ({m.kind} {m.distance})", file=sys.stdout)
