"""``provenance report --since DATE``: transparency counts per day from the audit log."""

from __future__ import annotations

import json

import click

from ..registry import Registry
from ..settings import Settings
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
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    click.echo(f"{'day':<10}  {'stamps':>6}  {'verified':>8}  {'checks':>6}  details")
    rows = [d.to_dict() for d in report.days] + [{**report.totals().to_dict(), "day": "total"}]
    for row in rows:
        parts = [f"{k}={v}" for k, v in row["stamps"].items()] + [f"{k}={v}" for k, v in row["verdicts"].items()]
        parts += [f"bank:{k}={v}" for k, v in row["bank_matches"].items()]
        click.echo(f"{row['day']:<10}  {row['stamp_count']:>6}  {row['verifications']:>8}  {row['bank_checks']:>6}  "
                   + " ".join(parts))
