"""``provenance report --since DATE``: transparency counts per day from the audit log."""

from __future__ import annotations

import json

import click

from ..registry import Registry
from ..settings import Settings
from ..cases import case_figures
from ..transparency import parse_since, transparency_report
from .common import reports_errors

__all__ = ["report_command"]


@click.command("report")
@click.option("--since", required=True, metavar="DATE", help="First day, e.g. 2024-05-01 (UTC).")
@click.option("--until", metavar="DATE", help="End, exclusive (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Write one JSON object instead of a table.")
@reports_errors
def report_command(since: str, until: str | None, as_json: bool) -> None:
    """Stamps per generator, verifications, verdicts and hash-bank matches per label, per day.

    Counts only, from the audit log: no hashes, IDs or personal data.
    """
    with Registry.open(Settings.from_env()) as registry:
        report = transparency_report(registry, parse_since(since), None if until is None else parse_since(until))
        cases = case_figures(registry, since=report.since, until=report.until).to_dict()
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "cases": cases}, ensure_ascii=False))
        return
    click.echo(f"{'day':<10}  {'stamps':>6}  {'verified':>8}  {'checks':>6}  details")
    rows = [d.to_dict() for d in report.days] + [{**report.totals().to_dict(), "day": "total"}]
    for row in rows:
        parts = [f"{k}={v}" for k, v in row["stamps"].items()] + [f"{k}={v}" for k, v in row["verdicts"].items()]
        parts += [f"bank:{k}={v}" for k, v in row["bank_matches"].items()]
        click.echo(f"{row['day']:<10}  {row['stamp_count']:>6}  {row['verifications']:>8}  {row['bank_checks']:>6}  "
                   + " ".join(parts))
    pct = "-" if cases["decided_within_48h_pct"] is None else f"{cases['decided_within_48h_pct']}%"
    click.echo(f"removal cases: received={cases['received']} decided={cases['decided']} within_48h={pct} "
               f"median_h={cases['median_hours_to_decision']} p95_h={cases['p95_hours_to_decision']} "
               f"overdue={cases['overdue']} open={cases['open']}")
    for d in cases["per_day"]:
        click.echo(f"  {d['day']}  received={d['received']} decided={d['decided']} within_48h={d['within_48h']} "
                   f"overdue={d['overdue']}")
