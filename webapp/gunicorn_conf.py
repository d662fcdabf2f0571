"""gunicorn settings for the production server, from ``PROVENANCE_*`` variables.

::

    gunicorn -c webapp/gunicorn_conf.py "webapp:create_app()"

``PROVENANCE_HOST``/``PROVENANCE_PORT`` (127.0.0.1:8000), ``PROVENANCE_WORKERS`` (2),
``PROVENANCE_REQUEST_TIMEOUT`` (30 s: a worker busy longer than that is killed and replaced).
Sync workers: verification is CPU-bound, so one request per process is the right model.
The access log holds method, path, status and timing only, never bodies. Each worker gets one
BLAS thread and one FFT thread (``OPENBLAS_NUM_THREADS=1``, ``PROVENANCE_FFT_WORKERS=1`` unless
set), since the workers already share the cores.

Each worker fixes glibc's allocator thresholds (:func:`tune_malloc`, from ``post_fork``):
blocks up to :data:`MALLOC_MMAP_THRESHOLD_BYTES` come from the heap, and up to
:data:`MALLOC_TRIM_THRESHOLD_BYTES` of free heap is kept. glibc's adaptive thresholds returned
the image-sized temporaries of each verification to the kernel and faulted them back in on the
next one: 2,000-4,500 page faults and 5-13 ms of kernel time per verification of a 1024x1024
JPEG. The price is that a worker keeps its peak heap (~150 MiB instead of ~125 MiB after an
unmarked photo). ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` in
the environment leave the allocator as configured there.

Requests gunicorn refuses itself, before the app sees them (a malformed request line 400, one
over ``limit_request_line`` 414, too many or too large headers 431), are answered by
:class:`ProvenanceSyncWorker` like the app's own errors: the security headers, and
``{"error": {"code", "message"}}`` JSON under ``/api`` (or when the path could not be read).

The workers share one memory-mapped index per hash bank (``PROVENANCE_BANK_INDEX_DIR``, default
``<instance>/bank-index``; see :mod:`provenance.banks.shared_index`), so bank memory is paid once
per machine, not once per worker (``PROVENANCE_BANK_INDEX_DIR=``, set but empty, gives each
worker its own). Several machines behind a load balancer: point them all at one PostgreSQL
(``PROVENANCE_DATABASE_URL``) and one Redis for the rate limits (``PROVENANCE_RATE_LIMIT_STORAGE``,
e.g. ``redis://redis:6379/0``), keep the index folder on each machine's local disk, and see
``docs/scale.md``.
"""

import ctypes
import ctypes.util
import html
import json
import os

# One BLAS thread per worker: the workers already use every core. Set before anything imports
# numpy (provenance does), since OpenBLAS reads it once, when it loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PROVENANCE_FFT_WORKERS"):
    os.environ.setdefault(_name, "1")

from gunicorn import util  # noqa: E402
from gunicorn.workers.sync import SyncWorker  # noqa: E402

from provenance import Settings  # noqa: E402
from webapp.security import SECURITY_HEADERS  # noqa: E402

_settings = Settings.from_env()
# Unset: one memory-mapped bank index per machine, shared by the workers. Set but empty: each
# worker builds its own in memory (the pre-issue-17 behaviour, kept for comparison and for hosts
# without a writable local folder).
if _settings.bank_index_dir is None and "PROVENANCE_BANK_INDEX_DIR" not in os.environ:
    os.environ["PROVENANCE_BANK_INDEX_DIR"] = str(_settings.instance_path / "bank-index")

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "webapp.gunicorn_conf.ProvenanceSyncWorker"
timeout = _settings.request_timeout_s
graceful_timeout = 10
keepalive = 5
max_requests = 2000  # recycle workers now and then: bounds any slow growth of memory
max_requests_jitter = 200
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
proc_name = "provenance-web"

#: Allocations up to this size come from the heap, not a fresh mmap (glibc's upper limit, 32 MiB).
MALLOC_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free memory at the top of the heap kept for the next request rather than returned to the kernel.
MALLOC_TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds in this process; False when not glibc or set by the environment."""
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): keep its allocator as it is
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES)
    )


def post_fork(server, worker):  # noqa: ANN001 (gunicorn hook)
    """gunicorn hook, in each new worker: :func:`tune_malloc`."""
    tune_malloc()


def when_ready(server):  # noqa: ANN001 (gunicorn hook)
    """gunicorn hook, in the master before the workers start: build the shared bank indexes.

    A worker that built a 10M-hash index in its first request took ~38 s, past the request
    timeout, and was killed, and the next one started over. The master is not timed: built
    here, the index files are only mapped by the workers (4-6 s for 10M). Only with a shared
    index folder; a failure (no database yet) is logged and the workers load banks as before.
    """
    import time

    from provenance import Banks

    settings = Settings.from_env()  # with the index folder this file defaulted above
    if settings.bank_index_dir is None:
        return
    started = time.perf_counter()
    try:
        with Banks.open(settings) as banks:
            hashes = banks.warm()
    except Exception as exc:  # noqa: BLE001 (a warm-up must never stop the server starting)
        server.log.warning("bank index warm-up skipped: %s", exc)
        return
    server.log.info("bank indexes ready: %d PDQ hashes in %.1f s", hashes, time.perf_counter() - started)


_ERROR_CODES = {400: "bad_request", 403: "forbidden", 413: "too_large", 414: "uri_too_long",
                417: "expectation_failed", 431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}
_ERROR_MESSAGES = {
    414: "The address (request line) is too long; send parameters in the body instead.",
    431: "The request has too many headers or one too large; send fewer or shorter headers.",
}


def error_response(status: int, reason: str, message: str, path: str | None) -> bytes:
    """The bytes of an error answer gunicorn makes itself: security headers, JSON under ``/api``."""
    if status >= 500:
        text = "Something went wrong on our side; the error was logged."
    else:
        text = _ERROR_MESSAGES.get(status) or f"The request could not be understood ({message})."
    if path is None or path.startswith("/api/") or path == "/healthz":
        body = json.dumps({"error": {"code": _ERROR_CODES.get(status, "error"), "message": text}}).encode()
        content_type = "application/json"
    else:
        body = (f"<!doctype html><html lang=\"en\"><title>{html.escape(reason)}</title>"
                f"<h1>{html.escape(reason)}</h1><p>{html.escape(text)}</p></html>").encode()
        content_type = "text/html; charset=utf-8"
    headers = {"Connection": "close", "Content-Type": content_type, "Content-Length": str(len(body)),
               "Cache-Control": "no-store", **SECURITY_HEADERS}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


class ProvenanceSyncWorker(SyncWorker):
    """gunicorn's sync worker, whose own error answers look like the app's (see the module docstring)."""

    def handle_error(self, req, client, addr, exc):  # noqa: ANN001, D102 (gunicorn API)
        source = req if req is not None else getattr(exc, "req", None)
        path = getattr(source, "path", None)
        write_error = util.write_error

        def write(sock, status_int, reason, mesg):  # noqa: ANN001
            util.write_nonblock(sock, error_response(status_int, reason, mesg, path))

        util.write_error = write  # gunicorn writes its answer through util.write_error; one request at a time here
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            util.write_error = write_error
