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
``PROVENANCE_MAX_DECODE_MB``       memory one image decode may take, in MiB     1024
``PROVENANCE_WATERMARK_SEARCH``   ``full`` (resized/rotated copies too) or ``quick`` ``full``
``PROVENANCE_FFT_WORKERS``         threads per FFT in watermark detection       -1 (every core); 1 under gunicorn
``PROVENANCE_WATERMARK_FIELD_PERCENT`` share of a stamp's mark given to layer B  0 (off: layer A only)
                                   (non-periodic, against fold-and-subtract), 0-90
``PROVENANCE_BANK_MAX_IMPORT_ROWS`` most rows one hash-list import accepts       20,000,000
``PROVENANCE_BANK_INDEX_DIR``      shared memory-mapped bank indexes (per host)  off; ``<instance>/bank-index`` under gunicorn
``PROVENANCE_MAX_UPLOAD_MB``       web upload limit in MiB                      50
``PROVENANCE_MAX_UPLOAD_BYTES``    web upload limit in bytes (wins over _MB)    50 MiB
``PROVENANCE_VIDEO_MAX_SECONDS``   longest video accepted, in seconds            600
``PROVENANCE_VIDEO_MAX_PIXELS``    largest video frame (width x height)         8,847,360 (4096x2160)
``PROVENANCE_VIDEO_MAX_FRAMES``    most frames a video may have                 36,000
``PROVENANCE_VIDEO_MAX_UPLOAD_MB`` video upload limit in MiB                    500
``PROVENANCE_VIDEO_CRF``           H.264 CRF of stamped video (lower = better)  15
``PROVENANCE_VIDEO_MIN_PSNR``      fidelity a stamped clip keeps to its source:  40.5
                                   the CRF is lowered until a trial encode of
                                   its first 8 frames reaches it (0: off)
``PROVENANCE_VIDEO_BANK_QUERY_PERCENT``    share of a video's frames that must     80
                                   match a banked video's (vPDQ query share)
``PROVENANCE_VIDEO_BANK_COMPARED_PERCENT`` share of the banked video's frames      0 (any)
                                   that must match (vPDQ compared share)
``PROVENANCE_REQUEST_TIMEOUT``     seconds before the server kills a request    30
``PROVENANCE_RATE_LIMIT``          per-client limit on uploads and the API      ``120 per minute``
``PROVENANCE_RATE_LIMIT_STORAGE``  where rate-limit counters live               ``memory://`` (per worker)
``PROVENANCE_SECRET_KEY_FILE``     web app secret (session and CSRF signing)    made in the instance folder
``PROVENANCE_HOST``                address the production server binds          ``127.0.0.1``
``PROVENANCE_PORT``                its port                                     8000
``PROVENANCE_WORKERS``             its worker processes                         2
``PROVENANCE_RESOLVERS``           soft-binding resolution services to ask,     none (verification offline)
                                   base URLs, comma-separated
``PROVENANCE_RESOLVER_TIMEOUT``    seconds per request to such a service        5
``PROVENANCE_RESOLVER_TOKENS``     file of ``URL TOKEN`` lines: bearer tokens   none (no token sent)
                                   for those services
``PROVENANCE_RESOLUTION_PUBLIC``   serve ``/c2pa/v1`` without a token (1/0)     0 (token with role resolve)
``PROVENANCE_RESOLUTION_PREFIX``   where the resolution API is served           ``/c2pa/v1``
``PROVENANCE_PROXY_HOPS``          reverse proxies in front whose ``X-Forwarded-*`` 0 (none trusted)
                                   headers are trusted (werkzeug ``ProxyFix``)
``PROVENANCE_WATERMARK_KEY_FILE``  the CLI's ``--key-file`` default             none
``PROVENANCE_SHARED``              the shared fixtures folder (demo, tests)     ``../shared`` beside the repo
``PROVENANCE_CASE_DEADLINE_HOURS`` hours to decide a removal request            48
``PROVENANCE_CASE_CONTACT_DAYS``   days after close a requester's contact is kept 30
``PROVENANCE_WEBHOOK_URL``         where case webhooks are POSTed               none (no webhooks)
``PROVENANCE_WEBHOOK_SECRET_FILE`` HMAC key file for webhook signatures         made in the instance folder
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
from .images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS

