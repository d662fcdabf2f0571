"""Pieces every ``provenance`` command shares.

* Exit codes (:data:`EXIT_OK`, :data:`EXIT_ERROR`, :data:`EXIT_SOME_FAILED`,
  :data:`EXIT_USAGE`) and :data:`EXIT_CODES_HELP`, the text that documents them.
* :func:`reports_errors`: turns a :class:`~provenance.errors.ProvenanceError` or an
  ``OSError`` into one line ``error: <message>`` on stderr, never a traceback.
* :func:`expand_paths`: FILE arguments that may be folders.
* :class:`FileProgress`: a progress bar on stderr for runs over many files,
  with line output that does not tear it; stdout stays clean for ``--json``.
* :func:`echo_json`: one JSON object per line (JSON Lines).
* :func:`key_options` and :func:`load_keys`: where the watermark key comes from.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import click
import numpy as np
from tqdm import tqdm

from ..errors import ConfigError, InvalidInputError, ProvenanceError
from ..images import read_source
from ..keys import MIN_KEY_BYTES, WatermarkKey, load_keyring, parse_key_file
from ..settings import Settings

__all__ = [
    "echo_file_error",
    "file_error_message",
    "for_each_file",
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "EXIT_CODES_HELP",
    "KEY_FILE_ENV",
    "IMAGE_SUFFIXES",
    "MEDIA_SUFFIXES",
    "CommandError",
    "describe_error",
    "reports_errors",
    "expand_paths",
    "FileProgress",
    "echo_json",
    "json_option",
    "progress_option",
    "key_options",
    "load_keys",
    "parse_payload_hex",
    "psnr_db",
]

logger = logging.getLogger(__name__)

#: Everything asked for was done (for ``detect``: every file was read; whether a
#: watermark was found is in the output, not the exit code).
EXIT_OK = 0
#: The command failed: a bad key, payload, image or setting (one ``error:`` line on stderr).
EXIT_ERROR = 1
#: Some of several files could not be processed; the others were (see their lines).
EXIT_SOME_FAILED = 2
#: The command line itself is wrong (unknown option, missing argument). 64 is
#: ``EX_USAGE`` from sysexits.h; click's own default (2) would collide with
#: :data:`EXIT_SOME_FAILED`.
EXIT_USAGE = 64

#: Epilog text for ``--help``. ``\b`` keeps click from re-wrapping the lines.
EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_OK}   success (every file was processed)
  {EXIT_ERROR}   error: bad key, payload, image or settings ("error: ..." on stderr)
  {EXIT_SOME_FAILED}   some files could not be processed; the others were
  {EXIT_USAGE}  usage error: unknown option, missing argument
"""

#: Environment variable naming the key file, as ``--key-file`` would.
KEY_FILE_ENV = "PROVENANCE_WATERMARK_KEY_FILE"

#: Suffixes picked up from folders by commands that read images.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif", ".heic", ".heif"}
)
#: Suffixes picked up from folders by commands that read any media (C2PA manifests).
MEDIA_SUFFIXES = IMAGE_SUFFIXES | frozenset(
    {".dng", ".svg", ".pdf", ".mp4", ".mov", ".m4a", ".mp3", ".wav", ".avi"}
)

_HEX_LINE = re.compile(r"(?:0x)?((?:[0-9a-fA-F]{2})+)")
_KEY_FILE_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\s*:\s*[0-9a-fA-F]+")

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A command failed for a reason the user can fix; shown as ``error: <message>``."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:  # noqa: D102 (click API)
        click.echo(f"error: {self.format_message()}", err=True)


