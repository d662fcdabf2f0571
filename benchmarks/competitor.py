"""The watermark engines the benchmarks compare, behind one small interface.

* ``ours``: :mod:`provenance.watermark` (``embed(image, payload, key=)`` / ``detect(image, key=)``).
* ``dwtdct``: the baseline, invisible-watermark's ``dwtDct`` (the method Stable Diffusion's
  reference scripts use). It has no key and no detection statistic: it always returns
  64 bits, so every miss it makes is a wrong payload, and it "detects" on every image.
* ``null``: a stand-in that embeds nothing and scores a keyed +-1 correlation, which is
  exactly N(0, 1) on unmarked images. For running the harness before the engine exists.

invisible-watermark is installed without its dependencies (it would pull in torch for
rivaGan); see ``benchmarks/requirements.txt``. If torch is absent, an empty stand-in
module is put in ``sys.modules`` before it is imported, in the benchmark process only.

Usage::

    python benchmarks/competitor.py            # round-trip check of each engine on one photo
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import sys
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ENGINES", "Detection", "Engine", "load_engine"]


@dataclass(frozen=True)
class Detection:
    """What an engine reports for one image (picklable, engine-independent)."""

    detected: bool
    payload: bytes | None
    score: float
    p_value: float


@dataclass(frozen=True)
class Engine:
    """A named pair of embed and detect functions."""

    name: str
    embed: Callable[[np.ndarray, bytes, str], np.ndarray]
    detect: Callable[[np.ndarray, str], Detection]
    keyed: bool = True


# --- ours ------------------------------------------------------------------------------------


def _load_ours(search: str = "full") -> Engine:
    from provenance import watermark

    if not (hasattr(watermark, "embed") and hasattr(watermark, "detect")):
        raise SystemExit(
            "provenance.watermark has no embed/detect yet; run with --engine null (harness check) "
            "or --engine dwtdct (baseline) until it lands."
        )

    def embed(image: np.ndarray, payload: bytes, key: str) -> np.ndarray:
        return watermark.embed(image, payload, key=key)

    def detect(image: np.ndarray, key: str) -> Detection:
        r = watermark.detect(image, key=key, search=search)
        return Detection(bool(r.detected), r.payload, float(r.score), float(r.p_value))

    return Engine("ours" if search == "full" else f"ours-{search}", embed, detect)


# --- invisible-watermark dwtDct --------------------------------------------------------------


def _import_imwatermark():
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        # imwatermark imports torch at load time, only for rivaGan, which we never call.
        sys.modules["torch"] = types.ModuleType("torch")
    try:
        import imwatermark
    except ImportError as exc:
        raise SystemExit(
            f"invisible-watermark is not installed ({exc}); run "
            ".venv/bin/pip install -r benchmarks/requirements.txt && "
            ".venv/bin/pip install --no-deps invisible-watermark==0.2.0"
        ) from exc
    return imwatermark


def _load_dwtdct() -> Engine:
    imwatermark = _import_imwatermark()

    def embed(image: np.ndarray, payload: bytes, key: str) -> np.ndarray:
        encoder = imwatermark.WatermarkEncoder()
        encoder.set_watermark("bytes", payload)
        bgr = np.ascontiguousarray(image[..., ::-1])
        return np.ascontiguousarray(encoder.encode(bgr, "dwtDct")[..., ::-1])

    def detect(image: np.ndarray, key: str) -> Detection:
        if image.shape[0] * image.shape[1] < 256 * 256:
            return Detection(False, None, math.nan, math.nan)  # the library refuses these
        decoder = imwatermark.WatermarkDecoder("bytes", 64)
        payload = decoder.decode(np.ascontiguousarray(image[..., ::-1]), "dwtDct")
        return Detection(True, bytes(payload), math.nan, math.nan)

    return Engine("dwtdct", embed, detect, keyed=False)


# --- null stand-in ---------------------------------------------------------------------------


def _keyed_signs(key: str, shape: tuple[int, int]) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little")
    return np.random.default_rng(seed).integers(0, 2, size=shape, dtype=np.int8) * 2 - 1


def _load_null() -> Engine:
    def embed(image: np.ndarray, payload: bytes, key: str) -> np.ndarray:
        return image.copy()

    def detect(image: np.ndarray, key: str) -> Detection:
        luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        luma -= luma.mean()
        norm = float(np.sqrt(np.sum(luma.astype(np.float64) ** 2)))
        score = float(np.sum(luma * _keyed_signs(key, luma.shape), dtype=np.float64) / norm) if norm else 0.0
        p_value = 0.5 * math.erfc(score / math.sqrt(2))
        return Detection(p_value < 1e-9, None, score, p_value)

    return Engine("null", embed, detect)


ENGINES: dict[str, Callable[[], Engine]] = {
    "ours": _load_ours,
    # The same watermark with a cheaper search mode (what a platform setting PROVENANCE_WATERMARK_SEARCH gets).
    "ours-crops": lambda: _load_ours("crops"),
    "ours-quick": lambda: _load_ours("quick"),
    "dwtdct": _load_dwtdct,
    "null": _load_null,
}


def load_engine(name: str) -> Engine:
    """Build the engine called `name` (one of :data:`ENGINES`)."""
    try:
        return ENGINES[name]()
    except KeyError:
        raise SystemExit(f"Unknown engine {name!r}; choose one of {', '.join(ENGINES)}.") from None


def main(argv: list[str] | None = None) -> int:
    import corpus
    from provenance import attacks

    parser = argparse.ArgumentParser(description="Round-trip check of the benchmark engines on one photo.")
    parser.add_argument("--engine", action="append", choices=list(ENGINES), help="default: dwtdct and null")
    args = parser.parse_args(argv)
    item = corpus.corpus_images(short_side=1024, limit=1)[0]
    image = corpus.load_corpus_image(item)
    payload, key = bytes(range(1, 9)), "benchmark-key"
    print(f"{item.name} {image.shape[1]}x{image.shape[0]}, payload {payload.hex()}")
    for name in args.engine or ["dwtdct", "null"]:
        engine = load_engine(name)
        marked = engine.embed(image, payload, key)
        mse = np.mean((marked.astype(np.float64) - image) ** 2)
        psnr = 10 * math.log10(255**2 / mse) if mse else math.inf
        for attack in ("none", "jpeg75", "resize0.75"):
            d = engine.detect(attacks.ATTACKS[attack](marked), key)
            got = d.payload.hex() if d.payload else None
            print(f"  {name:7s} PSNR {psnr:5.1f} dB  {attack:11s} detected={d.detected!s:5s} "
                  f"payload={got} ok={d.payload == payload}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
