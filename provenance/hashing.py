"""Perceptual (PDQ) and exact (MD5, SHA-256) hashes of images.

PDQ is Meta's 256-bit perceptual hash with a 0-100 quality score. This is a
vectorised NumPy port of the reference algorithm (facebook/ThreatExchange,
``pdq/``), so hashes interoperate with StopNCII, NCMEC and ThreatExchange lists:

1. shrink to at most 512 px on the longer side, as the reference tools do
   (JPEGs are decoded at reduced scale with Pillow's draft mode);
2. RGB -> luminance (0.299, 0.587, 0.114);
3. a Jarosz tent filter (two X/Y passes of box filters with the reference's
   window size) and decimation to 64x64;
4. quality from the quantised gradient sum of the 64x64 image;
5. the 16x16 low-frequency block of the 2-D DCT (the reference's 16x64 matrix);
6. one bit per coefficient: above the median or not.

Two copies of an image match when their hashes differ in at most ~31 of 256
bits. A hash with quality below :data:`MIN_QUALITY` comes from a nearly flat
image and is *unmatchable*: it must not be reported as "no match".

The eight dihedral variants (rotations and mirror images) come from sign flips
and transposition of the 16x16 DCT block, without rehashing the pixels.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy.ndimage import uniform_filter1d

from .errors import InvalidInputError
from .images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS, ImageSource, check_rgb_uint8, decode_image, shrink_image

__all__ = [
    "MIN_QUALITY",
    "HASH_BITS",
    "MAX_SIDE",
    "DIHEDRAL_NAMES",
    "PerceptualHash",
    "FileDigests",
    "pdq_hash",
    "pdq_hash_file",
    "pdq_dihedral_hashes",
    "pdq_dihedral_hashes_file",
    "hamming_distance",
    "hamming_distances",
    "pack_hashes",
    "file_digests",
]

logger = logging.getLogger(__name__)

#: Hashes with a lower quality come from near-flat images and are unmatchable.
MIN_QUALITY = 50
#: Bits in a PDQ hash.
HASH_BITS = 256
#: Longer side, in pixels, images are shrunk to before hashing (as the reference tools do).
MAX_SIDE = 512
#: Names of the variants :func:`pdq_dihedral_hashes` returns, in order (the reference's order).
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)

_HEX_CHARS = HASH_BITS // 4
_DIGEST_BYTES = HASH_BITS // 8
_MIN_HASHABLE_SIDE = 5  # the reference returns an all-zero hash, quality 0, below this
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# The reference's 16x64 DCT matrix: rows are frequencies 1..16 of a 64-point DCT-II.
_DCT = (
    np.sqrt(2.0 / 64.0)
    * np.cos((np.pi / 2.0 / 64.0) * np.arange(1, 17)[:, None] * (2 * np.arange(64)[None, :] + 1))
).astype(np.float32)

# Sign patterns of the dihedral transforms on the 16x16 DCT block (reference dct16OriginalTo*).
_ODD = (np.arange(16) & 1).astype(bool)
_SIGN_ODD_PLUS = np.where(_ODD, 1.0, -1.0).astype(np.float32)  # +1 on odd indices, -1 on even
_ROW_SIGN = _SIGN_ODD_PLUS[:, None]
_COL_SIGN = _SIGN_ODD_PLUS[None, :]
_CHECKER = np.where((np.arange(16)[:, None] + np.arange(16)[None, :]) & 1, -1.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class PerceptualHash:
    """A 256-bit PDQ hash and the quality of the image it came from.

    ``a - b`` is the Hamming distance (0-256). ``str(h)`` and :meth:`to_hex`
    give the 64-character hex form used by the reference and by hash lists.

    Attributes
    ----------
    digest : bytes
        32 bytes, in the reference's hex order (bit 255 first).
    quality : int
        0-100; below :data:`MIN_QUALITY` the hash is unmatchable.
    """

    digest: bytes
    quality: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != _DIGEST_BYTES:
            raise InvalidInputError(
                f"A PDQ digest is {_DIGEST_BYTES} bytes; got {type(self.digest).__name__} "
                f"of length {len(self.digest) if hasattr(self.digest, '__len__') else '?'}. "
                "Build hashes with pdq_hash() or PerceptualHash.from_hex()."
            )
        if isinstance(self.quality, bool) or not isinstance(self.quality, (int, np.integer)):
            raise InvalidInputError(f"quality must be a whole number 0-100; got {self.quality!r}.")
        if not 0 <= int(self.quality) <= 100:
            raise InvalidInputError(f"quality must be between 0 and 100; got {self.quality}.")
        object.__setattr__(self, "quality", int(self.quality))

    @classmethod
    def from_hex(cls, text: str, *, quality: int = 100) -> "PerceptualHash":
        """Parse the 64-character hex form (as printed by the reference tools).

        Parameters
        ----------
        text : str
            64 hex digits, either case; surrounding whitespace is ignored.
        quality : int
            Quality to attach; hash lists usually carry it in a separate column.

        Raises
        ------
        InvalidInputError
            If `text` is not a string of exactly 64 hex digits.
        """
        if not isinstance(text, str):
            raise InvalidInputError(f"A PDQ hash in hex must be a string; got {type(text).__name__}.")
        stripped = text.strip()
        if len(stripped) != _HEX_CHARS:
            raise InvalidInputError(
                f"A PDQ hash is {_HEX_CHARS} hex digits; got {len(stripped)} characters ({stripped[:80]!r})."
            )
        try:
            digest = bytes.fromhex(stripped)
        except ValueError:
            raise InvalidInputError(
                f"A PDQ hash may contain only hex digits 0-9 and a-f; got {stripped!r}."
            ) from None
        return cls(digest, quality)

    def to_hex(self) -> str:
        """Return the 64-character lowercase hex form, bit-compatible with the reference."""
        return self.digest.hex()

    def __str__(self) -> str:
        return self.to_hex()

    def __sub__(self, other: "PerceptualHash") -> int:
        if not isinstance(other, PerceptualHash):
            return NotImplemented
        return hamming_distance(self, other)

    @property
    def is_matchable(self) -> bool:
        """True if the quality is at least :data:`MIN_QUALITY`."""
        return self.quality >= MIN_QUALITY

    @property
    def bits(self) -> np.ndarray:
        """The hash as a ``(16, 16)`` bool array: ``bits[i, j]`` is DCT coefficient (i+1, j+1) > median."""
        flat = np.unpackbits(np.frombuffer(self.digest, dtype=np.uint8))[::-1]
        return flat.reshape(16, 16).astype(bool)


@dataclass(frozen=True)
class FileDigests:
    """Exact hashes of a file's bytes, as lowercase hex."""

    md5: str
    sha256: str


