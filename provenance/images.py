"""Decode and encode images as ``(H, W, 3) uint8`` RGB arrays.

Everything else in provenance works on such arrays. Decoding honours the EXIF
orientation, flattens palettes, widens grayscale to RGB, and refuses images
with more pixels than a limit before any pixel is decoded (decompression
bombs).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeError, InvalidImageError, InvalidInputError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MIN_SIDE",
    "REDUCING_GAP",
    "PNG_COMPRESS_LEVEL",
    "WEBP_METHOD",
    "ImageSource",
    "DecodedImage",
    "check_rgb_uint8",
    "check_image_array",
    "decode_image",
    "decode_image_and_shrink",
    "shrink_image",
    "encode_image",
    "save_image",
    "image_format",
]

#: Default pixel limit: 120 megapixels, above any camera or generator output.
DEFAULT_MAX_PIXELS = 120_000_000
#: Smallest side length, in pixels, that provenance accepts for analysis.
MIN_SIDE = 2
#: ``reducing_gap`` of every shrink here: reduce() by the integer factor, then resample the rest.
REDUCING_GAP = 1.0
#: zlib level of PNG output. Pillow's default, 6, takes ~0.7 s on a 1024x1024 photograph
#: (a marked image has little redundancy left for the slower levels to find); 3 takes ~0.2 s
#: for ~6% more bytes, and 9 takes ~2.3 s to save 3%. See benchmarks/RESULTS.md (stamp-verify).
PNG_COMPRESS_LEVEL = 3
#: libwebp effort (0-6) of WebP output. Pillow's default, 4, takes ~0.23 s on a 1024x1024
#: photograph at quality 95; 2 takes ~0.11 s for a file of the same size and 0.5 dB less PSNR
#: (~44 dB, invisible).
WEBP_METHOD = 2

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

_FORMAT_BY_SUFFIX = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".avif": "AVIF",
}


def check_rgb_uint8(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Check that `image` is an ``(H, W, 3) uint8`` array and return it.

    Raises
    ------
    InvalidImageError
        If it is not a NumPy array of that shape and dtype, or has a zero side.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"{name} must be a NumPy array of shape (H, W, 3) and dtype uint8; "
            f"got {type(image).__name__}. Decode files with provenance.images.decode_image."
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidImageError(
            f"{name} must be RGB uint8 of shape (H, W, 3); got {image.dtype} {image.shape}."
        )
    if min(image.shape[:2]) < MIN_SIDE:
        raise InvalidImageError(f"{name} is {image.shape[1]}x{image.shape[0]} pixels; it is too small to analyse.")
    return image


def check_image_array(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Check an ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 array and return it.

    Grayscale, RGB and RGBA are all accepted; channels are last.

    Raises
    ------
    InvalidImageError
        On any other type, shape or dtype.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"{name} must be a NumPy uint8 array (H, W), (H, W, 3) or (H, W, 4); got {type(image).__name__}."
        )
    ok_shape = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    if not ok_shape or image.dtype != np.uint8:
        raise InvalidImageError(
            f"{name} must be uint8 of shape (H, W), (H, W, 3) or (H, W, 4); got {image.dtype} {image.shape}. "
            "Convert with np.clip(x, 0, 255).astype(np.uint8) if it holds 0-255 values."
        )
    if min(image.shape[:2]) < MIN_SIDE:
        raise InvalidImageError(f"{name} is {image.shape[1]}x{image.shape[0]} pixels; it is too small to analyse.")
    return image


def _allow_in_pillow(max_pixels: int) -> None:
    """Let Pillow open every image our own limit allows.

    Pillow refuses images over ``2 * Image.MAX_IMAGE_PIXELS`` (179 MP by default) while
    opening them, before our check could answer. When an operator raises
    ``PROVENANCE_MAX_PIXELS`` above that, Pillow's process-wide guard is raised to match; it
    is never lowered, and our limit is still checked before any pixel is decoded.
    """
    guard = Image.MAX_IMAGE_PIXELS
    if guard is not None and 2 * guard < max_pixels:
        Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise InvalidImageError("The file is empty (0 bytes); upload the image itself.")
        fp: object = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"{path}: no such file.")
        if path.stat().st_size == 0:
            raise InvalidImageError(f"{path}: the file is empty (0 bytes).")
        fp = path
    elif hasattr(source, "read"):
        fp = source
    else:
        raise InvalidImageError(
            f"Cannot read an image from {type(source).__name__}; pass a path, bytes or a binary file."
        )
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)  # type: ignore[arg-type]
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"The image is too large to decode safely ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            "This file is not an image format provenance can decode (PNG, JPEG, WebP, TIFF, GIF, BMP, ...)."
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"The image could not be read: {exc}.") from exc


def _needs_transpose(im: Image.Image) -> bool:
    """True when EXIF orientation asks for a turn or flip (exif_transpose copies the image even when not)."""
    return im.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None)


_EXIF_ORIENTATION = 0x0112


def _to_uint8(im: Image.Image) -> Image.Image:
    """Bring 16-bit and float modes to 8 bits per channel without clipping."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L")
    return im


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded once: full-size pixels, and a copy shrunk from the same decode.

    Attributes
    ----------
    pixels : (H, W, 3) uint8 ndarray
        Upright RGB, channels last, as :func:`decode_image` returns them.
    shrunk : (h, w, 3) uint8 ndarray
        ``shrink_image(pixels, max_side)``, made without converting `pixels` back to an image;
        `pixels` itself when it fits already.
    """

    pixels: np.ndarray
    shrunk: np.ndarray


def _shrink_in_place(im: Image.Image, max_side: int) -> Image.Image:
    """Shrink a loaded image so that its longer side is at most `max_side` (aspect kept).

    ``reduce()`` by the integer factor first, then resample the rest (1024 -> 512 px: 2.5 ms
    instead of 24 ms for a full bicubic pass).
    """
    im.thumbnail((max_side, max_side), reducing_gap=REDUCING_GAP)
    return im


def shrink_image(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an RGB array so that its longer side is at most `max_side`, keeping its aspect ratio.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB, channels last. Not modified.
    max_side : int

    Returns
    -------
    (h, w, 3) uint8 ndarray
        `image` itself when it fits already.
    """
    if max(image.shape[:2]) <= max_side:
        return image
    return _as_array(_shrink_in_place(Image.fromarray(image), max_side))


