"""The degradations an upload pipeline applies to an image, as pure functions.

Each function takes an ``(H, W, 3) uint8`` RGB array (channels last) and returns
a new array of the same dtype; the input is never modified. Shapes change only
where the degradation changes them (resizing, cropping, rotating).

:data:`ATTACKS` maps a short name to a one-argument function, in a fixed order;
the robustness benchmark applies each of them to every watermarked image.
:data:`HARDER_ATTACKS` names the combined attacks held to a lower recovery bar.

:func:`flip_png_pixel_byte` is the one attack on file bytes rather than pixels: the
smallest edit that breaks a C2PA hard binding while keeping every other chunk.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from .errors import InvalidInputError
from .images import check_rgb_uint8

__all__ = [
    "ATTACKS",
    "HARDER_ATTACKS",
    "jpeg",
    "webp",
    "resize",
    "crop_center",
    "crop_offset",
    "rotate",
    "flip_horizontal",
    "brightness",
    "contrast",
    "gaussian_noise",
    "gaussian_blur",
    "flip_png_pixel_byte",
    "PLATFORM_PIPELINES",
    "HARDER_PIPELINES",
    "fit_long_side",
    "png_roundtrip",
    "crop_aspect",
    "keystone",
]


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(check_rgb_uint8(image))


def _from_pil(im: Image.Image) -> np.ndarray:
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _check_quality(quality: int) -> int:
    if not 1 <= int(quality) <= 100:
        raise InvalidInputError(f"quality must be between 1 and 100; got {quality}.")
    return int(quality)


def _check_fraction(fraction: float, name: str = "fraction") -> float:
    if not 0.0 < fraction <= 1.0:
        raise InvalidInputError(f"{name} must be in (0, 1]; got {fraction}.")
    return float(fraction)


def _encode_decode(image: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    _to_pil(image).save(buf, format=fmt, quality=_check_quality(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return _from_pil(im)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress to JPEG at `quality` (Pillow defaults: 4:2:0 chroma subsampling) and decode.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    quality : int
        JPEG quality, 1-100.

    Returns
    -------
    (H, W, 3) uint8 ndarray

    Raises
    ------
    InvalidImageError
        If `image` is not RGB uint8.
    InvalidInputError
        If `quality` is outside 1-100.
    """
    return _encode_decode(image, "JPEG", quality)


