"""Tests for provenance.attacks: the degradations of the robustness benchmark."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance import attacks
from provenance.errors import InvalidImageError, InvalidInputError

EXPECTED_NAMES = [
    "none",
    "jpeg90",
    "jpeg75",
    "jpeg50",
    "webp80",
    "resize0.5",
    "resize0.75",
    "resize1.5",
    "crop80",
    "crop71",
    "crop_offset5",
    "rotate2",
    "rotate5",
    "flip",
    "brightness0.7",
    "brightness1.3",
    "contrast0.7",
    "noise5",
    "blur1",
    "resize0.75+jpeg75",
    "jpeg60+crop71+brightness0.5",
]


@pytest.fixture
def photo(shared_dir) -> np.ndarray:
    """A real photograph (768x512), cut to 256x384 to keep the tests fast."""
    with Image.open(shared_dir / "samples" / "kodim03.png") as im:
        return np.array(im.convert("RGB"))[128:384, 192:576]


@pytest.fixture
def small(rng) -> np.ndarray:
    """A 64x96 smooth random image (noise blurred, so JPEG has something to keep)."""
    noise = rng.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    return np.array(Image.fromarray(noise).resize((96, 64), Image.Resampling.BICUBIC))


def test_attack_names_and_order():
    assert list(attacks.ATTACKS) == EXPECTED_NAMES
    assert set(attacks.HARDER_ATTACKS) <= set(attacks.ATTACKS)
    assert attacks.HARDER_ATTACKS["jpeg60+crop71+brightness0.5"] == pytest.approx(0.80)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_attack_runs_on_small_image_without_touching_it(name, small):
    before = small.copy()
    out = attacks.ATTACKS[name](small)
    assert out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3
    assert min(out.shape[:2]) >= 16
    assert out is not small and not np.shares_memory(out, small)
    np.testing.assert_array_equal(small, before)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("none", (64, 96)),
        ("jpeg50", (64, 96)),
        ("webp80", (64, 96)),
        ("resize0.5", (32, 48)),
        ("resize0.75", (48, 72)),
        ("resize1.5", (96, 144)),
        ("crop80", (51, 77)),
        ("crop71", (45, 68)),
        ("crop_offset5", (61, 91)),
        ("flip", (64, 96)),
        ("noise5", (64, 96)),
        ("resize0.75+jpeg75", (48, 72)),
        ("jpeg60+crop71+brightness0.5", (45, 68)),
    ],
)
def test_output_shapes(name, shape, small):
    assert attacks.ATTACKS[name](small).shape == (*shape, 3)


def test_crop_center_takes_the_middle(small):
    out = attacks.crop_center(small, 0.5)
    assert out.shape == (32, 48, 3)
    np.testing.assert_array_equal(out, small[16:48, 24:72])


def test_crop_offset_removes_top_and_left(photo):
    out = attacks.crop_offset(photo, 0.05)
    top, left = round(256 * 0.05), round(384 * 0.05)
    assert out.shape == (256 - top, 384 - left, 3)
    np.testing.assert_array_equal(out, photo[top:, left:])


@pytest.mark.parametrize("degrees", [2, 5, -7, 30])
def test_rotate_leaves_no_black_border(degrees):
    bright = np.full((120, 200, 3), 200, dtype=np.uint8)
    out = attacks.rotate(bright, degrees)
    assert out.shape[0] < 120 and out.shape[1] < 200
    # Every pixel, corners included, is image content: no fill colour blended in.
    assert out.min() >= 198
    assert out[0, 0].min() >= 198 and out[-1, -1].min() >= 198


def test_rotate_keeps_most_of_a_small_angle(photo):
    out = attacks.rotate(photo, 2)
    # The largest inner rectangle at 2 degrees keeps about 90% of each side here.
    assert 0.85 * 256 < out.shape[0] < 256
    assert 0.85 * 384 < out.shape[1] < 384


def test_rotate_zero_is_identity(photo):
    np.testing.assert_array_equal(attacks.rotate(photo, 0), photo)


def test_flip_mirrors(photo):
    np.testing.assert_array_equal(attacks.flip_horizontal(photo), photo[:, ::-1])


@pytest.mark.parametrize("quality", [90, 50])
def test_jpeg_changes_pixels_but_keeps_the_picture(photo, quality):
    out = attacks.jpeg(photo, quality)
    diff = np.abs(out.astype(np.int16) - photo)
    assert diff.max() > 0
    assert diff.mean() < 8


def test_lower_jpeg_quality_loses_more(photo):
    err90 = np.abs(attacks.jpeg(photo, 90).astype(np.int16) - photo).mean()
    err50 = np.abs(attacks.jpeg(photo, 50).astype(np.int16) - photo).mean()
    assert err50 > err90


def test_webp_changes_pixels(photo):
    assert not np.array_equal(attacks.webp(photo, 80), photo)


def test_noise_is_deterministic_and_has_the_right_sigma():
    grey = np.full((128, 128, 3), 128, dtype=np.uint8)
    a = attacks.gaussian_noise(grey, 5, seed=3)
    b = attacks.gaussian_noise(grey, 5, seed=3)
    c = attacks.gaussian_noise(grey, 5, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a.astype(np.float64) - 128).std() == pytest.approx(5.0, rel=0.05)


def test_brightness_and_contrast_move_the_mean(photo):
    assert attacks.brightness(photo, 0.7).mean() < photo.mean() * 0.75
    assert attacks.brightness(photo, 1.3).mean() > photo.mean() * 1.1
    assert attacks.contrast(photo, 0.7).std() < photo.std() * 0.8


def test_blur_smooths(photo):
    def roughness(image):
        return np.abs(np.diff(image.astype(np.float64), axis=1)).mean()

    assert roughness(attacks.gaussian_blur(photo, 1)) < 0.8 * roughness(photo)


def test_resize_shrinks_with_rounding(small):
    assert attacks.resize(small, 0.33).shape == (21, 32, 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda im: attacks.jpeg(im, 0), "quality"),
        (lambda im: attacks.webp(im, 101), "quality"),
        (lambda im: attacks.resize(im, 0), "scale"),
        (lambda im: attacks.crop_center(im, 1.5), "fraction"),
        (lambda im: attacks.crop_offset(im, 1.0), "fraction"),
        (lambda im: attacks.brightness(im, -1), "factor"),
        (lambda im: attacks.gaussian_noise(im, -2), "sigma"),
        (lambda im: attacks.gaussian_blur(im, -1), "radius"),
    ],
)
def test_bad_parameters_are_refused(call, match, small):
    with pytest.raises(InvalidInputError, match=match):
        call(small)


def test_wrong_image_type_is_refused():
    with pytest.raises(InvalidImageError, match="RGB uint8"):
        attacks.jpeg(np.zeros((32, 32), dtype=np.uint8), 75)
    with pytest.raises(InvalidImageError, match="uint8"):
        attacks.flip_horizontal(np.zeros((32, 32, 3), dtype=np.float64))


def test_flip_png_pixel_byte_changes_one_pixel_and_keeps_other_chunks(small):
    import io
    import struct

    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG", pnginfo=_text_chunk())
    png = buf.getvalue()
    edited = attacks.flip_png_pixel_byte(png, offset=7)
    before = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    after = np.asarray(Image.open(io.BytesIO(edited)).convert("RGB")).astype(int)
    # offset 7 of the filtered data is row 0 (its filter byte is offset 0), pixel 2, red; PNG
    # filters may carry the change on to later pixels, but everything before it is untouched
    changed = np.flatnonzero((before != after).ravel())
    assert changed.size and changed[0] == np.ravel_multi_index((0, 2, 0), before.shape)
    assert Image.open(io.BytesIO(edited)).text == {"note": "kept"}

    def chunk_types(data: bytes) -> list[bytes]:
        out, pos = [], 8
        while pos < len(data):
            length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
            out.append(ctype)
            pos += 12 + length
        return out

    assert [t for t in chunk_types(edited) if t != b"IDAT"] == [t for t in chunk_types(png) if t != b"IDAT"]
    with pytest.raises(InvalidInputError, match="PNG file"):
        attacks.flip_png_pixel_byte(b"GIF89a")
    with pytest.raises(InvalidInputError, match="offset"):
        attacks.flip_png_pixel_byte(png, offset=10**9)


def _text_chunk():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", "kept")
    return info


def test_platform_attacks_shapes_and_bad_arguments():
    from provenance.attacks import PLATFORM_PIPELINES, crop_aspect, fit_long_side, keystone, png_roundtrip

    image = np.random.default_rng(2).integers(0, 256, size=(400, 600, 3), dtype=np.uint8)
    assert fit_long_side(image, 1080).shape == (720, 1080, 3)
    assert fit_long_side(image, 300).shape == (200, 300, 3)
    assert crop_aspect(image, 16, 9).shape == (338, 600, 3)
    assert crop_aspect(image, 9, 16).shape == (400, 225, 3)
    assert np.array_equal(png_roundtrip(image), image)
    warped = keystone(image, 0.03)
    assert warped.shape == image.shape
    # The bottom row is untouched geometry, the top row is squeezed (its ends come from outside).
    assert np.abs(warped[-2].astype(int) - image[-2]).mean() < np.abs(warped[1].astype(int) - image[1]).mean()
    assert np.array_equal(keystone(image, 0.0)[200:300, 200:300], image[200:300, 200:300])
    for call in (lambda: fit_long_side(image, 0), lambda: crop_aspect(image, 0, 9), lambda: keystone(image, 0.6)):
        with pytest.raises(InvalidInputError):
            call()
    assert {"fit1080+webp70", "reshare3", "keystone3%+jpeg85", "crop9:16+fit1280+jpeg80"} <= set(PLATFORM_PIPELINES)
    assert image.flags.writeable and PLATFORM_PIPELINES["fit720+png"](image).shape == (480, 720, 3)
    # Feed formats: a 3:2 landscape cropped to a square, or to 4:5 portrait, then fitted to 1080.
    assert PLATFORM_PIPELINES["crop1:1+fit1080+jpeg75"](image).shape == (1080, 1080, 3)
    assert PLATFORM_PIPELINES["crop4:5+fit1080+jpeg75"](image).shape == (1080, 864, 3)