def describe_error(exc: BaseException) -> str:
    """One line describing `exc` for the user, without a traceback.

    ``OSError`` gives ``<file>: <reason>``; everything else its message.
    """
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def reports_errors(func: F) -> F:
    """Decorate a click callback: `ProvenanceError` and `OSError` become :class:`CommandError`.

    Put it below the click decorators (so that it wraps the plain function).
    ``BrokenPipeError`` (output piped into ``head``) is left to click.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            raise
        except (ProvenanceError, OSError) as exc:
            logger.debug("command failed", exc_info=True)
            raise CommandError(describe_error(exc)) from exc

    return wrapper  # type: ignore[return-value]


def expand_paths(paths: Iterable[str | os.PathLike], *, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Expand FILE arguments: folders become the files under them.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders, as given on the command line.
    suffixes : frozenset of str
        Lower-case suffixes (with the dot) of files to take from folders.

    Returns
    -------
    list of Path
        Files named directly, in the order given (whatever their suffix, and
        whether or not they exist, so that the command can report them), and,
        in place of each folder, its files with a matching suffix, recursively,
        sorted. Hidden files and folders (``.name``) inside folders are skipped.
        A path given twice is listed once.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix.lower() in suffixes
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found = [path]
        for p in found:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


class FileProgress:
    """Iterate over files, with a tqdm bar on stderr when it helps.

    The bar is shown when there is more than one file and either stderr is a
    terminal or ``enabled=True`` forces it; ``enabled=False`` hides it. It is
    always on stderr, so stdout (human lines or JSON Lines) is never touched.
    Write lines through :meth:`echo` so they do not tear the bar.

    Parameters
    ----------
    paths : sequence of Path
    enabled : bool or None
        None decides automatically (see above).
    desc : str
        Label before the bar.
    """

    def __init__(self, paths: Sequence[Path], *, enabled: bool | None = None, desc: str = "files") -> None:
        self.paths = list(paths)
        self.desc = desc
        if enabled is None:
            enabled = _isatty(sys.stderr)
        self.active = bool(enabled) and len(self.paths) > 1
        self._bar: tqdm | None = None

    def __enter__(self) -> "FileProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Path]:
        if not self.active:
            yield from self.paths
            return
        self._bar = tqdm(self.paths, desc=self.desc, file=sys.stderr, unit="file", leave=False, dynamic_ncols=True)
        try:
            yield from self._bar
        finally:
            self.close()

    def echo(self, line: str, *, err: bool = False) -> None:
        """Write one line to stdout (or stderr), clearing the bar around it."""
        if self._bar is not None:
            self._bar.clear()
        click.echo(line, err=err)
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        """Remove the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def echo_json(obj: dict, *, progress: FileProgress | None = None) -> None:
    """Write `obj` as one line of JSON to stdout (JSON Lines)."""
    line = json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
    if progress is not None:
        progress.echo(line)
    else:
        click.echo(line)


def file_error_message(path: Path, exc: Exception) -> str:
    """The one-line error of one file among several, without repeating its path.

    A :class:`~provenance.errors.ProvenanceError` or ``OSError`` gives its message; anything else
    is a bug: it is logged with its traceback and called an unexpected error, so that one file
    never stops the others or leaves them without their line.
    """
    if isinstance(exc, (ProvenanceError, OSError)):
        logger.debug("%s failed", path, exc_info=exc)
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else describe_error(exc)
        return message.removeprefix(f"{path}: ")
    logger.error("%s failed unexpectedly", path, exc_info=exc)
    return f"unexpected error ({type(exc).__name__}: {describe_error(exc)}); please report it"


def for_each_file(
    files: Sequence[Path], one: Callable[[Path, FileProgress], None], *, desc: str, progress: bool | None,
    as_json: bool,
) -> int:
    """Run ``one(path, bar)`` on each file under a :class:`FileProgress`; return how many failed.

    A file whose `one` raises gets its error line (:func:`echo_file_error`) and the run goes on
    with the next file, whatever the error; only a broken output pipe stops it.
    """
    failed = 0
    with FileProgress(files, enabled=progress, desc=desc) as bar:
        for path in bar:
            try:
                one(path, bar)
            except BrokenPipeError:
                raise
            except Exception as exc:  # noqa: BLE001 - one line per file, whatever happens to one file
                failed += 1
                echo_file_error(path, file_error_message(path, exc), as_json=as_json, progress=bar)
    return failed


def echo_file_error(path: Path, message: str, *, as_json: bool, progress: FileProgress) -> None:
    """Report that one file of many failed: a JSON line, or ``error: PATH: MESSAGE`` on stderr."""
    if as_json:
        echo_json({"path": str(path), "error": message}, progress=progress)
    else:
        progress.echo(f"error: {path}: {message}", err=True)


def json_option(func: F) -> F:
    """Add ``--json``: one JSON object per file, one per line."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Write one JSON object per file, one per line (JSON Lines), instead of text.",
    )(func)


def progress_option(func: F) -> F:
    """Add ``--progress/--no-progress``."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Show a progress bar on stderr for many files (default: only when stderr is a terminal).",
    )(func)


def key_options(func: F) -> F:
    """Add ``--key-file`` (or ``$PROVENANCE_WATERMARK_KEY_FILE``) and ``--key-hex``."""
    func = click.option(
        "--key-hex",
        metavar="HEX",
        help=f"The watermark key as hex (at least {MIN_KEY_BYTES} bytes). Visible to other users in the "
        "process list: prefer --key-file.",
    )(func)
    func = click.option(
        "--key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"[env var: {KEY_FILE_ENV}] File holding the watermark key: one hex line, or 'key_id:hex' lines "
        "(a PROVENANCE_WATERMARK_KEYS file; the first key embeds, all are tried when detecting), "
        "or else the raw bytes of the file, exactly as stored. Without a key option, "
        "the key file named by PROVENANCE_WATERMARK_KEYS is used.",
    )(func)
    return func