# ---------------------------------------------------------------------------
# The reference algorithm, vectorised.


def _jarosz_window(old_side: int, new_side: int = 64) -> int:
    """The reference's ``computeJaroszFilterWindowSize``: ceil(old / (2 * new))."""
    return (old_side + 2 * new_side - 1) // (2 * new_side)


def _box_rows(x: np.ndarray, window: int, out: np.ndarray) -> np.ndarray:
    """The reference's ``box1DFloat`` along each row of `x`, written to `out` (which may be `x`).

    Output ``i`` is the mean of inputs ``i - (window - half) .. i + half - 1``
    with ``half = (window + 2) // 2``, clipped to the array: a window that
    shrinks at the ends, exactly as the reference's four phases compute it.

    Parameters
    ----------
    x : (M, N) float32 or float64 ndarray
    window : int
    out : (M, N) float64 ndarray

    Returns
    -------
    (M, N) float64 ndarray
        `out`.
    """
    n = x.shape[1]
    half = (window + 2) // 2
    # uniform_filter1d with zero padding gives sum / window over the same (uncentred) span;
    # origin -1 moves even windows one step right, as the reference's are. It reads float32
    # rows as float64, so no converted copy of the image is needed.
    uniform_filter1d(x, window, axis=1, output=out, mode="constant", cval=0.0, origin=(window % 2) - 1)
    # Rescale to a mean over the clipped window, which is shorter only near the ends: the
    # factor window / count is exactly 1 elsewhere, so only those few columns are touched.
    idx = np.arange(n)
    count = np.minimum(idx + half - 1, n - 1) - np.maximum(idx - (window - half), 0) + 1
    ends = np.flatnonzero(count != window)
    if ends.size:
        out[:, ends] *= window / count[ends]
    return out


