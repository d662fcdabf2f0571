"""Watermark keys: a key file with one or more named keys, so keys can rotate.

The file named by ``PROVENANCE_WATERMARK_KEYS`` (:attr:`Settings.watermark_keys_path`)
holds one key a line, ``key_id:hex`` or ``key_id:scheme:hex``; blank lines and ``#``
comments are ignored::

    # provenance watermark keys; the first one stamps, all of them are tried at verify
    k2025:v2:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    k2024:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae

A key records the watermark scheme it stamps with (:data:`SCHEMES`; a line without one is
the current scheme, ``v2``). Scheme ``v1`` (the tile on the image's own pixel grid) is no
longer made or read: no installation used it in production.

The first key is the *active* one (used for stamping); every key is tried when
verifying, so images stamped before a rotation still verify. To rotate, put a new
line first and keep the old ones. Secrets are at least :data:`MIN_KEY_BYTES` bytes;
make one with ``python -c "import secrets; print(secrets.token_hex(32))"``.

With no key file configured, :func:`load_keyring` makes a development key file
``<instance>/dev-watermark.keys`` (one random 32-byte key ``dev-1``, mode 0600) on
first use and reuses it. It is created with an exclusive create-and-rename, so
several workers starting at once agree on one key.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import ConfigError
from .settings import Settings
from .watermark import SCHEME

__all__ = [
    "load_secret_file",
    "DEV_KEY_FILENAME",
    "DEV_KEY_ID",
    "MIN_KEY_BYTES",
    "SCHEMES",
    "WatermarkKey",
    "KeyRing",
    "load_keyring",
    "parse_key_file",
]

logger = logging.getLogger(__name__)

#: Name of the development key file in the instance folder.
DEV_KEY_FILENAME = "dev-watermark.keys"
#: ID of the development key.
DEV_KEY_ID = "dev-1"
#: Shortest secret accepted, in bytes (128 bits).
MIN_KEY_BYTES = 16
#: Length of a freshly made development secret, in bytes.
DEV_KEY_BYTES = 32
#: Watermark schemes a key may name; the first is the one new keys get.
SCHEMES = (SCHEME,)

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


@dataclass(frozen=True)
class WatermarkKey:
    """One named watermark key.

    Attributes
    ----------
    key_id : str
        A short name (letters, digits, ``.``, ``_``, ``-``; at most 64), stored with each stamp.
    secret : bytes
        The secret, at least :data:`MIN_KEY_BYTES` bytes. Not shown in ``repr``.
    scheme : str
        The watermark scheme stamped and looked for with this key (one of :data:`SCHEMES`).
    """

    key_id: str
    secret: bytes = field(repr=False)
    scheme: str = SCHEME


@dataclass(frozen=True)
class KeyRing:
    """An ordered, non-empty set of watermark keys.

    Attributes
    ----------
    keys : tuple of WatermarkKey
        The first is :attr:`active` (stamps); all are tried at verification.
    source : Path or None
        The key file they came from.
    is_development : bool
        True for the development key made on first use.
    """

    keys: tuple[WatermarkKey, ...]
    source: Path | None = None
    is_development: bool = False

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError("A key ring needs at least one watermark key.")
        ids = [k.key_id for k in self.keys]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(f"Watermark key IDs must be unique; {', '.join(dupes)} appears more than once.")

    @property
    def active(self) -> WatermarkKey:
        """The key new stamps are made with (the first one)."""
        return self.keys[0]

    def get(self, key_id: str) -> WatermarkKey | None:
        """Return the key with this ID, or None."""
        return next((k for k in self.keys if k.key_id == key_id), None)

    def __iter__(self) -> Iterator[WatermarkKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


def parse_key_file(text: str, *, where: str = "the watermark key file") -> tuple[WatermarkKey, ...]:
    """Parse key-file text: one ``key_id:hex`` or ``key_id:scheme:hex`` a line, ``#`` comments.

    Parameters
    ----------
    text : str
        The file's contents.
    where : str
        Named in error messages (e.g. the path).

    Returns
    -------
    tuple of WatermarkKey
        In file order.

    Raises
    ------
    ConfigError
        On a malformed line, a duplicate ID, a secret shorter than :data:`MIN_KEY_BYTES`
        bytes, a scheme other than :data:`SCHEMES`, or no key at all.
    """
    keys: list[WatermarkKey] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key_id, sep, rest = (part.strip() for part in line.partition(":"))
        scheme, sep2, hex_secret = (part.strip() for part in rest.partition(":"))
        if not sep2:
            scheme, hex_secret = SCHEMES[0], rest
        if not sep or not _KEY_ID.fullmatch(key_id) or not _HEX.fullmatch(hex_secret):
            raise ConfigError(
                f"Line {number} of {where} is not 'key_id:hex' or 'key_id:scheme:hex' (an ID of letters, digits, "
                "'.', '_' or '-', a colon, then the secret as an even number of hex digits). Fix or remove that line."
            )
        if scheme not in SCHEMES:
            raise ConfigError(
                f"Watermark key {key_id!r} in {where} (line {number}) names scheme {scheme!r}; this version stamps and "
                f"reads {', '.join(SCHEMES)} only. Write the line as '{key_id}:{SCHEMES[0]}:<hex>' (stamps made "
                "with another scheme must be made again)."
            )
        if key_id in seen:
            raise ConfigError(f"Watermark key ID {key_id!r} appears twice in {where} (line {number}); IDs must be unique.")
        secret = bytes.fromhex(hex_secret)
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigError(
                f"Watermark key {key_id!r} in {where} is {len(secret)} bytes; use at least {MIN_KEY_BYTES} random "
                "bytes, e.g. python -c \"import secrets; print(secrets.token_hex(32))\"."
            )
        seen.add(key_id)
        keys.append(WatermarkKey(key_id, secret, scheme))
    if not keys:
        raise ConfigError(f"{where} holds no key; add a line 'key_id:hex' (see docs/verify.md).")
    return tuple(keys)


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"PROVENANCE_WATERMARK_KEYS points to {path}, which does not exist; create it (one 'key_id:hex' a line) "
            "or unset the variable to use a development key."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the watermark key file {path} ({exc}); check the path and its permissions.") from exc


def _create_dev_key_file(path: Path) -> None:
    """Write a fresh development key file atomically; keep an existing one if another process won."""
    text = (
        "# provenance DEVELOPMENT watermark key, made on first use. Do not use in production:\n"
        "# set PROVENANCE_WATERMARK_KEYS to a key file of your own (see docs/verify.md).\n"
        f"{DEV_KEY_ID}:{SCHEMES[0]}:{secrets.token_hex(DEV_KEY_BYTES)}\n"
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process created the file first: theirs wins
        except FileExistsError:
            return
        logger.warning(
            "Made a development watermark key in %s; set PROVENANCE_WATERMARK_KEYS for production.", path
        )
    finally:
        tmp.unlink(missing_ok=True)


def load_keyring(settings: Settings) -> KeyRing:
    """Return the watermark keys `settings` name, making a development key if none is configured.

    Parameters
    ----------
    settings : Settings
        Uses ``watermark_keys_path`` and ``instance_path``.

    Returns
    -------
    KeyRing

    Raises
    ------
    ConfigError
        If the key file is missing, unreadable or malformed (see :func:`parse_key_file`), or the
        development key cannot be written to the instance folder.
    """
    if settings.watermark_keys_path is not None:
        path = Path(settings.watermark_keys_path)
        keys = parse_key_file(_read_key_file(path), where=str(path))
        logger.debug("watermark keys %s from %s", ", ".join(k.key_id for k in keys), path)
        return KeyRing(keys, source=path, is_development=False)
    path = settings.instance_path / DEV_KEY_FILENAME
    if not path.exists():
        try:
            settings.instance_path.mkdir(parents=True, exist_ok=True)
            _create_dev_key_file(path)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the development watermark key in {settings.instance_path} ({exc.strerror or exc}); "
                "make PROVENANCE_INSTANCE_PATH writable or set PROVENANCE_WATERMARK_KEYS."
            ) from exc
    keys = parse_key_file(_read_key_file(path), where=str(path))
    return KeyRing(keys, source=path, is_development=True)


def load_secret_file(path: Path, *, what: str, min_bytes: int, setting: str) -> bytes:
    """Read the secret in `path`, making it first (0600, 32 or `min_bytes` random bytes as hex) if it is missing.

    Several processes may start at once: a new file is written aside and hard-linked into place,
    so every reader sees the whole secret or no file, never an empty one.

    Parameters
    ----------
    what : str
        What the secret is, for messages ("secret key").
    min_bytes : int
        Shortest secret accepted (after stripping whitespace).
    setting : str
        The ``PROVENANCE_*`` variable that points to another file, for messages.

    Raises
    ------
    ConfigError
        If the file cannot be read or made, or is shorter than `min_bytes`.
    """
    for _ in range(50):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise ConfigError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
        if data is not None:
            secret = data.strip()
            if len(secret) < min_bytes:
                raise ConfigError(f"The {what} {path} is shorter than {min_bytes} bytes; delete it to make a new one.")
            return secret
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(max(32, min_bytes)).encode("ascii"))
            try:
                os.link(tmp, path)  # atomic, and fails if another process won the race
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the {what} {path}: {exc.strerror or exc}; set PROVENANCE_INSTANCE_PATH to a "
                f"writable folder or {setting} to a file."
            ) from exc
        time.sleep(0.01)
    raise ConfigError(f"Cannot read the {what} {path}.")
