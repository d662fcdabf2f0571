"""Decode and encode images as ``(H, W, 3) uint8`` RGB arrays.

Everything else in provenance works on such arrays. Decoding honours the EXIF
orientation, flattens palettes, widens grayscale to RGB, and refuses before any
pixel is decoded an image with more pixels than a limit, one whose decode would
take more memory than a budget, or a small file declaring a huge image
(decompression bombs). Whatever Pillow raises on a hostile file becomes
:class:`~provenance.errors.InvalidImageError`.

This is also the one place that reads a source (:func:`read_source`: a path, bytes or a
binary file) and guesses its type from its first bytes (:func:`detect_mime_type`).
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
    "DEFAULT_MAX_DECODE_BYTES",
    "DECODE_BYTES_PER_PIXEL",
    "MAX_PIXELS_PER_BYTE",
    "RATIO_CHECK_MIN_PIXELS",
    "SNIFF_BYTES",
    "MIN_SIDE",
    "REDUCING_GAP",
    "PNG_COMPRESS_LEVEL",
    "WEBP_METHOD",
    "ImageSource",
    "SourceBytes",
    "read_source",
    "detect_mime_type",
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
#: Default memory budget of one decode: 1 GiB (see :data:`DECODE_BYTES_PER_PIXEL`).
DEFAULT_MAX_DECODE_BYTES = 1024 * 1024 * 1024
#: Peak memory of a full-size verification, per pixel: the decoder's buffer, Pillow's 4-byte
#: pixels, the RGB array and the detector's work on it (measured: benchmarks/RESULTS.md, bombs).
DECODE_BYTES_PER_PIXEL = 16
#: Most pixels a file may declare per byte of file (above :data:`RATIO_CHECK_MIN_PIXELS`).
#: Photographs hold under 50 pixels a byte and flat graphics a few hundred; a 38-byte WebP
#: declaring 119 MP declares 3 million.
MAX_PIXELS_PER_BYTE = 256
#: Images with fewer pixels than this (4 MP) are cheap to decode whatever their file size.
RATIO_CHECK_MIN_PIXELS = 1 << 22
#: Bytes read from the start of a file to detect its type.
SNIFF_BYTES = 4096
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

_BMFF_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4V ": "video/mp4",
}

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


@dataclass(frozen=True)
class SourceBytes:
    """The bytes of a source and the file name they came with (None for bytes)."""

    data: bytes
    name: str | None

    def __repr__(self) -> str:  # never the bytes
        return f"SourceBytes(name={self.name!r}, size={len(self.data)})"

    @property
    def mime(self) -> str | None:
        """The type its first bytes reveal (:func:`detect_mime_type`)."""
        return detect_mime_type(self.data[:SNIFF_BYTES])


def read_source(source: ImageSource, *, name: str | None = None) -> SourceBytes:
    """Read a path, bytes or binary file object into memory.

    Parameters
    ----------
    source : path, bytes or binary file
    name : str, optional
        The name to report; default the path's file name (or the file object's).

    Returns
    -------
    SourceBytes

    Raises
    ------
    InvalidInputError
        If it is empty, a missing path, a folder, not readable (permissions) or of another type.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InvalidInputError("The file is empty (0 bytes); pass the file itself.")
        return SourceBytes(data, name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such file.") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{path} is a folder; pass the files in it one by one.") from None
        except PermissionError:
            raise InvalidInputError(f"{path}: permission denied; check the file's permissions.") from None
        except OSError as exc:
            raise InvalidInputError(f"Cannot read {path} ({exc.strerror or exc}).") from exc
        if not data:
            raise InvalidInputError(f"{path}: the file is empty (0 bytes).")
        return SourceBytes(data, name or path.name)
    if hasattr(source, "read"):
        try:
            data = source.read()
        except UnicodeDecodeError:
            raise InvalidInputError("The file object is open in text mode; open the file in binary mode ('rb').") from None
        except (OSError, ValueError) as exc:  # ValueError: a closed file
            raise InvalidInputError(f"Cannot read the file object ({exc}).") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidInputError("The file object gave text, not bytes; open the file in binary mode ('rb').")
        if not data:
            raise InvalidInputError("The file is empty (0 bytes); pass the file itself.")
        fname = getattr(source, "name", None)
        return SourceBytes(bytes(data), name or (Path(fname).name if isinstance(fname, str) else None))
    raise InvalidInputError(
        f"Cannot read a file from {type(source).__name__}; pass a path or the file's bytes (or a binary file)."
    )