def webp(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress to lossy WebP at `quality` and decode.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    quality : int
        WebP quality, 1-100.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    return _encode_decode(image, "WEBP", quality)


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Rescale both sides by `scale`: Lanczos when shrinking, bicubic when enlarging.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    scale : float
        Factor for both sides, > 0. Sides are rounded and at least 1 pixel.

    Returns
    -------
    (round(H * scale), round(W * scale), 3) uint8 ndarray

    Raises
    ------
    InvalidInputError
        If `scale` is not positive.
    """
    if not scale > 0:
        raise InvalidInputError(f"scale must be positive; got {scale}.")
    im = _to_pil(image)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    return _from_pil(im.resize(size, method))


def crop_center(image: np.ndarray, fraction: float) -> np.ndarray:
    """Keep the centre `fraction` of each side (0.8 keeps 64% of the area).

    Returns
    -------
    (round(H * fraction), round(W * fraction), 3) uint8 ndarray

    Raises
    ------
    InvalidInputError
        If `fraction` is not in (0, 1].
    """
    check_rgb_uint8(image)
    fraction = _check_fraction(fraction)
    height, width = image.shape[:2]
    h, w = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - h) // 2, (width - w) // 2
    return image[top : top + h, left : left + w].copy()


def crop_offset(image: np.ndarray, fraction: float) -> np.ndarray:
    """Remove `fraction` of the rows at the top and of the columns at the left (a grid shift).

    Returns
    -------
    (H - round(H * fraction), W - round(W * fraction), 3) uint8 ndarray

    Raises
    ------
    InvalidInputError
        If `fraction` is not in [0, 1).
    """
    check_rgb_uint8(image)
    if not 0.0 <= fraction < 1.0:
        raise InvalidInputError(f"fraction must be in [0, 1); got {fraction}.")
    height, width = image.shape[:2]
    top, left = round(height * fraction), round(width * fraction)
    return image[top:, left:].copy()


def _largest_inner_rectangle(width: int, height: int, radians: float) -> tuple[float, float]:
    """Width and height of the largest axis-aligned rectangle inside a rotated width x height one."""
    sin_a, cos_a = abs(math.sin(radians)), abs(math.cos(radians))
    long_side, short_side = max(width, height), min(width, height)
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = 0.5 * short_side
        if width >= height:
            return half / sin_a, half / cos_a
        return half / cos_a, half / sin_a
    cos_2a = cos_a * cos_a - sin_a * sin_a
    return (width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre (bicubic, counter-clockwise), then crop away the border.

    The result is the largest centred axis-aligned rectangle that holds only image
    content, less one pixel on each side so that no interpolated border remains.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    degrees : float
        Angle, counter-clockwise.

    Returns
    -------
    (h, w, 3) uint8 ndarray
        Smaller than the input unless `degrees` is a multiple of 360.
    """
    im = _to_pil(image)
    if degrees % 360 == 0:
        return np.array(image, copy=True)
    rotated = im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    inner_w, inner_h = _largest_inner_rectangle(im.width, im.height, math.radians(degrees))
    w = max(1, math.floor(inner_w) - 2)
    h = max(1, math.floor(inner_h) - 2)
    left, top = (im.width - w) // 2, (im.height - h) // 2
    return _from_pil(rotated.crop((left, top, left + w, top + h)))


def flip_horizontal(image: np.ndarray) -> np.ndarray:
    """Mirror left to right.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    return check_rgb_uint8(image)[:, ::-1].copy()


def brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale brightness with ``PIL.ImageEnhance.Brightness`` (1.0 leaves it unchanged).

    Raises
    ------
    InvalidInputError
        If `factor` is negative.
    """
    if factor < 0:
        raise InvalidInputError(f"factor must be >= 0; got {factor}.")
    return _from_pil(ImageEnhance.Brightness(_to_pil(image)).enhance(factor))


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale contrast with ``PIL.ImageEnhance.Contrast`` (1.0 leaves it unchanged).

    Raises
    ------
    InvalidInputError
        If `factor` is negative.
    """
    if factor < 0:
        raise InvalidInputError(f"factor must be >= 0; got {factor}.")
    return _from_pil(ImageEnhance.Contrast(_to_pil(image)).enhance(factor))


def gaussian_noise(image: np.ndarray, sigma: float, *, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation `sigma` (in 0-255 units), rounded and clipped.

    The same `seed` gives the same noise.

    Raises
    ------
    InvalidInputError
        If `sigma` is negative.
    """
    check_rgb_uint8(image)
    if sigma < 0:
        raise InvalidInputError(f"sigma must be >= 0; got {sigma}.")
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def gaussian_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Blur with ``PIL.ImageFilter.GaussianBlur(radius)``.

    Raises
    ------
    InvalidInputError
        If `radius` is negative.
    """
    if radius < 0:
        raise InvalidInputError(f"radius must be >= 0; got {radius}.")
    return _from_pil(_to_pil(image).filter(ImageFilter.GaussianBlur(radius)))


def flip_png_pixel_byte(png: bytes, *, offset: int = 12345) -> bytes:
    """Flip the lowest bit of one byte of a PNG's pixel data, keeping every other chunk as is.

    The IDAT data is inflated, one byte changed, deflated again and written as a single IDAT
    chunk (with a correct CRC). Signed metadata such as a C2PA ``caBX`` chunk stays
    byte-identical, so its content hash no longer matches.

    Parameters
    ----------
    png : bytes
        A complete PNG file.
    offset : int
        Index into the filtered scanline bytes (each row starts with its filter-type byte).

    Returns
    -------
    bytes
        The edited PNG.

    Raises
    ------
    InvalidInputError
        If `png` is not a PNG with pixel data, or `offset` is outside it.
    """
    data = bytes(png)
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidInputError("flip_png_pixel_byte needs the bytes of a PNG file.")
    chunks, pos = [], 8
    try:
        while pos + 8 <= len(data):
            length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
            chunks.append((ctype, data[pos + 8 : pos + 8 + length]))
            pos += 12 + length
        raw = bytearray(zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT")))
    except (struct.error, zlib.error) as exc:
        raise InvalidInputError(f"The PNG's pixel data cannot be read ({exc}); give a complete PNG file.") from exc
    if not 0 <= offset < len(raw):
        raise InvalidInputError(f"offset must be in [0, {len(raw)}) for this PNG; got {offset}.")
    raw[offset] ^= 0x01
    idat = zlib.compress(bytes(raw))
    out, written = [data[:8]], False
    for ctype, body in chunks:
        if ctype == b"IDAT":
            if written:
                continue
            body, written = idat, True
        out.append(struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body)))
    return b"".join(out)


def fit_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so that the longer side is `long_side` pixels, as a sharing platform fits uploads.

    Lanczos when shrinking, bicubic when enlarging (as :func:`resize`).

    Raises
    ------
    InvalidInputError
        If `long_side` is not positive.
    """
    if long_side <= 0:
        raise InvalidInputError(f"long_side must be positive; got {long_side}.")
    return resize(image, long_side / max(image.shape[:2]))


def png_roundtrip(image: np.ndarray) -> np.ndarray:
    """Encode as PNG and decode (lossless: the pixels come back unchanged)."""
    buf = io.BytesIO()
    _to_pil(image).save(buf, format="PNG", compress_level=1)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return _from_pil(im)


def crop_aspect(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the aspect ratio `width`:`height` (e.g. 16:9), keeping as much as possible.

    Raises
    ------
    InvalidInputError
        If either term is not positive.
    """
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"aspect terms must be positive; got {width}:{height}.")
    check_rgb_uint8(image)
    h, w = image.shape[:2]
    cw, ch = (w, round(w * height / width)) if w * height <= h * width else (round(h * width / height), h)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw].copy()


def keystone(image: np.ndarray, fraction: float) -> np.ndarray:
    """Perspective keystone: the top edge shrinks by `fraction` of the width (centred), bicubic.

    The output keeps the input's size; the two top corners move inwards by ``fraction / 2``
    of the width each (a photo of a screen or print taken slightly from below).

    Raises
    ------
    InvalidInputError
        If `fraction` is not in [0, 0.5).
    """
    if not 0 <= fraction < 0.5:
        raise InvalidInputError(f"fraction must be in [0, 0.5); got {fraction}.")
    im = _to_pil(image)
    w, h = im.size
    d = fraction * w / 2
    # Output corners (0,0), (w,0), (w,h), (0,h) come from these source points: the source's top
    # edge is stretched, so the picture's top appears narrower.
    src = [(-d, 0.0), (w + d, 0.0), (float(w), float(h)), (0.0, float(h))]
    dst = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    coeffs = _perspective_coefficients(dst, src)
    return _from_pil(im.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC))


def _perspective_coefficients(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> tuple[float, ...]:
    """The 8 coefficients mapping output points `dst` to input points `src` (PIL's convention)."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    rhs = np.array([c for pt in src for c in pt], dtype=np.float64)
    return tuple(float(c) for c in np.linalg.solve(np.array(rows, dtype=np.float64), rhs))


def _chain(*steps: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def apply(image: np.ndarray) -> np.ndarray:
        for step in steps:
            image = step(image)
        return image

    return apply


def _none(image: np.ndarray) -> np.ndarray:
    return np.array(check_rgb_uint8(image), copy=True)


#: Every attack of the robustness benchmark, by name, in report order.
#: Combined attacks apply their steps in the order their name gives.
ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": _none,
    "jpeg90": lambda im: jpeg(im, 90),
    "jpeg75": lambda im: jpeg(im, 75),
    "jpeg50": lambda im: jpeg(im, 50),
    "webp80": lambda im: webp(im, 80),
    "resize0.5": lambda im: resize(im, 0.5),
    "resize0.75": lambda im: resize(im, 0.75),
    "resize1.5": lambda im: resize(im, 1.5),
    "crop80": lambda im: crop_center(im, 0.80),
    "crop71": lambda im: crop_center(im, 0.71),
    "crop_offset5": lambda im: crop_offset(im, 0.05),
    "rotate2": lambda im: rotate(im, 2),
    "rotate5": lambda im: rotate(im, 5),
    "flip": flip_horizontal,
    "brightness0.7": lambda im: brightness(im, 0.7),
    "brightness1.3": lambda im: brightness(im, 1.3),
    "contrast0.7": lambda im: contrast(im, 0.7),
    "noise5": lambda im: gaussian_noise(im, 5, seed=0),
    "blur1": lambda im: gaussian_blur(im, 1),
    "resize0.75+jpeg75": _chain(lambda im: resize(im, 0.75), lambda im: jpeg(im, 75)),
    "jpeg60+crop71+brightness0.5": _chain(
        lambda im: jpeg(im, 60), lambda im: crop_center(im, 0.71), lambda im: brightness(im, 0.5)
    ),
}

#: Attacks held to a lower recovery bar than the others, with that bar (fraction of images).
HARDER_ATTACKS: dict[str, float] = {"jpeg60+crop71+brightness0.5": 0.80}

#: What sharing platforms do to generator outputs (1-16 MP), by name, in report order: fit the
#: long side to a platform's size and re-encode; re-share over several generations; upscale;
#: photograph at a slight angle; crop to a video aspect ratio or a feed's square or 4:5, and fit.
PLATFORM_PIPELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{
        f"fit{side}+{codec}": _chain(lambda im, s=side: fit_long_side(im, s), encode)
        for side in (1080, 720, 1600)
        for codec, encode in (
            ("jpeg60", lambda im: jpeg(im, 60)),
            ("jpeg75", lambda im: jpeg(im, 75)),
            ("jpeg85", lambda im: jpeg(im, 85)),
            ("webp70", lambda im: webp(im, 70)),
            ("png", png_roundtrip),
        )
    },
    "reshare2": _chain(
        lambda im: fit_long_side(im, 1600), lambda im: jpeg(im, 80), lambda im: resize(im, 0.75), lambda im: jpeg(im, 70)
    ),
    "reshare3": _chain(
        lambda im: fit_long_side(im, 1600), lambda im: jpeg(im, 80), lambda im: resize(im, 0.75), lambda im: jpeg(im, 70),
        lambda im: webp(im, 70),
    ),
    "upscale2.5+jpeg85": _chain(lambda im: resize(im, 2.5), lambda im: jpeg(im, 85)),
    "keystone3%+jpeg85": _chain(lambda im: keystone(im, 0.03), lambda im: jpeg(im, 85)),
    "crop16:9+fit1280+jpeg80": _chain(lambda im: crop_aspect(im, 16, 9), lambda im: fit_long_side(im, 1280), lambda im: jpeg(im, 80)),
    "crop9:16+fit1280+jpeg80": _chain(lambda im: crop_aspect(im, 9, 16), lambda im: fit_long_side(im, 1280), lambda im: jpeg(im, 80)),
    # Instagram's feed formats: a landscape output cropped to a square or to 4:5 portrait loses
    # part of its long side, so the tile comes back larger on the canonical grid (1.5x for 3:2).
    "crop1:1+fit1080+jpeg75": _chain(lambda im: crop_aspect(im, 1, 1), lambda im: fit_long_side(im, 1080), lambda im: jpeg(im, 75)),
    "crop4:5+fit1080+jpeg75": _chain(lambda im: crop_aspect(im, 4, 5), lambda im: fit_long_side(im, 1080), lambda im: jpeg(im, 75)),
}

#: Platform pipelines held to a lower recovery bar (three generations of re-sharing), with that bar.
HARDER_PIPELINES: dict[str, float] = {"reshare3": 0.90}