def load_keys(key_file: Path | None, key_hex: str | None) -> tuple[WatermarkKey, ...]:
    """Return the watermark keys the command line names.

    Parameters
    ----------
    key_file : Path or None
        ``--key-file``: a hex line, ``key_id:hex`` lines (see :mod:`provenance.keys`),
        or else raw bytes, used exactly as stored.
    key_hex : str or None
        ``--key-hex``. Cannot be combined with `key_file`.

    Returns
    -------
    tuple of WatermarkKey
        The first is used to embed; all are tried to detect. Keys given as a hex
        line, raw bytes or ``--key-hex`` get the ID ``"key-file"`` or ``"key-hex"``.
        With neither option, the keys of ``PROVENANCE_WATERMARK_KEYS``.

    Raises
    ------
    ConfigError
        If the key file is missing, unreadable or empty, a key is shorter than
        :data:`~provenance.keys.MIN_KEY_BYTES` bytes, both options are given, or no key is configured.
    """
    if key_file is not None and key_hex is not None:
        raise ConfigError("Give either --key-file or --key-hex, not both.")
    if key_hex is not None:
        match = _HEX_LINE.fullmatch(key_hex.strip())
        if match is None:
            raise ConfigError("--key-hex must be an even number of hex digits (0-9, a-f).")
        return (_checked_key("key-hex", bytes.fromhex(match.group(1)), "--key-hex"),)
    settings = Settings.from_env()
    if key_file is None and key_hex is None:
        key_file = settings.watermark_key_file  # $PROVENANCE_WATERMARK_KEY_FILE
    if key_file is not None:
        return _read_key_file(key_file)
    if settings.watermark_keys_path is None:
        raise ConfigError(
            "No watermark key: pass --key-file FILE (or set PROVENANCE_WATERMARK_KEY_FILE or "
            "PROVENANCE_WATERMARK_KEYS). Make a key with: "
            "python -c \"import secrets; print(secrets.token_hex(32))\" > watermark.key"
        )
    return load_keyring(settings).keys


def _read_key_file(path: Path) -> tuple[WatermarkKey, ...]:
    if not path.exists():
        raise ConfigError(f"Key file {path} does not exist; check --key-file or ${KEY_FILE_ENV}.")
    try:
        data = read_source(path).data
    except InvalidInputError as exc:
        raise ConfigError(f"Cannot use the key file: {exc}") from exc
    if not data.strip():
        raise ConfigError(
            f"Key file {path} is empty; put a key in it, e.g. "
            f"python -c \"import secrets; print(secrets.token_hex(32))\" > {path}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
        if len(lines) == 1 and (match := _HEX_LINE.fullmatch(lines[0])):
            return (_checked_key("key-file", bytes.fromhex(match.group(1)), str(path)),)
        if lines and _KEY_FILE_LINE.fullmatch(lines[0]):
            return parse_key_file(text, where=str(path))
    logger.info("using the %d raw bytes of %s as the watermark key", len(data), path)
    return (_checked_key("key-file", data, str(path)),)


def _checked_key(key_id: str, secret: bytes, where: str) -> WatermarkKey:
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(
            f"The watermark key from {where} is {len(secret)} bytes; use at least {MIN_KEY_BYTES} random bytes, "
            "e.g. python -c \"import secrets; print(secrets.token_hex(32))\"."
        )
    return WatermarkKey(key_id, secret)


def parse_payload_hex(text: str, *, max_bytes: int) -> bytes:
    """Decode a ``--payload`` hex string (``0x`` prefix allowed) of 1 to `max_bytes` bytes.

    Raises
    ------
    InvalidInputError
        If it is not an even number of hex digits, or too long.
    """
    match = _HEX_LINE.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(
            f"--payload must be hex, 2 digits per byte (e.g. 0123456789abcdef); got {text!r}."
        )
    payload = bytes.fromhex(match.group(1))
    if len(payload) > max_bytes:
        raise InvalidInputError(
            f"--payload is {len(payload)} bytes; the watermark carries at most {max_bytes} bytes "
            f"({2 * max_bytes} hex digits)."
        )
    return payload


def psnr_db(original: np.ndarray, changed: np.ndarray) -> float:
    """Peak signal-to-noise ratio of `changed` against `original` over the colour channels, in dB.

    Parameters
    ----------
    original, changed : (H, W[, C]) uint8 ndarray
        Same shape. An alpha channel (C = 4) is ignored.

    Returns
    -------
    float
        ``inf`` when they are identical.
    """
    a = original[..., :3] if original.ndim == 3 else original
    b = changed[..., :3] if changed.ndim == 3 else changed
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