def detect_mime_type(head: bytes) -> str | None:
    """Guess a file's MIME type from its first bytes (magic numbers).

    Parameters
    ----------
    head : bytes
        The start of the file; :data:`SNIFF_BYTES` bytes are plenty.

    Returns
    -------
    str or None
        e.g. ``"image/jpeg"``, or None when the bytes match no known format.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/avi"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "image/jxl"
    if head[4:8] == b"ftyp":
        return _BMFF_BRANDS.get(head[8:12], "video/mp4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska, or WebM (its DocType says which)
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    text = head[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml") or text.startswith(b"<svg") or text.startswith(b"<!doctype svg"):
        if b"<svg" in text:
            return "image/svg+xml"
    return None


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"The image has more pixels than allowed, over the limit of {max_pixels:,}; downscale it or raise PROVENANCE_MAX_PIXELS."
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            "This file is not an image format provenance can decode (PNG, JPEG, WebP, TIFF, GIF, BMP, ...)."
        ) from exc
    except MemoryError as exc:
        raise ImageTooLargeError("The image is too large to open in the memory available; send a smaller one.") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise anything on hostile headers
        raise InvalidImageError(f"The image could not be read ({type(exc).__name__}: {exc}).") from exc


def _check_cost(im: Image.Image, file_bytes: int, *, max_pixels: int, max_decode_bytes: int, drafted: bool) -> None:
    """Refuse, before decoding, an image over the pixel limit, the memory budget or the pixels-per-byte ratio."""
    width, height = im.size
    pixels = width * height
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} = {pixels:,} pixels, over the limit of "
            f"{max_pixels:,}; downscale it or raise PROVENANCE_MAX_PIXELS."
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError(f"The image is {width}x{height} pixels; it is too small to analyse.")
    if pixels >= RATIO_CHECK_MIN_PIXELS and pixels > MAX_PIXELS_PER_BYTE * file_bytes:
        raise ImageTooLargeError(
            f"The file is {file_bytes:,} bytes but declares {width}x{height} = {pixels:,} pixels (over "
            f"{MAX_PIXELS_PER_BYTE:,} per byte): a decompression bomb, not a picture. Re-export the image."
        )
    need = pixels * DECODE_BYTES_PER_PIXEL
    if not drafted and need > max_decode_bytes:
        raise ImageTooLargeError(
            f"Decoding this {width}x{height} image would take ~{need / 2**20:,.0f} MiB, over the budget of "
            f"{max_decode_bytes / 2**20:,.0f} MiB a request; downscale it or raise PROVENANCE_MAX_DECODE_MB."
        )


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


def _replaced(old: Image.Image, new: Image.Image) -> Image.Image:
    """`new`, having closed `old` when it is another image (its pixels are not needed any more)."""
    if new is not old:
        old.close()
    return new


def _decode(
    source: ImageSource, *, max_pixels: int, keep_alpha: bool, max_side: int | None, shrink_to: int | None,
    max_decode_bytes: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoded pixels, and (with `shrink_to`) those pixels shrunk by :func:`shrink_image`."""
    _allow_in_pillow(max_pixels)
    data = read_source(source).data
    im = _open(data, max_pixels)
    shrunk = None
    try:
        # JPEG draft mode decodes at 1/2 to 1/8 scale: its cost is not the full size's.
        drafted = max_side is not None and im.format == "JPEG"
        _check_cost(im, len(data), max_pixels=max_pixels, max_decode_bytes=max_decode_bytes, drafted=drafted)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                if max_side is None:
                    im.load()
                else:
                    # reducing_gap=1.0 lets draft mode go down to max_side itself (Pillow's
                    # default of 2.0 stops at twice that): 3x faster on 2048 px JPEGs.
                    im.thumbnail((max_side, max_side), reducing_gap=REDUCING_GAP)
                if _needs_transpose(im):
                    im = _replaced(im, ImageOps.exif_transpose(im))
                im = _replaced(im, _to_uint8(im))
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (
                    im.mode == "P" and "transparency" in im.info
                )
                mode = "RGBA" if (keep_alpha and has_alpha) else "RGB"
                # Free the decoded pixels before the array is made from the converted ones.
                out = im = im if im.mode == mode else _replaced(im, im.convert(mode))
                arr = np.ascontiguousarray(_as_array(out), dtype=np.uint8)
                if shrink_to is not None:
                    # The same pixels as shrink_image(arr), without copying arr back into an image.
                    shrunk = arr if max(arr.shape[:2]) <= shrink_to else _as_array(_shrink_in_place(out, shrink_to))
        except MemoryError as exc:
            raise ImageTooLargeError("The image is too large to decode in the memory available; send a smaller one.") from exc
        except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise anything on hostile data (AVIF: RuntimeError)
            raise InvalidImageError(
                f"The image data is corrupt or truncated ({type(exc).__name__}: {exc}); re-export the original file."
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
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> np.ndarray:
    """Decode an image file to an RGB (or RGBA) uint8 array.

    Parameters
    ----------
    source : path, bytes or binary file
        Any file Pillow can read. The first frame of animations is used.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.
    max_decode_bytes : int
        Refuse images whose decode would take more memory than this (estimated as pixels times
        :data:`DECODE_BYTES_PER_PIXEL`; JPEGs decoded in draft mode for `max_side` are exempt).
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
    InvalidInputError
        If the source is empty, a missing path, a folder, unreadable or of another type.
    InvalidImageError
        If the file is truncated, corrupt or not an image.
    ImageTooLargeError
        If it has more than `max_pixels` pixels, would take more than `max_decode_bytes` to
        decode, or declares more than :data:`MAX_PIXELS_PER_BYTE` pixels per byte of file.
    """
    return _decode(
        source, max_pixels=max_pixels, keep_alpha=keep_alpha, max_side=max_side, shrink_to=None,
        max_decode_bytes=max_decode_bytes,
    )[0]


def decode_image_and_shrink(
    source: ImageSource, *, shrink_to: int, max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
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
    max_decode_bytes : int
        Refuse images whose decode would take more memory than this.

    Returns
    -------
    DecodedImage

    Raises
    ------
    InvalidInputError
        If the source is empty, a missing path, a folder, unreadable or of another type.
    InvalidImageError
        If the file is truncated, corrupt or not an image.
    ImageTooLargeError
        Over `max_pixels`, `max_decode_bytes` or :data:`MAX_PIXELS_PER_BYTE` (see :func:`decode_image`).
    """
    pixels, shrunk = _decode(
        source, max_pixels=max_pixels, keep_alpha=False, max_side=None, shrink_to=shrink_to,
        max_decode_bytes=max_decode_bytes,
    )
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
