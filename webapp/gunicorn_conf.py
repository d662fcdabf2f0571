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

The workers share one memory-mapped index per hash bank (``PROVENANCE_BANK_INDEX_DIR``, default
``<instance>/bank-index``; see :mod:`provenance.banks.shared_index`), so bank memory is paid once
per machine, not once per worker. Several machines behind a load balancer: point them all at one
PostgreSQL (``PROVENANCE_DATABASE_URL``) and one Redis for the rate limits
(``PROVENANCE_RATE_LIMIT_STORAGE``, e.g. ``redis://redis:6379/0``), keep the index folder on each
machine's local disk, and see ``docs/scale.md``.
"""

import ctypes
import ctypes.util
import os

# One BLAS thread per worker: the workers already use every core. Set before anything imports
# numpy (provenance does), since OpenBLAS reads it once, when it loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PROVENANCE_FFT_WORKERS"):
    os.environ.setdefault(_name, "1")

from provenance import Settings  # noqa: E402

_settings = Settings.from_env()
if _settings.bank_index_dir is None:  # one memory-mapped bank index per machine, shared by the workers
    os.environ["PROVENANCE_BANK_INDEX_DIR"] = str(_settings.instance_path / "bank-index")

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "sync"
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
