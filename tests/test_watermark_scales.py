"""Tests for provenance.watermark.scales: the scale sweep that proposes the lattices of cropped copies."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance import attacks, watermark
from provenance.watermark.patterns import TILE
from provenance.watermark.scales import SCALE_RANGE, band_points, scale_candidates
from provenance.watermark.lattice import whitened_power
from provenance.watermark.sync import spectrum

KEY = b"scale-sweep-key"
PAYLOAD = bytes.fromhex("5ca1ab1e00c0ffee")


@pytest.fixture(scope="module")
def output_3x2(shared_dir) -> np.ndarray:
    """kodim08 (a periodic, texture-like photo) as a 1536x1024 generator-sized output."""
    im = Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB")
    return np.asarray(im.resize((1536, 1024), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def marked_3x2(output_3x2) -> np.ndarray:
    return watermark.embed(output_3x2, PAYLOAD, key=KEY)


def _scale(basis: np.ndarray) -> float:
    return float(abs(basis[0, 0]) / TILE)


def test_a_comb_at_a_known_scale_is_proposed_first():
    rng = np.random.default_rng(3)
    shape = (640, 640)
    power = rng.exponential(1.0, (640, 321)).astype(np.float32)
    k, _ = band_points()
    s = 1.37
    iy = np.rint(k[:, 0] * 640 / (TILE * s)).astype(int) % 640
    ix = np.rint(k[:, 1] * 640 / (TILE * s)).astype(int)
    power[iy, ix] += 1.5
    found = scale_candidates(power, shape, limit=2)
    assert 1 <= len(found) <= 2
    assert abs(_scale(found[0][0]) / s - 1) < 0.003
    assert found[0][1] > 10


def test_noise_gives_at_most_the_limit_and_scales_in_range():
    rng = np.random.default_rng(4)
    power = rng.exponential(1.0, (512, 257)).astype(np.float32)
    found = scale_candidates(power, (512, 512), limit=2)
    assert len(found) <= 2
    for basis, _ in found:
        assert SCALE_RANGE[0] * 0.99 <= _scale(basis) <= SCALE_RANGE[1] * 1.01
        assert basis[0, 1] == 0 and basis[1, 0] == 0


def test_sweep_finds_the_scale_of_a_crop_to_71_percent(marked_3x2):
    cropped = attacks.crop_center(marked_3x2, 0.71)
    from provenance.watermark.frame import canonical_shape, resample
    from provenance.watermark.masking import luminance
    from provenance.watermark.sync import whiten

    h, w = cropped.shape[:2]
    y = resample(luminance(cropped), canonical_shape(h, w), fast=True)
    yw = whiten(y[: y.shape[0] // 8 * 8, : y.shape[1] // 8 * 8])
    spec = spectrum(yw)
    found = scale_candidates(whitened_power(spec, yw.shape), yw.shape, limit=2)
    truth = 1536 / w
    assert any(abs(_scale(b) / truth - 1) < 0.004 for b, _ in found)


@pytest.mark.parametrize("fraction", [0.8, 0.71, 0.55])
def test_centre_crops_of_a_periodic_photo_keep_the_payload(marked_3x2, fraction):
    # kodim08 lost crop71 and crop80 before the sweep: its own periodic content outranked the
    # tile in the autocorrelation.
    result = watermark.detect(attacks.crop_center(marked_3x2, fraction), key=KEY)
    assert result.payload == PAYLOAD
    assert result.scale == pytest.approx(1 / fraction, rel=0.01)


def test_a_3x2_output_cropped_to_a_square_and_fitted_to_1080_keeps_the_payload(marked_3x2):
    square = marked_3x2[:, 256:1280]
    shared = attacks.PLATFORM_PIPELINES["fit1080+jpeg75"](square)
    result = watermark.detect(shared, key=KEY)
    assert result.payload == PAYLOAD
    assert result.scale == pytest.approx(1.5, rel=0.01)


def test_the_sweep_does_not_fire_on_the_unmarked_crop(output_3x2):
    assert not watermark.detect(attacks.crop_center(output_3x2, 0.71), key=KEY).detected


@pytest.mark.parametrize("degrees", [2, -5])
def test_a_straightened_periodic_photo_keeps_the_payload(marked_3x2, degrees):
    # kodim08 turned by 5 degrees was lost before the turned sweep: the autocorrelation did not
    # propose the turned lattice at all; the comb of the band's outer rings shows it.
    result = watermark.detect(attacks.rotate(marked_3x2, degrees), key=KEY)
    assert result.payload == PAYLOAD
    assert abs(abs(result.rotation_degrees) - abs(degrees)) < 0.5


def test_turn_sweep_finds_the_turn_and_scale_of_a_straightened_copy(marked_3x2):
    from provenance.watermark.frame import canonical_shape, canonical_luma
    from provenance.watermark.scales import turn_candidates
    from provenance.watermark.sync import whiten

    turned = attacks.rotate(marked_3x2, 5)
    h, w = turned.shape[:2]
    y = canonical_luma(turned, canonical_shape(h, w))
    yw = whiten(y[: y.shape[0] // 8 * 8, : y.shape[1] // 8 * 8])
    yw = yw[: min(yw.shape[0], 640), : min(yw.shape[1], 640)]
    yw = yw[: yw.shape[0] // 2 * 2, : yw.shape[1] // 2 * 2]
    (basis, z), = turn_candidates(whitened_power(spectrum(yw), yw.shape), yw.shape, limit=1)
    angle = np.degrees(np.arctan2(basis[0, 1], basis[0, 0]))
    assert abs(abs(angle) - 5) < 0.3
    assert np.hypot(*basis[0]) / TILE == pytest.approx(1536 / w, rel=0.005)
    assert z > 5


def _plant_turned_comb(power: np.ndarray, k: np.ndarray, scale: float, degrees: float, value: float) -> None:
    h = power.shape[0]
    t = np.radians(degrees)
    c, sn = np.cos(t) / (TILE * scale), np.sin(t) / (TILE * scale)
    iy = np.rint((c * k[:, 0] + sn * k[:, 1]) * h).astype(int)
    ix = np.rint((c * k[:, 1] - sn * k[:, 0]) * h).astype(int)
    iy, ix = np.where(ix < 0, -iy, iy) % h, np.abs(ix)
    power[iy, ix] += value


def test_turn_sweep_refines_a_turned_comb_that_ranks_low_in_the_coarse_sweep():
    # The coarse sweep reads every sixth outer point only: three decoys planted on exactly those
    # points outrank the real comb there, but refine (every other band point) far below it.
    from provenance.watermark.scales import turn_candidates

    power = np.random.default_rng(8).exponential(1.0, (640, 321)).astype(np.float32)
    k, _ = band_points()
    radius = np.hypot(k[:, 0], k[:, 1])
    coarse = k[(radius >= 30) & (radius <= 40.5)][::6]
    _plant_turned_comb(power, k, 1.05, 2.0, 0.8)
    for scale, degrees in ((1.0, -4.0), (1.15, 5.0), (0.99, -1.2)):
        _plant_turned_comb(power, coarse, scale, degrees, 3.0)
    (basis, z), = turn_candidates(power, (640, 640), limit=1)
    assert np.degrees(np.arctan2(-basis[0, 1], basis[0, 0])) == pytest.approx(2.0, abs=0.1)  # R(theta) rows
    assert np.hypot(*basis[0]) / TILE == pytest.approx(1.05, rel=0.003)
    assert z > 10


def test_turn_sweep_on_noise_returns_at_most_the_limit():
    from provenance.watermark.scales import TURN_RANGE, turn_candidates

    power = np.random.default_rng(5).exponential(1.0, (640, 321)).astype(np.float32)
    found = turn_candidates(power, (640, 640), limit=1)
    assert len(found) <= 1
    for basis, _ in found:
        angle = abs(np.degrees(np.arctan2(basis[0, 1], basis[0, 0])))
        assert TURN_RANGE[0] - 0.2 <= angle <= TURN_RANGE[1] + 0.2


@pytest.mark.parametrize("stamp", [1, 6])
def test_a_photo_of_a_screen_keystoned_3_percent_keeps_the_payload(shared_dir, stamp):
    # A 3% keystone (the top edge 3% narrower) of these two stamps of kodim08 was lost by every
    # whole-window lattice: under perspective none fits the whole grid, but a stretched lattice
    # fits its middle band. (kodim08 stays the hard case: other stamps of it are still lost.)
    im = Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB")
    output = np.asarray(im.resize((1024, 1024), Image.Resampling.BICUBIC))
    key, payload = f"key{stamp}".encode(), bytes([stamp]) * 8
    shot = attacks.PLATFORM_PIPELINES["keystone3%+jpeg85"](watermark.embed(output, payload, key=key))
    result = watermark.detect(shot, key=key)
    assert result.payload == payload
    assert not watermark.detect(attacks.PLATFORM_PIPELINES["keystone3%+jpeg85"](output), key=key).detected


def test_stretch_sweep_finds_a_narrowed_band_and_leaves_out_the_grid():
    from provenance.watermark.scales import STRETCH_RANGE, stretch_candidates

    rng = np.random.default_rng(8)
    shape = (320, 640)
    power = rng.exponential(1.0, (320, 321)).astype(np.float32)
    k, _ = band_points()
    rows, cols = 1.0, 0.985
    iy = np.rint(k[:, 0] * 320 / (TILE * rows)).astype(int) % 320
    ix = np.rint(k[:, 1] * 640 / (TILE * cols)).astype(int)
    power[iy, ix] += 1.5
    (basis, z), = stretch_candidates(power, shape, limit=1)
    assert abs(basis[0, 0] / TILE - rows) <= 0.0045 and abs(basis[1, 1] / TILE - cols) <= 0.0025  # the grid's half steps
    assert z > 10
    flat = np.ones((320, 321), dtype=np.float32)
    for basis, _ in stretch_candidates(flat, shape, limit=3):
        r, c = basis[0, 0] / TILE, basis[1, 1] / TILE
        assert STRETCH_RANGE[0] - 0.01 <= min(r, c) and max(r, c) <= STRETCH_RANGE[1] + 0.01
        assert not (abs(r - 1) < 0.003 and abs(c - 1) < 0.003)
