"""gunicorn settings for the production server, from ``PROVENANCE_*`` variables.

::

    gunicorn -c webapp/gunicorn_conf.py "webapp:create_app()"

``PROVENANCE_HOST``/``PROVENANCE_PORT`` (127.0.0.1:8000), ``PROVENANCE_WORKERS`` (2),
``PROVENANCE_REQUEST_TIMEOUT`` (30 s: a worker busy longer than that is killed and replaced).
Sync workers: verification is CPU-bound, so one request per process is the right model.
The access log holds method, path, status and timing only, never bodies. Each worker gets one
BLAS thread and one FFT thread (``OPENBLAS_NUM_THREADS=1``, ``PROVENANCE_FFT_WORKERS=1`` unless
set), since the workers already share the cores.
"""

import os

# One BLAS thread per worker: the workers already use every core. Set before anything imports
# numpy (provenance does), since OpenBLAS reads it once, when it loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PROVENANCE_FFT_WORKERS"):
    os.environ.setdefault(_name, "1")

from provenance import Settings  # noqa: E402

_settings = Settings.from_env()

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
