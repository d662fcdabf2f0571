"""Settings, read from ``PROVENANCE_*`` environment variables with embedded defaults.

=================================  ===========================================  ==============================
variable                           meaning                                      default
=================================  ===========================================  ==============================
``PROVENANCE_INSTANCE_PATH``       folder for the registry, dev keys and certs  ``./instance``
``PROVENANCE_DATABASE_URL``        SQLAlchemy URL of the registry               SQLite in the instance folder
``PROVENANCE_WATERMARK_KEYS``      key file (one ``id:hex`` per line)           dev key made on first use
``PROVENANCE_SIGNING_CERT``        PEM certificate chain for C2PA signing       dev CA + leaf made on first use
``PROVENANCE_SIGNING_KEY``         PEM private key for C2PA signing             (with the dev certificate)
``PROVENANCE_SIGNING_ALG``         ``es256``, ``es384``, ``ps256``, ``ed25519``  ``es256``
``PROVENANCE_TSA_URL``             RFC 3161 time-stamp authority                none (offline)
``PROVENANCE_TRUST_ANCHORS``       PEM files of trusted roots, ``:``-separated  none
``PROVENANCE_TRUST_ALLOWED``       PEM file of individually allowed certs       none
``PROVENANCE_TRUST_CONFIG``        trust config (EKU OIDs), one per line        none
``PROVENANCE_MAX_PIXELS``          decompression-bomb limit                     120,000,000
``PROVENANCE_WATERMARK_SEARCH``   ``full`` (resized/rotated copies too) or ``quick`` ``full``
``PROVENANCE_FFT_WORKERS``         threads per FFT in watermark detection       -1 (every core); 1 under gunicorn
``PROVENANCE_BANK_MAX_IMPORT_ROWS`` most rows one hash-list import accepts       20,000,000
``PROVENANCE_MAX_UPLOAD_MB``       web upload limit in MiB                      50
``PROVENANCE_MAX_UPLOAD_BYTES``    web upload limit in bytes (wins over _MB)    50 MiB
``PROVENANCE_VIDEO_MAX_SECONDS``   longest video accepted, in seconds            600
``PROVENANCE_VIDEO_MAX_PIXELS``    largest video frame (width x height)         8,847,360 (4096x2160)
``PROVENANCE_VIDEO_MAX_FRAMES``    most frames a video may have                 36,000
``PROVENANCE_VIDEO_MAX_UPLOAD_MB`` video upload limit in MiB                    500
``PROVENANCE_VIDEO_CRF``           H.264 CRF of stamped video (lower = better)  18
``PROVENANCE_REQUEST_TIMEOUT``     seconds before the server kills a request    30
``PROVENANCE_RATE_LIMIT``          per-client limit on uploads and the API      ``120 per minute``
``PROVENANCE_RATE_LIMIT_STORAGE``  where rate-limit counters live               ``memory://`` (per worker)
``PROVENANCE_SECRET_KEY_FILE``     web app secret (session and CSRF signing)    made in the instance folder
``PROVENANCE_HOST``                address the production server binds          ``127.0.0.1``
``PROVENANCE_PORT``                its port                                     8000
``PROVENANCE_WORKERS``             its worker processes                         2
=================================  ===========================================  ==============================

Rate limits use the `limits` notation ("120 per minute", "10/second; 1000/day"). With the
default ``memory://`` storage each server worker counts on its own, so the effective limit is
up to the number of workers times the configured one; point ``PROVENANCE_RATE_LIMIT_STORAGE``
at ``redis://...`` or ``memcached://...`` to share one counter.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .errors import ConfigError
from .images import DEFAULT_MAX_PIXELS

__all__ = ["Settings", "DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_RATE_LIMIT", "fft_workers_from_env"]

#: Default web upload limit, 50 MiB.
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Default per-client limit on verify/stamp requests (uploads through the form and the API).
DEFAULT_RATE_LIMIT = "120 per minute"
#: Default seconds before the production server abandons a request.
DEFAULT_REQUEST_TIMEOUT_S = 30

_RATE_ITEM = re.compile(r"\s*\d+\s*(?:/|per)\s*(?:\d+\s*)?(?:second|minute|hour|day|month|year)s?\s*", re.IGNORECASE)
_STORAGE_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://", "memcached://", "mongodb://", "mongodb+srv://")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive; got {value}.")
    return value


def _watermark_search(env: Mapping[str, str]) -> str:
    value = (env.get("PROVENANCE_WATERMARK_SEARCH") or "full").strip().lower()
    if value not in ("full", "quick"):
        raise ConfigError(
            f"PROVENANCE_WATERMARK_SEARCH must be 'full' (finds resized and rotated copies) or 'quick' "
            f"(unchanged grid only, faster on unmarked images); got {value!r}."
        )
    return value


def _rate_limit(env: Mapping[str, str]) -> str:
    raw = (env.get("PROVENANCE_RATE_LIMIT") or "").strip()
    if not raw:
        return DEFAULT_RATE_LIMIT
    if not all(_RATE_ITEM.fullmatch(item) for item in re.split(r"[;,]", raw)):
        raise ConfigError(
            f"PROVENANCE_RATE_LIMIT must be like '120 per minute' or '10/second; 1000/day'; got {raw!r}."
        )
    return raw


def fft_workers_from_env(env: Mapping[str, str] | None = None) -> int:
    """``PROVENANCE_FFT_WORKERS``: threads per FFT in watermark detection (-1: every core).

    Raises
    ------
    ConfigError
        If it is not a positive whole number or -1.
    """
    env = os.environ if env is None else env
    raw = (env.get("PROVENANCE_FFT_WORKERS") or "").strip()
    if not raw:
        return -1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise ConfigError(
            f"PROVENANCE_FFT_WORKERS must be a positive whole number of threads, or -1 for every core; got {raw!r}."
        )
    return value


def _storage_uri(env: Mapping[str, str]) -> str:
    raw = (env.get("PROVENANCE_RATE_LIMIT_STORAGE") or "").strip()
    if not raw:
        return "memory://"
    if not raw.startswith(_STORAGE_SCHEMES):
        raise ConfigError(
            f"PROVENANCE_RATE_LIMIT_STORAGE must start with one of {', '.join(_STORAGE_SCHEMES)}; got {raw.split(':', 1)[0]!r}."
        )
    return raw


def _port(env: Mapping[str, str]) -> int:
    port = _int(env, "PROVENANCE_PORT", 8000)
    if port > 65535:
        raise ConfigError(f"PROVENANCE_PORT must be at most 65535; got {port}.")
    return port


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw).expanduser() if raw and raw.strip() else None


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    raw = env.get(name, "")
    return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with embedded defaults.

    Build one with :meth:`from_env`; override fields with :func:`dataclasses.replace`.
    """

    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str | None = None
    watermark_keys_path: Path | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    signing_alg: str = "es256"
    tsa_url: str | None = None
    trust_anchors: tuple[Path, ...] = ()
    trust_allowed: Path | None = None
    trust_config: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_upload_mb: int = 50
    bank_max_import_rows: int = 20_000_000
    watermark_search: str = "full"
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    request_timeout_s: int = DEFAULT_REQUEST_TIMEOUT_S
    rate_limit: str = DEFAULT_RATE_LIMIT
    rate_limit_storage_uri: str = "memory://"
    secret_key_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    fft_workers: int = -1
    # Video (provenance.video): limits checked before decoding, and the stamped output's quality.
    video_max_seconds: int = 600
    video_max_pixels: int = 4096 * 2160
    video_max_frames: int = 36_000
    video_max_upload_bytes: int = 500 * 1024 * 1024
    video_crf: int = 18

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read ``PROVENANCE_*`` variables from `env` (default ``os.environ``).

        Raises
        ------
        ConfigError
            If a variable holds a value of the wrong kind.
        """
        env = os.environ if env is None else env
        instance = _path(env, "PROVENANCE_INSTANCE_PATH") or Path("instance")
        alg = env.get("PROVENANCE_SIGNING_ALG", "es256").strip().lower() or "es256"
        if alg not in ("es256", "es384", "ps256", "ed25519"):
            raise ConfigError(f"PROVENANCE_SIGNING_ALG must be es256, es384, ps256 or ed25519; got {alg!r}.")
        cert, key = _path(env, "PROVENANCE_SIGNING_CERT"), _path(env, "PROVENANCE_SIGNING_KEY")
        if (cert is None) != (key is None):
            raise ConfigError("Set both PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY, or neither.")
        max_upload_mb = _int(env, "PROVENANCE_MAX_UPLOAD_MB", 50)
        return cls(
            instance_path=instance.resolve(),
            database_url=(env.get("PROVENANCE_DATABASE_URL") or "").strip() or None,
            watermark_keys_path=_path(env, "PROVENANCE_WATERMARK_KEYS"),
            signing_cert=cert,
            signing_key=key,
            signing_alg=alg,
            tsa_url=(env.get("PROVENANCE_TSA_URL") or "").strip() or None,
            trust_anchors=_paths(env, "PROVENANCE_TRUST_ANCHORS"),
            trust_allowed=_path(env, "PROVENANCE_TRUST_ALLOWED"),
            trust_config=_path(env, "PROVENANCE_TRUST_CONFIG"),
            max_pixels=_int(env, "PROVENANCE_MAX_PIXELS", DEFAULT_MAX_PIXELS),
            bank_max_import_rows=_int(env, "PROVENANCE_BANK_MAX_IMPORT_ROWS", 20_000_000),
            watermark_search=_watermark_search(env),
            max_upload_mb=max_upload_mb,
            max_upload_bytes=_int(env, "PROVENANCE_MAX_UPLOAD_BYTES", max_upload_mb * 1024 * 1024),
            request_timeout_s=_int(env, "PROVENANCE_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT_S),
            rate_limit=_rate_limit(env),
            rate_limit_storage_uri=_storage_uri(env),
            secret_key_path=_path(env, "PROVENANCE_SECRET_KEY_FILE"),
            host=(env.get("PROVENANCE_HOST") or "").strip() or "127.0.0.1",
            port=_port(env),
            workers=_int(env, "PROVENANCE_WORKERS", 2),
            fft_workers=fft_workers_from_env(env),
            video_max_seconds=_int(env, "PROVENANCE_VIDEO_MAX_SECONDS", 600),
            video_max_pixels=_int(env, "PROVENANCE_VIDEO_MAX_PIXELS", 4096 * 2160),
            video_max_frames=_int(env, "PROVENANCE_VIDEO_MAX_FRAMES", 36_000),
            video_max_upload_bytes=_int(env, "PROVENANCE_VIDEO_MAX_UPLOAD_MB", 500) * 1024 * 1024,
            video_crf=_int(env, "PROVENANCE_VIDEO_CRF", 18),
        )

    def with_instance(self, path: str | os.PathLike) -> "Settings":
        """Return a copy whose instance folder is `path`."""
        return replace(self, instance_path=Path(path).resolve())

    @property
    def effective_database_url(self) -> str:
        """The registry URL: the configured one, or SQLite in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'provenance.sqlite'}"
