"""Fixtures for the batch tests: a folder of 50 real files and one shared 2-process LocalCluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("distributed", reason="the batch extra is not installed")

from provenance.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def batch_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Settings for the tests and the worker processes they start (workers inherit os.environ)."""
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")), "PROVENANCE_DATABASE_URL": ""}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory, batch_env: dict, shared_dir: Path) -> Path:
    """50 files: 47 crops of the sample photos, 2 stamped images, 1 corrupt PNG."""
    folder = tmp_path_factory.mktemp("fifty")
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((shared_dir / "samples").glob("*.png"))]
    rng = np.random.default_rng(17)
    for i in range(47):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - 160), rng.integers(0, photo.shape[1] - 160)
        Image.fromarray(photo[y : y + 160, x : x + 160]).save(folder / f"crop{i:02d}.png")
    runner = CliRunner()
    for i in range(2):
        result = runner.invoke(main, ["stamp", str(shared_dir / "samples" / "kodim03.png"),
                                      str(folder / f"stamped{i}.png"), "--generator", "batch-test"], env=batch_env)
        assert result.exit_code == 0, result.output
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert len(list(folder.iterdir())) == 50
    return folder


@pytest.fixture(scope="module")
def cluster(batch_env: dict) -> Iterator[str]:
    """A 2-process LocalCluster shared by the tests of a module; yields its scheduler address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        yield lc.scheduler_address