def _as_array(im: Image.Image) -> np.ndarray:
    """``np.asarray(im)`` of an RGB or RGBA image, packed in one piece.

    ``np.asarray`` goes through ``Image.tobytes()``, which packs 64 KB at a time and joins the
    pieces: some 50 encoder calls and a second copy of the whole image (a third of the
    conversion's time for 1024x1024 RGB). The same raw encoder (Pillow's ``_getencoder``, as
    ``tobytes`` uses it), given a buffer the size of the image, packs it in one call; the bytes
    are the same. Anything unexpected falls back to ``np.asarray``.
    """
    get_encoder = getattr(Image, "_getencoder", None)
    if im.mode not in ("RGB", "RGBA") or get_encoder is None:
        return np.asarray(im)
    im.load()  # a draft-mode JPEG whose draft needed no resampling is not loaded yet
    bands = len(im.mode)
    size = im.width * im.height * bands
    encoder = get_encoder(im.mode, "raw", im.mode)
    try:
        encoder.setimage(im.im, (0, 0, *im.size))
        _, status, data = encoder.encode(size)
    finally:
        encoder.cleanup()
    if status != 1 or len(data) != size:  # not done in one call: Pillow's own way
        return np.asarray(im)
    return np.frombuffer(data, dtype=np.uint8).reshape(im.height, im.width, bands)