__all__ = [
    "Settings",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_WORKERS",
    "DEFAULT_PORT",
    "DEFAULT_BANK_MAX_IMPORT_ROWS",
    "DEFAULT_INSTANCE_PATH",
    "DEFAULT_SIGNING_ALG",
    "DEFAULT_WATERMARK_SEARCH",
    "DEFAULT_WATERMARK_FIELD_PERCENT",
    "DEFAULT_RATE_LIMIT_STORAGE",
    "DEFAULT_HOST",
    "fft_workers_from_env",
]

#: Default web upload limit, 50 MiB.
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Default per-client limit on verify/stamp requests (uploads through the form and the API).
DEFAULT_RATE_LIMIT = "120 per minute"
#: Default seconds before the production server abandons a request.
DEFAULT_REQUEST_TIMEOUT_S = 30
#: Default worker processes of the production server.
DEFAULT_WORKERS = 2
#: Default port of the production server.
DEFAULT_PORT = 8000
#: Default most rows one hash-list import accepts.
DEFAULT_BANK_MAX_IMPORT_ROWS = 20_000_000
#: Default instance folder (relative to the working directory).
DEFAULT_INSTANCE_PATH = Path("instance")
#: Default C2PA signing algorithm.
DEFAULT_SIGNING_ALG = "es256"
#: Default watermark search (``full`` also finds resized and rotated copies).
DEFAULT_WATERMARK_SEARCH = "full"
#: Default share of the mark's power in layer B, in percent (off: the figures in docs/watermark.md).
DEFAULT_WATERMARK_FIELD_PERCENT = 0.0
#: Default rate-limit storage: counters in each worker's memory.
DEFAULT_RATE_LIMIT_STORAGE = "memory://"
#: Default address the production server binds (loopback: put a proxy in front).
DEFAULT_HOST = "127.0.0.1"
_MIB = 1024 * 1024

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


def _float_between(env: Mapping[str, str], name: str, default: float, low: float, high: float, what: str) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}; got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what}; got {value}.")
    return value


def _decibels(env: Mapping[str, str], name: str, default: float) -> float:
    return _float_between(env, name, default, 0, 60, "a number of decibels from 0 to 60 (0: off)")


def _percent(env: Mapping[str, str], name: str, default: float) -> float:
    return _float_between(env, name, default, 0, 100, "a percentage from 0 to 100")


def _watermark_search(env: Mapping[str, str]) -> str:
    value = (env.get("PROVENANCE_WATERMARK_SEARCH") or DEFAULT_WATERMARK_SEARCH).strip().lower()
    if value not in ("full", "crops", "quick"):
        raise ConfigError(
            f"PROVENANCE_WATERMARK_SEARCH must be 'full' (finds resized, cropped, rotated and photographed "
            f"copies), 'crops' (resized and cropped copies; faster on unmarked images) or 'quick' (resized "
            f"copies only; fastest); got {value!r}."
        )
    return value


def _watermark_field_percent(env: Mapping[str, str]) -> float:
    name = "PROVENANCE_WATERMARK_FIELD_PERCENT"
    value = _percent(env, name, DEFAULT_WATERMARK_FIELD_PERCENT)
    if value > 90:
        raise ConfigError(f"{name} must be at most 90 (layer A, the periodic tile, keeps the rest); got {value}.")
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
        return DEFAULT_RATE_LIMIT_STORAGE
    if not raw.startswith(_STORAGE_SCHEMES):
        raise ConfigError(
            f"PROVENANCE_RATE_LIMIT_STORAGE must start with one of {', '.join(_STORAGE_SCHEMES)}; got {raw.split(':', 1)[0]!r}."
        )
    return raw