def _downsample_64(luma: np.ndarray) -> np.ndarray:
    """Jarosz-filter `luma` (two row/column passes) and decimate to 64x64, as the reference does."""
    rows, cols = luma.shape
    if rows == 64 and cols == 64:
        return luma.astype(np.float64)
    win_along_rows = _jarosz_window(cols)
    win_along_cols = _jarosz_window(rows)
    # Decimation samples centres: index int((k + 0.5) * n / 64).
    keep_rows = (((np.arange(64) + 0.5) * rows) / 64).astype(np.intp)
    keep_cols = (((np.arange(64) + 0.5) * cols) / 64).astype(np.intp)
    # Box filters along different axes commute, so the reference's row, column, row, column
    # passes equal two row passes then two column passes. After the row passes only the 64
    # kept columns matter; filter those, transposed so each pass runs along contiguous memory.
    # Every pass after the first works in place.
    x = np.empty((rows, cols), dtype=np.float64)
    _box_rows(_box_rows(luma, win_along_rows, x), win_along_rows, x)
    x = np.ascontiguousarray(x[:, keep_cols].T)
    _box_rows(_box_rows(x, win_along_cols, x), win_along_cols, x)
    return np.ascontiguousarray(x[:, keep_rows].T)


def _quality(buffer64: np.ndarray) -> int:
    """The reference's ``pdqImageDomainQualityMetric``: quantised gradient sum / 90, capped at 100."""
    b = buffer64.astype(np.float32)
    dv = np.trunc((b[:-1, :] - b[1:, :]) * np.float32(100) / np.float32(255))
    dh = np.trunc((b[:, :-1] - b[:, 1:]) * np.float32(100) / np.float32(255))
    gradient_sum = int(np.abs(dv).sum(dtype=np.int64) + np.abs(dh).sum(dtype=np.int64))
    return min(gradient_sum // 90, 100)


def _dct16(buffer64: np.ndarray) -> np.ndarray:
    """The 16x16 low-frequency DCT block ``D A D^T`` of a 64x64 buffer."""
    a = buffer64.astype(np.float32)
    return _DCT @ a @ _DCT.T


def _digest_from_dct(dct16: np.ndarray) -> bytes:
    """One bit per coefficient above the (lower) median, packed in the reference's hex order."""
    flat = dct16.ravel()
    median = np.partition(flat, 127)[127]  # the reference's torben() returns the 128th smallest
    bits = flat > median
    # Bit k = i*16 + j lives in 16-bit word k >> 4; the hex prints word 15 first, MSB first,
    # which is bit 255 down to bit 0: reverse and pack big-endian.
    return np.packbits(bits[::-1]).tobytes()


def _luma(image: np.ndarray) -> np.ndarray:
    return image @ _LUMA


def _dct_and_quality(image: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Return the 16x16 DCT block (None if too small to hash) and the quality of an RGB array."""
    # Shrink to at most 512 px a side, as the reference tools do (a no-op for a shrunk image).
    image = shrink_image(image, MAX_SIDE)
    if min(image.shape[:2]) < _MIN_HASHABLE_SIDE:
        return None, 0
    buffer64 = _downsample_64(_luma(image))
    return _dct16(buffer64), _quality(buffer64)


_ZERO_DIGEST = bytes(_DIGEST_BYTES)


def pdq_hash(image: np.ndarray) -> PerceptualHash:
    """Compute the PDQ hash of an RGB image.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB, channels last. Not modified. Images larger than 512 px are
        shrunk first, as the reference tools do.

    Returns
    -------
    PerceptualHash
        Images under 5 px on a side get the reference's all-zero hash with quality 0.

    Raises
    ------
    InvalidImageError
        If `image` is not an ``(H, W, 3)`` uint8 array.
    """
    check_rgb_uint8(image)
    dct, quality = _dct_and_quality(image)
    if dct is None:
        return PerceptualHash(_ZERO_DIGEST, 0)
    return PerceptualHash(_digest_from_dct(dct), quality)


def pdq_dihedral_hashes(image: np.ndarray, *, shrunk: np.ndarray | None = None) -> tuple[PerceptualHash, ...]:
    """Compute the PDQ hashes of the 8 rotations and mirror images of an RGB image.

    The variants come from the DCT of the original (sign flips and
    transposition), as in the reference; each is close to the hash of the
    correspondingly transformed image.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
        RGB, channels last. Not modified.
    shrunk : (h, w, 3) uint8 ndarray, optional
        `image` already shrunk to :data:`MAX_SIDE`, as
        :func:`provenance.images.decode_image_and_shrink` gives it: saves shrinking `image`
        again. It must come from `image`; the hashes are then the same.

    Returns
    -------
    tuple of 8 PerceptualHash
        In the order of :data:`DIHEDRAL_NAMES`: original, rotate90 (``np.rot90``,
        counter-clockwise), rotate180, rotate270, flip_x (upside down,
        ``np.flipud``), flip_y (mirrored, ``np.fliplr``), flip_plus1
        (transpose), flip_minus1 (anti-transpose). All share one quality.

    Raises
    ------
    InvalidImageError
        If `image` is not an ``(H, W, 3)`` uint8 array.
    """
    check_rgb_uint8(image)
    dct, quality = _dct_and_quality(image if shrunk is None else shrunk)
    if dct is None:
        return tuple(PerceptualHash(_ZERO_DIGEST, 0) for _ in DIHEDRAL_NAMES)
    variants = (
        dct,
        (dct * _COL_SIGN).T,
        dct * _CHECKER,
        (dct * _ROW_SIGN).T,
        dct * _ROW_SIGN,
        dct * _COL_SIGN,
        dct.T,
        (dct * _CHECKER).T,
    )
    return tuple(PerceptualHash(_digest_from_dct(v), quality) for v in variants)


def pdq_hash_file(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
) -> PerceptualHash:
    """Compute the PDQ hash of an image file, decoding it at reduced size.

    Faster than ``pdq_hash(decode_image(source))`` for large JPEGs, which
    are decoded at 1/2, 1/4 or 1/8 scale (Pillow draft mode). EXIF
    orientation is applied first, like :func:`provenance.images.decode_image`.

    Parameters
    ----------
    source : path, bytes or binary file
        Any image Pillow can read; the first frame of animations is used.
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.
    max_decode_bytes : int
        Refuse images whose decode would need more memory than this (``PROVENANCE_MAX_DECODE_MB``).

    Returns
    -------
    PerceptualHash

    Raises
    ------
    InvalidImageError
        If the file is empty, corrupt or not an image.
    ImageTooLargeError
        If it has more than `max_pixels` pixels.
    """
    image = decode_image(source, max_pixels=max_pixels, max_side=MAX_SIDE, max_decode_bytes=max_decode_bytes)
    return pdq_hash(image)


def pdq_dihedral_hashes_file(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
) -> tuple[PerceptualHash, ...]:
    """Compute the 8 dihedral PDQ hashes of an image file, decoding it at reduced size.

    The first is the file's :func:`pdq_hash_file`; the rest are as :func:`pdq_dihedral_hashes`.

    Parameters
    ----------
    source : path, bytes or binary file
    max_pixels : int
        Refuse images with more pixels than this, before decoding them.
    max_decode_bytes : int
        Refuse images whose decode would need more memory than this (``PROVENANCE_MAX_DECODE_MB``).

    Returns
    -------
    tuple of 8 PerceptualHash
        In the order of :data:`DIHEDRAL_NAMES`.

    Raises
    ------
    InvalidImageError
        If the file is empty, corrupt or not an image.
    ImageTooLargeError
        If it has more than `max_pixels` pixels.
    """
    return pdq_dihedral_hashes(
        decode_image(source, max_pixels=max_pixels, max_side=MAX_SIDE, max_decode_bytes=max_decode_bytes)
    )


def hamming_distance(a: PerceptualHash, b: PerceptualHash) -> int:
    """Return the number of bits (0-256) in which two hashes differ.

    Raises
    ------
    InvalidInputError
        If either argument is not a :class:`PerceptualHash`.
    """
    if not isinstance(a, PerceptualHash) or not isinstance(b, PerceptualHash):
        raise InvalidInputError(
            f"hamming_distance takes two PerceptualHash values; got {type(a).__name__} and "
            f"{type(b).__name__}. Parse hex with PerceptualHash.from_hex()."
        )
    return (int.from_bytes(a.digest, "big") ^ int.from_bytes(b.digest, "big")).bit_count()


def pack_hashes(hashes: Iterable[PerceptualHash]) -> np.ndarray:
    """Pack hashes into an ``(N, 4) uint64`` array for vectorised search.

    Word 0 holds the first 16 hex digits. Use with :func:`hamming_distances`
    or ``np.bitwise_count(packed ^ query).sum(axis=1)``.

    Raises
    ------
    InvalidInputError
        If an item is not a :class:`PerceptualHash`.
    """
    digests = []
    for h in hashes:
        if not isinstance(h, PerceptualHash):
            raise InvalidInputError(
                f"pack_hashes takes PerceptualHash values; got {type(h).__name__}. "
                "Parse hex with PerceptualHash.from_hex()."
            )
        digests.append(h.digest)
    if not digests:
        return np.zeros((0, 4), dtype=np.uint64)
    words = np.frombuffer(b"".join(digests), dtype=">u8").reshape(-1, 4)
    return words.astype(np.uint64)


def hamming_distances(query: PerceptualHash, packed: np.ndarray) -> np.ndarray:
    """Return the Hamming distance from `query` to each row of a packed array.

    Parameters
    ----------
    query : PerceptualHash
    packed : (N, 4) uint64 ndarray
        From :func:`pack_hashes`.

    Returns
    -------
    (N,) int64 ndarray

    Raises
    ------
    InvalidInputError
        If `packed` is not an ``(N, 4) uint64`` array.
    """
    if not isinstance(packed, np.ndarray) or packed.dtype != np.uint64 or packed.ndim != 2 or packed.shape[1] != 4:
        raise InvalidInputError(
            "packed must be an (N, 4) uint64 array from pack_hashes(); got "
            f"{getattr(packed, 'dtype', type(packed).__name__)} {getattr(packed, 'shape', '')}."
        )
    q = pack_hashes([query])
    return np.bitwise_count(packed ^ q).sum(axis=1, dtype=np.int64)


def file_digests(data: bytes) -> FileDigests:
    """Return the MD5 and SHA-256 of a file's bytes (StopNCII uses MD5 for video).

    Raises
    ------
    InvalidInputError
        If `data` is not bytes-like.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"file_digests takes the file's bytes; got {type(data).__name__}. Read the file with open(path, 'rb')."
        )
    return FileDigests(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