def _decode(
    source: ImageSource, *, max_pixels: int, keep_alpha: bool, max_side: int | None, shrink_to: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoded pixels, and (with `shrink_to`) those pixels shrunk by :func:`shrink_image`."""
    _allow_in_pillow(max_pixels)
    im = _open(source)
    shrunk = None
    try:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"The image is {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{max_pixels:,}; downscale it or raise PROVENANCE_MAX_PIXELS."
            )
        if min(width, height) < MIN_SIDE:
            raise InvalidImageError(f"The image is {width}x{height} pixels; it is too small to analyse.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                if max_side is None:
                    im.load()
                else:
                    # reducing_gap=1.0 lets draft mode go down to max_side itself (Pillow's
                    # default of 2.0 stops at twice that): 3x faster on 2048 px JPEGs.
                    im.thumbnail((max_side, max_side), reducing_gap=REDUCING_GAP)
                im = ImageOps.exif_transpose(im) if _needs_transpose(im) else im
                im = _to_uint8(im)
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (
                    im.mode == "P" and "transparency" in im.info
                )
                mode = "RGBA" if (keep_alpha and has_alpha) else "RGB"
                out = im if im.mode == mode else im.convert(mode)
                arr = np.ascontiguousarray(_as_array(out), dtype=np.uint8)
                if shrink_to is not None:
                    # The same pixels as shrink_image(arr), without copying arr back into an image.
                    shrunk = arr if max(arr.shape[:2]) <= shrink_to else _as_array(_shrink_in_place(out, shrink_to))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise InvalidImageError(
                f"The image data is corrupt or truncated ({exc}); re-export the original file."
            ) from exc
    finally:
        im.close()
    return arr, shrunk


def decode_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_alpha: bool = False,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode an image file to an RGB (or RGBA) uint8 array.

    Parameters
    ----------
    source : path, bytes or binary file
        Any file Pillow can read. The first frame of animations is used.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.
    keep_alpha : bool
        Return ``(H, W, 4)`` when the image has transparency.
    max_side : int, optional
        Shrink so that the longer side is at most this, while decoding: JPEGs are decoded
        at 1/2, 1/4 or 1/8 scale (Pillow's draft mode), then resampled the rest of the way.

    Returns
    -------
    (H, W, 3) or (H, W, 4) uint8 ndarray
        Upright (EXIF orientation applied), channels last.

    Raises
    ------
    InvalidImageError
        If the file is empty, truncated, corrupt or not an image.
    ImageTooLargeError
        If it has more than `max_pixels` pixels.
    """
    return _decode(source, max_pixels=max_pixels, keep_alpha=keep_alpha, max_side=max_side, shrink_to=None)[0]


def decode_image_and_shrink(
    source: ImageSource, *, shrink_to: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodedImage:
    """Decode an image file to RGB, and shrink a copy for hashing from the same decode.

    Equal to ``pixels = decode_image(source)`` and ``shrink_image(pixels, shrink_to)``, but
    the shrink starts from the decoded image instead of converting `pixels` back into one.

    Parameters
    ----------
    source : path, bytes or binary file
    shrink_to : int
        Longer side, in pixels, of :attr:`DecodedImage.shrunk`.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.

    Returns
    -------
    DecodedImage

    Raises
    ------
    InvalidImageError
        If the file is empty, truncated, corrupt or not an image.
    ImageTooLargeError
        If it has more than `max_pixels` pixels.
    """
    pixels, shrunk = _decode(source, max_pixels=max_pixels, keep_alpha=False, max_side=None, shrink_to=shrink_to)
    assert shrunk is not None
    return DecodedImage(pixels, shrunk)


def image_format(path: str | os.PathLike) -> str:
    """Return the Pillow format name for a file name's suffix (``"PNG"``, ``"JPEG"``, ...).

    Raises
    ------
    InvalidInputError
        If the suffix names no format provenance writes.
    """
    suffix = Path(path).suffix.lower()
    try:
        return _FORMAT_BY_SUFFIX[suffix]
    except KeyError:
        raise InvalidInputError(
            f"Cannot tell the output format from {str(path)!r}; use .png, .jpg, .webp or .tif."
        ) from None


def encode_image(image: np.ndarray, fmt: str, *, quality: int = 95) -> bytes:
    """Encode an ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 array to file bytes.

    Parameters
    ----------
    fmt : str
        Pillow format name, e.g. ``"PNG"``, ``"JPEG"``, ``"WEBP"``.
    quality : int
        JPEG/WebP quality (1-100). PNG is written at :data:`PNG_COMPRESS_LEVEL` and WebP with
        :data:`WEBP_METHOD`.
    """
    check_image_array(image)
    fmt = fmt.upper()
    if fmt == "JPG":
        fmt = "JPEG"
    im = Image.fromarray(image)
    if fmt == "JPEG" and im.mode == "RGBA":
        raise InvalidInputError("JPEG cannot hold transparency; save as PNG or WebP instead.")
    buf = io.BytesIO()
    kwargs: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP", "AVIF"):
        kwargs["quality"] = int(quality)
    if fmt == "PNG":
        kwargs["compress_level"] = PNG_COMPRESS_LEVEL
    elif fmt == "WEBP":
        kwargs["method"] = WEBP_METHOD
    try:
        im.save(buf, format=fmt, **kwargs)
    except (KeyError, ValueError, OSError) as exc:
        raise InvalidInputError(f"Cannot write format {fmt!r}: {exc}") from exc
    return buf.getvalue()


def save_image(image: np.ndarray, path: str | os.PathLike, *, quality: int = 95) -> None:
    """Write an image array to `path`, format from the suffix, atomically.

    The file appears complete or not at all (written to a temporary name, then renamed).
    """
    data = encode_image(image, image_format(path), quality=quality)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
