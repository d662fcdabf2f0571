"""The evaluation images: real photographs at generator sizes, and unmarked images for false positives.

Photographs come from ``../shared/samples`` (Kodak) and from files that ship inside
PyPI packages (scikit-image, scikit-learn, matplotlib: see ``benchmarks/requirements.txt``);
nothing else can be downloaded here. Each is resized (Lanczos down, bicubic up, aspect kept)
so that its shorter side is one of the sizes image generators emit, and cached as PNG in
``benchmarks/.cache/corpus/``. Most sources are 300-1400 px, so the 1536 and 2048 px
versions are upscaled: smoother than a native generator output of that size.

The unmarked generator makes images lazily and deterministically from ``(seed, index)``:
photo crops and rescales (some re-saved as JPEG), flat colours, gradients, text and
UI-like screenshots, and noise, 256-1024 px a side. 10,000 of them never need storing.

Usage::

    python benchmarks/corpus.py --list              # photographs, sources, licences
    python benchmarks/corpus.py --build             # write the cache
    python benchmarks/corpus.py --preview 48        # contact sheet of unmarked images
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "BENCH_DIR",
    "CACHE_DIR",
    "SHARED_DIR",
    "SHORT_SIDES",
    "Photo",
    "CorpusImage",
    "UnmarkedImage",
    "list_photos",
    "load_photo",
    "corpus_images",
    "load_corpus_image",
    "unmarked_image",
    "unmarked_images",
]

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
SHARED_DIR = Path(os.environ.get("PROVENANCE_SHARED", BENCH_DIR.parent.parent / "shared"))

#: Shorter-side lengths of common generator outputs, in pixels.
SHORT_SIDES = (512, 768, 1024, 1536, 2048)

_KODAK = "Kodak PhotoCD test set (../shared/samples), released for unrestricted use"

# (package, path inside it, name, licence as the package documents it)
_PACKAGED: tuple[tuple[str, str, str, str], ...] = (
    ("skimage", "data/astronaut.png", "astronaut", "public domain (NASA)"),
    ("skimage", "data/chelsea.png", "chelsea", "CC0 (Stefan van der Walt)"),
    ("skimage", "data/coffee.png", "coffee", "CC0 (Rachel Michetti)"),
    ("skimage", "data/rocket.jpg", "rocket", "public domain (SpaceX)"),
    ("skimage", "data/hubble_deep_field.jpg", "hubble_deep_field", "public domain (NASA)"),
    ("skimage", "data/retina.jpg", "retina", "CC0 (Häggström)"),
    ("skimage", "data/ihc.png", "immunohistochemistry", "no known copyright restrictions"),
    ("skimage", "data/motorcycle_left.png", "motorcycle", "Middlebury stereo 2014, shipped in scikit-image"),
    ("skimage", "data/camera.png", "camera", "CC0 (Lav Varshney); greyscale"),
    ("skimage", "data/brick.png", "brick", "CC0 (CC0Textures); greyscale texture"),
    ("skimage", "data/grass.png", "grass", "CC0 (CC0Textures); greyscale texture"),
    ("skimage", "data/gravel.png", "gravel", "CC0 (CC0Textures); greyscale texture"),
    ("skimage", "data/coins.png", "coins", "no known copyright restrictions; greyscale"),
    ("skimage", "data/cell.png", "cell", "CC0; greyscale micrograph"),
    ("skimage", "data/clock_motion.png", "clock", "public domain (Stefan van der Walt); greyscale"),
    ("sklearn", "datasets/images/china.jpg", "china", "CC BY 2.0 (danielbuechele, Flickr)"),
    ("sklearn", "datasets/images/flower.jpg", "flower", "CC BY 2.0 (vultilion, Flickr)"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper", "public domain (US Navy)"),
)

_DIST = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}


@dataclass(frozen=True)
class Photo:
    """One source photograph: a file on disk and where it comes from."""

    name: str
    path: Path
    source: str
    licence: str


@dataclass(frozen=True)
class CorpusImage:
    """A photograph resized so that its shorter side is `short_side`, cached at `path`."""

    name: str
    photo: Photo
    short_side: int
    path: Path

    @property
    def upscaled(self) -> bool:
        with Image.open(self.photo.path) as im:
            return self.short_side > min(im.size)


@dataclass(frozen=True)
class UnmarkedImage:
    """One generated image that carries no watermark."""

    index: int
    kind: str
    description: str
    image: np.ndarray


def _package_dir(package: str) -> Path | None:
    """The install folder of `package`, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def list_photos() -> list[Photo]:
    """Every source photograph available on this machine, Kodak first.

    Packages that are not installed are skipped with a warning naming the install command.
    """
    photos = [
        Photo(p.stem, p, "../shared/samples", _KODAK) for p in sorted((SHARED_DIR / "samples").glob("*.png"))
    ]
    missing: set[str] = set()
    for package, rel, name, licence in _PACKAGED:
        root = _package_dir(package)
        path = root / rel if root else None
        if path is None or not path.is_file():
            missing.add(_DIST[package])
            continue
        photos.append(Photo(name, path, f"{_DIST[package]}: {package}/{rel}", licence))
    if missing:
        logger.warning(
            "Photographs from %s are missing; run .venv/bin/pip install -r benchmarks/requirements.txt",
            ", ".join(sorted(missing)),
        )
    if not photos:
        raise SystemExit(f"No photographs found: {SHARED_DIR / 'samples'} is missing and no package is installed.")
    return photos


