"""Run a batch job on a Dask cluster: batches of files out, rows back, part files written as they come.

The client lists the files, drops those already in DEST, and submits one task per batch. Each
worker builds its :class:`~provenance.report.Verifier` or :class:`~provenance.stamp.Stamper`
once (:class:`ToolsPlugin`, a Dask worker plugin) and reuses it for every batch it runs. The
client writes each finished batch as a part file (:class:`~.output.PartWriter`), so killing the
client, a worker or the scheduler loses at most the batches in flight, and the same command
resumes the job.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from distributed import WorkerPlugin

from ..errors import ClusterError, InvalidInputError, ServerFault
from .output import PartWriter, batches, done_paths
from .rows import JOB_KINDS, FileRow, hash_file, stamp_file, verify_file

__all__ = ["DEFAULT_BATCH_SIZE", "WORKER_ENVIRON", "JobOptions", "JobSummary", "ToolsPlugin", "connect", "run_job"]

logger = logging.getLogger(__name__)

#: Files per task: large enough that scheduling costs nothing next to the work, small enough
#: that a kill loses little and the progress bar moves.
DEFAULT_BATCH_SIZE = 32
_PLUGIN_PREFIX = "provenance-tools-"

#: Environment of the LocalCluster's worker processes (unless this process's environment sets a
#: name). Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` to 64 KiB, so glibc hands each
#: verification's image-sized buffers back to the kernel and faults them in again on the next
#: file (~17,000 page faults per file); the thresholds gunicorn's workers use keep them, and one FFT
#: thread per worker stops the workers from fighting over the cores.
WORKER_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": str(128 * 1024 * 1024),
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "PROVENANCE_FFT_WORKERS": "1",
}


@dataclass(frozen=True)
class JobOptions:
    """What every file of one job is processed with.

    Attributes
    ----------
    kind : {"hash", "verify", "stamp"}
    use_registry : bool
        ``verify``: False to verify without the registry.
    search : str or None
        ``verify``: the watermark search mode.
    out_dir : str or None
        ``stamp``: where the stamped files go (must be reachable by every worker).
    generator : str or None
        ``stamp``: the model or service named in the credentials.
    """

    kind: str
    use_registry: bool = True
    search: str | None = None
    out_dir: str | None = None
    generator: str | None = None


@dataclass(frozen=True)
class JobSummary:
    """How a job went: files listed, skipped as already done, processed now, and failed now."""

    listed: int
    skipped: int
    processed: int
    failed: int
    dest: str
    parts: tuple[str, ...] = field(default=())


class ToolsPlugin(WorkerPlugin):
    """Dask worker plugin: builds a job's Verifier or Stamper once per worker and closes it at teardown.

    Registered under a name that includes the job's options, so two jobs with different
    options on one cluster each get their own.
    """

    def __init__(self, options: JobOptions) -> None:
        self.options = options
        self.tool: Any = None

    @property
    def name(self) -> str:
        """The name the plugin is registered and looked up under."""
        o = self.options
        return f"{_PLUGIN_PREFIX}{o.kind}-{int(o.use_registry)}"

    def setup(self, worker: Any = None) -> None:  # noqa: D102 (Dask plugin API)
        from ..settings import Settings

        settings = Settings.from_env()
        if self.options.kind == "verify":
            from ..report import Verifier

            self.tool = Verifier(settings, use_registry=self.options.use_registry)
        elif self.options.kind == "stamp":
            from ..stamp import Stamper

            self.tool = Stamper(settings)
        else:
            self.tool = settings
        logger.info("worker tools ready: %s", self.name)

    def teardown(self, worker: Any = None) -> None:  # noqa: D102 (Dask plugin API)
        close = getattr(self.tool, "close", None)
        if close is not None:
            close()


def _tool(options: JobOptions) -> Any:
    from distributed import get_worker

    worker = get_worker()
    name = ToolsPlugin(options).name
    plugin = worker.plugins.get(name)
    if plugin is None or plugin.tool is None:  # a worker that joined before the plugin reached it
        plugin = ToolsPlugin(options)
        plugin.setup(worker)
        worker.plugins[name] = plugin
    return plugin.tool


def process_batch(paths: Sequence[str], options: JobOptions) -> list[FileRow]:
    """Process one batch on a worker, one row per path (a task; runs where Dask puts it)."""
    tool = _tool(options)
    if options.kind == "hash":
        return [hash_file(p, max_pixels=tool.max_pixels) for p in paths]
    if options.kind == "verify":
        return [verify_file(tool, p, search=options.search) for p in paths]
    return [stamp_file(tool, p, out_dir=options.out_dir or ".", generator=options.generator or "") for p in paths]


def connect(scheduler: str | None = None, *, workers: int | None = None) -> Any:
    """A Dask client: on `scheduler` (else ``DASK_SCHEDULER_ADDRESS``), or on a new LocalCluster.

    The LocalCluster has one single-threaded worker process per core (or `workers`).

    Raises
    ------
    ClusterError
        If the scheduler cannot be reached.
    """
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address:
        try:
            return Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"Cannot reach the Dask scheduler at {address} ({exc}); start it (`dask scheduler`) "
                               "or leave out --scheduler to run on this machine.") from exc
    import dask

    n = workers or os.cpu_count() or 1
    environ = {**(dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}),
               **{k: v for k, v in WORKER_ENVIRON.items() if k not in os.environ}}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client._provenance_owns_cluster = cluster  # closed with the client by run_job's caller
    return client


def close(client: Any) -> None:
    """Close `client`, and the LocalCluster it started."""
    cluster = getattr(client, "_provenance_owns_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def run_job(
    client: Any,
    paths: Sequence[str],
    dest: str | os.PathLike,
    options: JobOptions,
    *,
    fmt: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[list[FileRow]], None] | None = None,
) -> JobSummary:
    """Process every path not yet in `dest`, on `client`'s cluster, writing a part file per batch.

    Parameters
    ----------
    client : distributed.Client
    paths : sequence of str
        From :func:`~.sources.list_sources`.
    dest : path-like
        The output folder; rows already there are kept and their paths skipped.
    options : JobOptions
    fmt : {"parquet", "jsonl"}, optional
        Default from `dest`'s suffix.
    batch_size : int
        Files per task.
    on_batch : callable, optional
        Called with each batch's rows as it is written (the progress bar).

    Raises
    ------
    ClusterError
        If the cluster goes away or a batch's worker dies repeatedly; finished batches are
        saved and the job resumes where it stopped.
    ServerFault
        If a worker's registry fails (the same command resumes the job).
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    if options.kind not in JOB_KINDS:
        raise InvalidInputError(f"Unknown batch job {options.kind!r}; use one of {', '.join(JOB_KINDS)}.")
    if batch_size < 1:
        raise InvalidInputError(f"The batch size must be at least 1; got {batch_size}.")
    writer = PartWriter(dest, fmt)
    done = done_paths(dest)
    todo = [p for p in paths if p not in done]
    summary = dict(listed=len(paths), skipped=len(paths) - len(todo), processed=0, failed=0)
    parts: list[str] = []
    if not todo:
        return JobSummary(**summary, dest=str(dest))
    plugin = ToolsPlugin(options)
    try:
        client.register_plugin(plugin, name=plugin.name)
        futures = [client.submit(process_batch, chunk, options, pure=False, retries=1)
                   for chunk in batches(todo, batch_size)]
        for future in as_completed(futures):
            rows = future.result()
            part = writer.write(rows)
            if part is not None:
                parts.append(str(part))
            summary["processed"] += len(rows)
            summary["failed"] += sum(1 for r in rows if r.error)
            if on_batch is not None:
                on_batch(rows)
    except ServerFault:
        raise
    except (OSError, TimeoutError, FutureCancelledError, RuntimeError) as exc:
        left = len(todo) - summary["processed"]
        raise ClusterError(
            f"The Dask cluster went away mid-job ({type(exc).__name__}: {exc}). {summary['processed']} files were "
            f"saved in {dest}; {left} are left: run the same command again to resume."
        ) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("distributed"):  # KilledWorker and kin
            left = len(todo) - summary["processed"]
            raise ClusterError(
                f"A batch failed on the cluster ({type(exc).__name__}: {exc}). {summary['processed']} files were "
                f"saved in {dest}; {left} are left: run the same command again to resume."
            ) from exc
        raise
    return JobSummary(**summary, dest=str(dest), parts=tuple(parts))
