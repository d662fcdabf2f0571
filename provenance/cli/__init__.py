"""The ``provenance`` command line (installed as a console script; also ``python -m provenance``).

Each area is a click command or group in its own module here, registered on
:data:`main` below. Library code stays in :mod:`provenance`; these modules only
parse arguments, call it and print. Exit codes are in :mod:`.common`.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from .. import __version__
from .common import EXIT_CODES_HELP, EXIT_USAGE
from .demo import demo_command
from .watermark import watermark_group

__all__ = ["main"]


class _Group(click.Group):
    """A click group whose usage errors exit with :data:`~.common.EXIT_USAGE`, not click's 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


@click.group(cls=_Group, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="provenance")
@click.option("-v", "--verbose", count=True, help="Log more to stderr: -v for progress notes, -vv for debugging.")
def main(verbose: int) -> None:
    """Watermark AI-generated images, sign and read their Content Credentials, verify uploads.

    Start with `provenance demo`; `provenance COMMAND --help` explains each command.
    """
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    # No-op when the root logger already has handlers (an embedding app, pytest).
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("provenance").setLevel(level)


main.add_command(watermark_group)
main.add_command(demo_command)

# --- Commands added by other modules: one main.add_command(...) line each. -------------
from .stamp import stamp_command  # noqa: E402
main.add_command(stamp_command)
from .verify import verify_command  # noqa: E402
main.add_command(verify_command)
from .hashing import hash_command, match_command  # noqa: E402
main.add_command(hash_command)
main.add_command(match_command)
from .banks import bank_group  # noqa: E402
main.add_command(bank_group)
from .report import report_command  # noqa: E402
main.add_command(report_command)
from .tokens import tokens_group  # noqa: E402
main.add_command(tokens_group)
from .cases import cases_group  # noqa: E402
main.add_command(cases_group)
from .batch import batch_group  # noqa: E402
main.add_command(batch_group)
# --- end of added commands -----------------------------------------------------------------