def load_photo(photo: Photo) -> np.ndarray:
    """The photograph at its own resolution as ``(H, W, 3) uint8`` (greyscale widened to RGB)."""
    return _load_rgb(photo.path)


@lru_cache(maxsize=32)
def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        arr = np.array(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


def _resize_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    return np.array(Image.fromarray(image).resize(size, method))


def corpus_images(*, short_side: int | None = None, limit: int | None = None) -> list[CorpusImage]:
    """The evaluation corpus, writing any missing cached PNGs.

    Parameters
    ----------
    short_side : int, optional
        Put every photograph at this size. By default the sizes in :data:`SHORT_SIDES`
        are dealt out in turn, starting at 1024 px.
    limit : int, optional
        Use only the first `limit` photographs (interleaved so a few span sources).

    Returns
    -------
    list of CorpusImage
    """
    photos = list_photos()
    # Interleave Kodak with packaged photos so that --quick runs see both.
    kodak = [p for p in photos if p.source == "../shared/samples"]
    other = [p for p in photos if p.source != "../shared/samples"]
    order: list[Photo] = []
    while kodak or other:
        if kodak:
            order.append(kodak.pop(0))
        if other:
            order.append(other.pop(0))
    if limit is not None:
        order = order[:limit]
    deal = (1024, 512, 768, 1536, 2048)
    out_dir = CACHE_DIR / "corpus"
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i, photo in enumerate(order):
        side = short_side or deal[i % len(deal)]
        path = out_dir / f"{photo.name}_{side}.png"
        if not path.is_file():
            resized = _resize_short_side(load_photo(photo), side)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            Image.fromarray(resized).save(tmp, format="PNG", compress_level=1)
            os.replace(tmp, path)
        items.append(CorpusImage(f"{photo.name}@{side}", photo, side, path))
    return items


#: Generator output sizes (width, height) of the platform-pipeline benchmark.
OUTPUT_SIZES = ((1024, 1024), (1536, 1024), (2048, 2048), (3072, 2048), (4096, 4096))


def output_images(*, per_size: int, sizes: tuple[tuple[int, int], ...] = OUTPUT_SIZES) -> list[CorpusImage]:
    """Generator-sized outputs made from real photos (centre-cropped to the aspect, then resized).

    Photos are dealt out in turn so each size gets `per_size` different ones; most sources are
    smaller than the outputs and are upscaled (bicubic), as a generator's upscaler would.
    """
    photos = [p for p in list_photos() if p.name not in ("brick", "grass", "gravel", "cell", "retina")]
    out_dir = CACHE_DIR / "outputs"
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for k, (w, h) in enumerate(sizes):
        for j in range(per_size):
            photo = photos[(k * per_size + j) % len(photos)]
            path = out_dir / f"{photo.name}_{w}x{h}.png"
            if not path.is_file():
                src = Image.fromarray(load_photo(photo))
                sw, sh = src.size
                cw, ch = (sw, round(sw * h / w)) if sw * h <= sh * w else (round(sh * w / h), sh)
                box = ((sw - cw) // 2, (sh - ch) // 2, (sw - cw) // 2 + cw, (sh - ch) // 2 + ch)
                method = Image.Resampling.LANCZOS if cw > w else Image.Resampling.BICUBIC
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                src.crop(box).resize((w, h), method).save(tmp, format="PNG", compress_level=1)
                os.replace(tmp, path)
            items.append(CorpusImage(f"{photo.name}@{w}x{h}", photo, min(w, h), path))
    return items


def load_corpus_image(item: CorpusImage) -> np.ndarray:
    """Read a corpus image from the cache as ``(H, W, 3) uint8``."""
    with Image.open(item.path) as im:
        return np.array(im.convert("RGB"))


# ---------------------------------------------------------------------------------------------
# Unmarked images for the false-positive run
# ---------------------------------------------------------------------------------------------

_WORDS = (
    "provenance content credentials image upload verify account settings profile share download "
    "the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet invoice total amount due "
    "search results page next previous cancel submit login password email 2024 12:45 OK error "
    "weather forecast sunny cloudy news headline report chart sales growth quarter revenue"
).split()

_KINDS = ("photo", "photo", "photo", "photo", "text", "text", "ui", "gradient", "noise", "noise", "flat")


def _random_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width), each 256-1024 px, often a generator-like aspect."""
    if rng.random() < 0.5:
        side = int(rng.choice((256, 384, 512, 640, 768, 896, 1024)))
        aspect = float(rng.choice((1.0, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2, 2 / 3)))
        h, w = side, round(side * aspect)
    else:
        h, w = (int(v) for v in rng.integers(256, 1025, size=2))
    return int(np.clip(h, 256, 1024)), int(np.clip(w, 256, 1024))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, size=3))  # type: ignore[return-value]


def _photo_crop(rng: np.random.Generator, photos: list[Photo]) -> tuple[str, np.ndarray]:
    photo = photos[int(rng.integers(len(photos)))]
    source = load_photo(photo)
    h, w = _random_size(rng)
    scale = float(np.exp(rng.uniform(np.log(0.35), np.log(2.0))))
    scale = max(scale, h / source.shape[0], w / source.shape[1])
    size = (max(w, round(source.shape[1] * scale)), max(h, round(source.shape[0] * scale)))
    im = Image.fromarray(source).resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    top = int(rng.integers(0, size[1] - h + 1))
    left = int(rng.integers(0, size[0] - w + 1))
    im = im.crop((left, top, left + w, top + h))
    desc = f"{photo.name} x{scale:.2f}"
    if rng.random() < 0.5:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        desc += " flipped"
    if rng.random() < 0.5:
        quality = int(rng.integers(50, 96))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as jp:
            im = jp.convert("RGB")
        desc += f" jpeg{quality}"
    return desc, np.array(im)


def _font(rng: np.random.Generator, size: int | None = None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size or int(rng.integers(10, 42)))


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(_WORDS, size=n))


def _text(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    h, w = _random_size(rng)
    background = (255, 255, 255) if rng.random() < 0.5 else _colour(rng)
    ink = (0, 0, 0) if sum(background) > 384 else (255, 255, 255)
    im = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(im)
    size = int(rng.integers(10, 42))
    font = _font(rng, size)
    y = int(rng.integers(4, 30))
    while y < h - size:
        draw.text((int(rng.integers(4, 40)), y), _sentence(rng, int(rng.integers(2, 12))), fill=ink, font=font)
        y += int(size * rng.uniform(1.2, 2.0))
    return f"text {size}px on {background}", np.array(im)


def _ui(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    h, w = _random_size(rng)
    im = Image.new("RGB", (w, h), (245, 246, 248) if rng.random() < 0.7 else (32, 33, 36))
    draw = ImageDraw.Draw(im)
    accent = _colour(rng)
    bar = int(rng.integers(32, 64))
    draw.rectangle((0, 0, w, bar), fill=accent)
    draw.text((12, bar // 4), _sentence(rng, 3), fill=(255, 255, 255), font=_font(rng, bar // 2))
    boxes = int(rng.integers(3, 12))
    for _ in range(boxes):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(bar, h - 30))
        x1, y1 = min(w - 1, x0 + int(rng.integers(60, w // 2 + 61))), min(h - 1, y0 + int(rng.integers(24, 160)))
        draw.rounded_rectangle((x0, y0, x1, y1), radius=int(rng.integers(0, 12)),
                               fill=(255, 255, 255) if rng.random() < 0.6 else _colour(rng),
                               outline=(200, 200, 205), width=1)
        draw.text((x0 + 8, y0 + 6), _sentence(rng, 2), fill=(20, 20, 20), font=_font(rng, 14))
    return f"ui {boxes} boxes", np.array(im)


def _gradient(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    h, w = _random_size(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
    if rng.random() < 0.6:
        angle = rng.uniform(0, np.pi)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        kind = f"linear gradient {np.degrees(angle):.0f}deg"
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.hypot(yy - cy, xx - cx)
        kind = "radial gradient"
    t = (t - t.min()) / max(np.ptp(t), 1e-9)
    image = a + t[..., None] * (b - a)
    return kind, np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    h, w = _random_size(rng)
    choice = int(rng.integers(4))
    if choice == 0:
        sigma = rng.uniform(2, 60)
        image = rng.normal(128, sigma, size=(h, w, 3))
        kind = f"gaussian noise sigma {sigma:.0f}"
    elif choice == 1:
        image = rng.integers(0, 256, size=(h, w, 3)).astype(np.float64)
        kind = "uniform noise"
    elif choice == 2:
        cell = int(rng.choice((4, 8, 16, 32, 64)))
        small = rng.integers(0, 256, size=(max(2, h // cell), max(2, w // cell), 3), dtype=np.uint8)
        image = np.array(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
        kind = f"smooth noise /{cell}"
    else:
        image = np.full((h, w, 3), _colour(rng), dtype=np.float64)
        mask = rng.random((h, w)) < rng.uniform(0.001, 0.05)
        image[mask] = rng.choice((0.0, 255.0), size=(int(mask.sum()), 1))
        kind = "salt and pepper"
    return kind, np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _flat(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    h, w = _random_size(rng)
    colour = _colour(rng)
    return f"flat {colour}", np.full((h, w, 3), colour, dtype=np.uint8)


def unmarked_image(index: int, *, seed: int = 0) -> UnmarkedImage:
    """The `index`-th unmarked image of the stream for `seed` (random access, deterministic).

    Returns
    -------
    UnmarkedImage
        Its ``image`` is ``(H, W, 3) uint8`` with 256 <= H, W <= 1024.
    """
    rng = np.random.default_rng([seed, index])
    kind = str(_KINDS[int(rng.integers(len(_KINDS)))])
    if kind == "photo":
        desc, image = _photo_crop(rng, _photos_for_unmarked())
    else:
        desc, image = {"text": _text, "ui": _ui, "gradient": _gradient, "noise": _noise, "flat": _flat}[kind](rng)
    return UnmarkedImage(index, kind, desc, np.ascontiguousarray(image, dtype=np.uint8))


@lru_cache(maxsize=1)
def _photos_for_unmarked() -> list[Photo]:
    return list_photos()


def unmarked_images(count: int, *, seed: int = 0, start: int = 0) -> Iterator[UnmarkedImage]:
    """Yield `count` unmarked images lazily, from index `start`."""
    for index in range(start, start + count):
        yield unmarked_image(index, seed=seed)


# ---------------------------------------------------------------------------------------------


def _contact_sheet(count: int, seed: int, path: Path) -> None:
    thumbs = []
    for item in unmarked_images(count, seed=seed):
        im = Image.fromarray(item.image)
        im.thumbnail((128, 128))
        thumbs.append(im)
    cols = 8
    rows = -(-len(thumbs) // cols)
    sheet = Image.new("RGB", (cols * 132, rows * 132), (90, 90, 90))
    for i, im in enumerate(thumbs):
        sheet.paste(im, ((i % cols) * 132 + 2, (i // cols) * 132 + 2))
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the photographs, sizes and sources")
    parser.add_argument("--build", action="store_true", help="write every corpus image to the cache")
    parser.add_argument("--preview", type=int, metavar="N", help="save a contact sheet of N unmarked images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.list or args.build or not args.preview:
        items = corpus_images()
        print(f"{len(items)} photographs, cached in {CACHE_DIR / 'corpus'}\n")
        print("| image | size | source | licence |")
        print("|---|---|---|---|")
        for item in items:
            with Image.open(item.path) as im:
                size = f"{im.width}x{im.height}" + (" (upscaled)" if item.upscaled else "")
            print(f"| {item.name} | {size} | {item.photo.source} | {item.photo.licence} |")
    if args.preview:
        path = CACHE_DIR / "unmarked_preview.png"
        _contact_sheet(args.preview, args.seed, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
