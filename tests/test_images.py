"""Tests for provenance.images: decoding hostile and ordinary files, atomic saving, array checks."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.errors import ImageTooLargeError, InvalidImageError, InvalidInputError
from provenance.images import (
    DEFAULT_MAX_PIXELS,
    PNG_COMPRESS_LEVEL,
    WEBP_METHOD,
    check_image_array,
    check_rgb_uint8,
    decode_image,
    decode_image_and_shrink,
    encode_image,
    image_format,
    save_image,
    shrink_image,
)


def _encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR (8-bit RGB) claiming `width` x `height`, and no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def rgb(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)


# --- decoding ------------------------------------------------------------------------------


def test_png_round_trip_is_exact(rgb: np.ndarray, tmp_path: Path) -> None:
    data = _encode(Image.fromarray(rgb), "PNG")
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        out = decode_image(source)
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        assert np.array_equal(out, rgb)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    assert np.array_equal(decode_image(path), rgb) and np.array_equal(decode_image(str(path)), rgb)


def test_jpeg_decodes_to_rgb_close_to_the_original() -> None:
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 48, dtype=np.uint8)
    smooth[..., 1] = 100
    out = decode_image(_encode(Image.fromarray(smooth), "JPEG", quality=95))
    assert out.shape == (32, 48, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - smooth).mean() < 3


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    out = decode_image(_encode(Image.fromarray(gray), "PNG"))
    assert out.shape == (20, 30, 3)
    assert all(np.array_equal(out[..., c], gray) for c in range(3))


def test_alpha_kept_only_when_asked(rgb: np.ndarray) -> None:
    alpha = np.full(rgb.shape[:2], 77, np.uint8)
    data = _encode(Image.fromarray(np.dstack([rgb, alpha])), "PNG")
    assert decode_image(data).shape == (24, 32, 3)
    rgba = decode_image(data, keep_alpha=True)
    assert rgba.shape == (24, 32, 4) and np.all(rgba[..., 3] == 77) and np.array_equal(rgba[..., :3], rgb)
    # An opaque image stays RGB even with keep_alpha.
    assert decode_image(_encode(Image.fromarray(rgb), "PNG"), keep_alpha=True).shape == (24, 32, 3)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    deep = np.array([[0, 32768, 65535, 257]] * 4, dtype=np.uint16)
    out = decode_image(_encode(Image.fromarray(deep), "PNG"))
    assert out.shape == (4, 4, 3)
    assert out[0, :, 0].tolist() == [0, 128, 255, 1]


def test_palette_is_flattened_and_its_transparency_kept() -> None:
    index = np.zeros((8, 8), np.uint8)
    index[:4] = 1
    im = Image.fromarray(index, mode="P")
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    plain = decode_image(_encode(im, "PNG"))
    assert plain.shape == (8, 8, 3)
    assert plain[0, 0].tolist() == [0, 255, 0] and plain[7, 7].tolist() == [255, 0, 0]
    transparent = decode_image(_encode(im, "PNG", transparency=0), keep_alpha=True)
    assert transparent.shape == (8, 8, 4)
    assert transparent[7, 7, 3] == 0 and transparent[0, 0, 3] == 255


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 40 wide x 20 high: left half red, right half blue. Orientation 6 = rotate 90° clockwise
    # to display, so the displayed image is 20 wide x 40 high with red on top.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    out = decode_image(path)
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 50  # top is red
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 50  # bottom is blue


def _shrink_cases(rng: np.random.Generator) -> dict[str, bytes]:
    photo = np.repeat(np.repeat(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), 11, axis=0), 13, axis=1)
    big = Image.fromarray(np.ascontiguousarray(photo[:700, :1024]))
    exif = Image.Exif()
    exif[0x0112] = 6
    cases = {
        "jpeg 1024x700": _encode(big, "JPEG", quality=90),
        "png 1024x700": _encode(big, "PNG"),
        "jpeg exif-rotated": _encode(big, "JPEG", quality=90, exif=exif.tobytes()),
        "gray png": _encode(big.convert("L"), "PNG"),
        "palette png": _encode(big.convert("P"), "PNG"),
        "rgba png": _encode(big.convert("RGBA"), "PNG"),
        "jpeg 1500x1100 (reduce, then resample)": _encode(big.resize((1100, 1500)), "JPEG", quality=85),
        "png 512x300 (fits)": _encode(big.resize((512, 300)), "PNG"),
        "png 2x1100 (a 1 px side once shrunk)": _encode(big.resize((2, 1100)), "PNG"),
    }
    return cases


def test_decode_and_shrink_equals_decode_then_shrink(rng: np.random.Generator) -> None:
    for what, data in _shrink_cases(rng).items():
        pixels = decode_image(data)
        decoded = decode_image_and_shrink(data, shrink_to=512)
        assert np.array_equal(decoded.pixels, pixels), what
        assert decoded.pixels.flags.c_contiguous and decoded.pixels.dtype == np.uint8
        expected = shrink_image(pixels, 512)
        assert decoded.shrunk.shape == expected.shape and np.array_equal(decoded.shrunk, expected), what
        assert max(decoded.shrunk.shape[:2]) <= 512


def test_images_become_the_same_arrays_as_numpy_makes(rng: np.random.Generator) -> None:
    from provenance.images import _as_array

    for shape in [(1, 1), (2, 3), (37, 1), (24, 32), (700, 1024), (1024, 1024), (130, 20_000)]:
        pixels = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
        for mode in ("RGB", "RGBA", "L", "P"):
            im = Image.fromarray(pixels).convert(mode)
            got, want = _as_array(im), np.asarray(im)
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), (shape, mode)
            assert not got.flags.writeable  # read-only, like np.asarray of an image


def test_shrink_image_keeps_aspect_and_does_not_modify(rgb: np.ndarray) -> None:
    big = np.repeat(np.repeat(rgb, 40, axis=0), 40, axis=1)  # 960 x 1280
    before = big.copy()
    small = shrink_image(big, 512)
    assert small.shape == (384, 512, 3) and small.dtype == np.uint8
    assert np.array_equal(big, before)
    assert shrink_image(rgb, 512) is rgb


def test_decode_and_shrink_errors_are_decode_image_errors(rgb: np.ndarray) -> None:
    data = _encode(Image.fromarray(rgb), "PNG")
    with pytest.raises(InvalidImageError):
        decode_image_and_shrink(data[: len(data) // 2], shrink_to=512)
    with pytest.raises(ImageTooLargeError):
        decode_image_and_shrink(data, shrink_to=512, max_pixels=100)


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (12_000, 12_000)])
def test_pixel_limit_refused_before_decoding(width: int, height: int) -> None:
    # The header claims a huge image but holds no pixel data: an error about size (not about a
    # truncated file) shows that the limit was checked before any decoding.
    with pytest.raises(ImageTooLargeError, match="too large|over the limit"):
        decode_image(_png_header(width, height))


def test_pixel_limit_is_configurable(rgb: np.ndarray) -> None:
    data = _encode(Image.fromarray(rgb), "PNG")
    with pytest.raises(ImageTooLargeError, match="768 pixels, over the limit of 700"):
        decode_image(data, max_pixels=700)
    assert decode_image(data, max_pixels=768).shape == (24, 32, 3)
    assert DEFAULT_MAX_PIXELS == 120_000_000


def test_pixel_limit_above_pillows_guard_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    default_guard = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError):  # the default limit leaves Pillow's guard alone
        decode_image(_png_header(15_000, 15_000))
    assert Image.MAX_IMAGE_PIXELS == default_guard
    # With max_pixels raised to 300 MP, a 15000 x 15000 (225 MP) header gets past Pillow's guard
    # and the pixel limit, and is refused by the pixels-per-byte check (it is 45 bytes).
    with pytest.raises(ImageTooLargeError, match="declares 15000x15000.*decompression bomb"):
        decode_image(_png_header(15_000, 15_000), max_pixels=300_000_000)


def test_truncated_file(rgb: np.ndarray) -> None:
    big = np.repeat(np.repeat(rgb, 8, axis=0), 8, axis=1)
    for fmt in ("PNG", "JPEG"):
        data = _encode(Image.fromarray(big), fmt)
        with pytest.raises(InvalidImageError, match="corrupt or truncated"):
            decode_image(data[: len(data) // 2])


def test_empty_and_missing_sources(tmp_path: Path) -> None:
    # Reading a source fails the same way everywhere (images.read_source): bad input, not a crash.
    with pytest.raises(InvalidInputError, match="empty"):
        decode_image(b"")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty"):
        decode_image(empty)
    with pytest.raises(InvalidInputError, match="no such file"):
        decode_image(tmp_path / "missing.png")
    with pytest.raises(InvalidInputError, match="is a folder"):
        decode_image(tmp_path)  # a folder is not an image file
    with pytest.raises(InvalidInputError, match="Cannot read a file from int"):
        decode_image(42)  # type: ignore[arg-type]


def test_not_an_image() -> None:
    with pytest.raises(InvalidImageError, match="not an image format"):
        decode_image(b"%PDF-1.7 this is a document, not a picture")
    with pytest.raises(ValueError):  # InvalidImageError is also a ValueError
        decode_image(b"plain text")


@pytest.mark.parametrize("shape", [(1, 10), (10, 1), (1, 1)])
def test_images_with_a_side_under_two_pixels(shape: tuple[int, int]) -> None:
    data = _encode(Image.fromarray(np.zeros(shape, np.uint8)), "PNG")
    with pytest.raises(InvalidImageError, match="too small"):
        decode_image(data)


# --- encoding and saving -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, magic",
    [
        ("a.png", b"\x89PNG"),
        ("a.jpg", b"\xff\xd8"),
        ("a.JPEG", b"\xff\xd8"),
        ("a.webp", b"RIFF"),
        ("a.tif", b"II*\x00"),
    ],
)
def test_save_image_format_from_suffix(rgb: np.ndarray, tmp_path: Path, name: str, magic: bytes) -> None:
    path = tmp_path / name
    save_image(rgb, path)
    assert path.read_bytes().startswith(magic)
    assert decode_image(path).shape == rgb.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


def test_save_image_replaces_and_fails_atomically(rgb: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "out.jpg"
    save_image(rgb, path)
    before = path.read_bytes()
    save_image(rgb[::-1].copy(), path, quality=50)
    assert path.read_bytes() != before
    kept = path.read_bytes()
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    with pytest.raises(InvalidInputError, match="JPEG cannot hold transparency"):
        save_image(rgba, path)
    assert path.read_bytes() == kept
    with pytest.raises(InvalidInputError, match="output format"):
        save_image(rgb, tmp_path / "out.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


def test_save_image_keeps_alpha_in_png(rgb: np.ndarray, tmp_path: Path) -> None:
    rgba = np.dstack([rgb, np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)])
    save_image(rgba, tmp_path / "a.png")
    assert np.array_equal(decode_image(tmp_path / "a.png", keep_alpha=True), rgba)


def test_encode_image_checks_and_quality(rgb: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match="JPEG cannot hold transparency"):
        encode_image(np.zeros((4, 4, 4), np.uint8), "jpg")
    with pytest.raises(InvalidInputError, match="Cannot write format"):
        encode_image(rgb, "NOPE")
    with pytest.raises(InvalidImageError):
        encode_image(rgb.astype(np.float32), "PNG")
    noisy = np.repeat(np.repeat(rgb, 4, axis=0), 4, axis=1)
    assert len(encode_image(noisy, "JPEG", quality=30)) < len(encode_image(noisy, "JPEG", quality=95))


def test_encode_image_uses_the_fast_png_and_webp_settings(rgb: np.ndarray) -> None:
    # PNG and WebP are lossless/deterministic given the settings: the bytes pin them
    im = Image.fromarray(rgb)
    assert encode_image(rgb, "PNG") == _encode(im, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    assert encode_image(rgb, "PNG") != _encode(im, "PNG")  # not Pillow's slow default level 6
    assert encode_image(rgb, "WEBP", quality=95) == _encode(im, "WEBP", quality=95, method=WEBP_METHOD)
    assert np.array_equal(decode_image(encode_image(rgb, "PNG")), rgb)


def test_image_format() -> None:
    assert [image_format(n) for n in ("x.PNG", "y.jpeg", "z.tiff", "w.webp")] == ["PNG", "JPEG", "TIFF", "WEBP"]
    with pytest.raises(InvalidInputError, match="'photo'"):
        image_format("photo")


# --- array checks --------------------------------------------------------------------------


def test_check_rgb_uint8_returns_the_same_array(rgb: np.ndarray) -> None:
    assert check_rgb_uint8(rgb) is rgb


@pytest.mark.parametrize(
    "value, message",
    [
        ([[1, 2, 3]], "NumPy array"),
        (np.zeros((8, 8), np.uint8), r"got uint8 \(8, 8\)"),
        (np.zeros((8, 8, 4), np.uint8), "RGB uint8"),
        (np.zeros((8, 8, 3), np.float64), "got float64"),
        (np.zeros((1, 8, 3), np.uint8), "too small"),
        (np.zeros((8, 0, 3), np.uint8), "too small"),
    ],
)
def test_check_rgb_uint8_errors(value: object, message: str) -> None:
    with pytest.raises(InvalidImageError, match=message):
        check_rgb_uint8(value, name="photo")  # type: ignore[arg-type]


def test_check_rgb_uint8_names_the_parameter() -> None:
    with pytest.raises(InvalidImageError, match="^photo must be"):
        check_rgb_uint8(np.zeros((8, 8)), name="photo")


def test_check_image_array_accepts_gray_rgb_rgba() -> None:
    for shape in [(8, 8), (8, 8, 3), (8, 8, 4)]:
        arr = np.zeros(shape, np.uint8)
        assert check_image_array(arr) is arr
    for bad in [np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8), np.int16), np.zeros((8, 1), np.uint8)]:
        with pytest.raises(InvalidImageError):
            check_image_array(bad)