def _resolvers(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(u.strip().rstrip("/") for u in (env.get("PROVENANCE_RESOLVERS") or "").split(",") if u.strip())
    for url in urls:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ConfigError(
                f"PROVENANCE_RESOLVERS must be comma-separated http(s) base URLs such as "
                f"'https://example.org/c2pa/v1'; got {url[:80]!r}."
            )
    return urls


def _webhook_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("PROVENANCE_WEBHOOK_URL") or "").strip()
    if raw and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s#]*)?", raw):
        raise ConfigError(f"PROVENANCE_WEBHOOK_URL must be an http(s) URL; got {raw[:80]!r}.")
    return raw or None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"{name} must be 1 or 0; got {raw[:20]!r}.")
    return raw in ("1", "true", "yes", "on")


def _prefix(env: Mapping[str, str]) -> str:
    raw = (env.get("PROVENANCE_RESOLUTION_PREFIX") or "/c2pa/v1").strip().rstrip("/")
    if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", raw) or raw.startswith(("/api/", "/static")) or raw == "/api":
        raise ConfigError(
            f"PROVENANCE_RESOLUTION_PREFIX must be a path such as '/c2pa/v1', outside /api and /static; got {raw[:80]!r}."
        )
    return raw


def _port(env: Mapping[str, str]) -> int:
    port = _int(env, "PROVENANCE_PORT", DEFAULT_PORT)
    if port > 65535:
        raise ConfigError(f"PROVENANCE_PORT must be at most 65535; got {port}.")
    return port


