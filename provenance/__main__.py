"""``python -m provenance``: the same as the ``provenance`` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="provenance")