def _hops(env: Mapping[str, str]) -> int:
    raw = (env.get("PROVENANCE_PROXY_HOPS") or "").strip()
    if raw in ("", "0"):
        return 0
    return _int(env, "PROVENANCE_PROXY_HOPS", 0)


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

    instance_path: Path = field(default_factory=lambda: DEFAULT_INSTANCE_PATH.resolve())
    database_url: str | None = None
    watermark_keys_path: Path | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    signing_alg: str = DEFAULT_SIGNING_ALG
    tsa_url: str | None = None
    trust_anchors: tuple[Path, ...] = ()
    trust_allowed: Path | None = None
    trust_config: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
    bank_max_import_rows: int = DEFAULT_BANK_MAX_IMPORT_ROWS
    bank_index_dir: Path | None = None
    watermark_search: str = DEFAULT_WATERMARK_SEARCH
    watermark_field_percent: float = DEFAULT_WATERMARK_FIELD_PERCENT
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    request_timeout_s: int = DEFAULT_REQUEST_TIMEOUT_S
    rate_limit: str = DEFAULT_RATE_LIMIT
    rate_limit_storage_uri: str = DEFAULT_RATE_LIMIT_STORAGE
    secret_key_path: Path | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    proxy_hops: int = 0
    watermark_key_file: Path | None = None
    shared_path: Path | None = None
    resolvers: tuple[str, ...] = ()
    resolver_timeout_s: int = 5
    resolver_tokens_path: Path | None = None
    resolution_public: bool = False
    resolution_prefix: str = "/c2pa/v1"
    case_deadline_hours: int = 48
    case_contact_days: int = 30
    webhook_url: str | None = None
    webhook_secret_path: Path | None = None
    fft_workers: int = -1
    # Video (provenance.video): limits checked before decoding, and the stamped output's quality.
    video_max_seconds: int = 600
    video_max_pixels: int = 4096 * 2160
    video_max_frames: int = 36_000
    video_max_upload_bytes: int = 500 * 1024 * 1024
    video_crf: int = 15
    video_min_psnr: float = 40.5
    # Video bank matches (provenance.banks): vPDQ's two shares, in percent.
    video_bank_query_percent: float = 80.0
    video_bank_compared_percent: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read ``PROVENANCE_*`` variables from `env` (default ``os.environ``).

        Raises
        ------
        ConfigError
            If a variable holds a value of the wrong kind.
        """
        env = os.environ if env is None else env
        instance = _path(env, "PROVENANCE_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH
        alg = env.get("PROVENANCE_SIGNING_ALG", DEFAULT_SIGNING_ALG).strip().lower() or DEFAULT_SIGNING_ALG
        if alg not in ("es256", "es384", "ps256", "ed25519"):
            raise ConfigError(f"PROVENANCE_SIGNING_ALG must be es256, es384, ps256 or ed25519; got {alg!r}.")
        cert, key = _path(env, "PROVENANCE_SIGNING_CERT"), _path(env, "PROVENANCE_SIGNING_KEY")
        if (cert is None) != (key is None):
            raise ConfigError("Set both PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY, or neither.")
        max_upload_mb = _int(env, "PROVENANCE_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_BYTES // _MIB)
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
            max_decode_bytes=_int(env, "PROVENANCE_MAX_DECODE_MB", DEFAULT_MAX_DECODE_BYTES // _MIB) * _MIB,
            bank_max_import_rows=_int(env, "PROVENANCE_BANK_MAX_IMPORT_ROWS", DEFAULT_BANK_MAX_IMPORT_ROWS),
            bank_index_dir=_path(env, "PROVENANCE_BANK_INDEX_DIR"),
            watermark_search=_watermark_search(env),
            watermark_field_percent=_watermark_field_percent(env),
            max_upload_bytes=_int(env, "PROVENANCE_MAX_UPLOAD_BYTES", max_upload_mb * _MIB),
            request_timeout_s=_int(env, "PROVENANCE_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT_S),
            rate_limit=_rate_limit(env),
            rate_limit_storage_uri=_storage_uri(env),
            secret_key_path=_path(env, "PROVENANCE_SECRET_KEY_FILE"),
            host=(env.get("PROVENANCE_HOST") or "").strip() or DEFAULT_HOST,
            port=_port(env),
            workers=_int(env, "PROVENANCE_WORKERS", DEFAULT_WORKERS),
            proxy_hops=_hops(env),
            watermark_key_file=_path(env, "PROVENANCE_WATERMARK_KEY_FILE"),
            shared_path=_path(env, "PROVENANCE_SHARED"),
            resolvers=_resolvers(env),
            resolver_timeout_s=_int(env, "PROVENANCE_RESOLVER_TIMEOUT", 5),
            resolver_tokens_path=_path(env, "PROVENANCE_RESOLVER_TOKENS"),
            resolution_public=_flag(env, "PROVENANCE_RESOLUTION_PUBLIC"),
            resolution_prefix=_prefix(env),
            case_deadline_hours=_int(env, "PROVENANCE_CASE_DEADLINE_HOURS", 48),
            case_contact_days=_int(env, "PROVENANCE_CASE_CONTACT_DAYS", 30),
            webhook_url=_webhook_url(env),
            webhook_secret_path=_path(env, "PROVENANCE_WEBHOOK_SECRET_FILE"),
            fft_workers=fft_workers_from_env(env),
            video_max_seconds=_int(env, "PROVENANCE_VIDEO_MAX_SECONDS", 600),
            video_max_pixels=_int(env, "PROVENANCE_VIDEO_MAX_PIXELS", 4096 * 2160),
            video_max_frames=_int(env, "PROVENANCE_VIDEO_MAX_FRAMES", 36_000),
            video_max_upload_bytes=_int(env, "PROVENANCE_VIDEO_MAX_UPLOAD_MB", 500) * 1024 * 1024,
            video_crf=_int(env, "PROVENANCE_VIDEO_CRF", 15),
            video_min_psnr=_decibels(env, "PROVENANCE_VIDEO_MIN_PSNR", 40.5),
            video_bank_query_percent=_percent(env, "PROVENANCE_VIDEO_BANK_QUERY_PERCENT", 80.0),
            video_bank_compared_percent=_percent(env, "PROVENANCE_VIDEO_BANK_COMPARED_PERCENT", 0.0),
        )

    @property
    def max_upload_mb(self) -> float:
        """The web upload limit in MiB (``PROVENANCE_MAX_UPLOAD_MB`` sets :attr:`max_upload_bytes`)."""
        return self.max_upload_bytes / _MIB

    def with_instance(self, path: str | os.PathLike) -> "Settings":
        """Return a copy whose instance folder is `path`."""
        return replace(self, instance_path=Path(path).resolve())

    @property
    def effective_database_url(self) -> str:
        """The registry URL: the configured one, or SQLite in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'provenance.sqlite'}"
