"""Tests for provenance.watermark: round trips, robustness, keys, fidelity and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance import attacks, watermark
from provenance.errors import InvalidImageError, InvalidInputError
from provenance.watermark.coding import CODED_BITS, decode_payload, encode_payload

KEY = b"test-key-0123456789abcdef"
PAYLOAD = bytes.fromhex("0123456789abcdef")


def _textured(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like image: smooth shapes plus fine texture."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 120 + 60 * np.sin(6 * x + 3 * y) + 40 * np.cos(11 * y - 2 * x)
    texture = rng.normal(0, 12, (h, w))
    rgb = np.stack([base + texture, base * 0.8 + texture, base * 0.6 + 40 + texture], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo(shared_dir) -> np.ndarray:
    return np.asarray(Image.open(shared_dir / "samples" / "kodim03.png").convert("RGB"))


@pytest.fixture(scope="module")
def marked_photo(photo) -> np.ndarray:
    return watermark.embed(photo, PAYLOAD, key=KEY)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_round_trip_returns_exact_payload_with_tiny_p_value(marked_photo):
    result = watermark.detect(marked_photo, key=KEY)
    assert result.detected
    assert result.payload == PAYLOAD
    assert result.p_value < 1e-6
    assert result.score > watermark.SCORE_THRESHOLD
    assert result.to_dict()["payload"] == PAYLOAD.hex()


@pytest.mark.parametrize("payload", [b"\x00", b"\xff\x01", b"abcde", bytes(8)])
def test_short_and_zero_payloads_round_trip(payload):
    image = _textured(np.random.default_rng(7), 320, 384)
    assert watermark.detect(watermark.embed(image, payload, key=KEY), key=KEY).payload == payload


def test_fidelity_and_shape(photo, marked_photo):
    assert marked_photo.shape == photo.shape and marked_photo.dtype == np.uint8
    assert _psnr(photo, marked_photo) >= 38.0


def test_caller_array_is_not_modified(photo):
    before = photo.copy()
    watermark.embed(photo, PAYLOAD, key=KEY)
    assert np.array_equal(photo, before)


def test_grayscale_and_rgba_keep_their_shape_and_alpha():
    rng = np.random.default_rng(3)
    rgb = _textured(rng, 300, 300)
    gray = rgb[..., 0].copy()
    marked_gray = watermark.embed(gray, PAYLOAD, key=KEY)
    assert marked_gray.shape == gray.shape
    assert watermark.detect(marked_gray, key=KEY).payload == PAYLOAD
    alpha = rng.integers(0, 256, (300, 300), dtype=np.uint8)
    rgba = np.dstack([rgb, alpha])
    marked_rgba = watermark.embed(rgba, PAYLOAD, key=KEY)
    assert marked_rgba.shape == rgba.shape
    assert np.array_equal(marked_rgba[..., 3], alpha)
    assert watermark.detect(marked_rgba, key=KEY).payload == PAYLOAD


def test_unmarked_and_wrong_key_find_nothing(photo, marked_photo):
    for image, key in ((photo, KEY), (marked_photo, b"another key entirely")):
        result = watermark.detect(image, key=key)
        assert not result.detected
        assert result.payload is None
        assert result.p_value > 1e-6


def test_str_and_bytes_keys_are_the_same_key(photo):
    marked = watermark.embed(photo, PAYLOAD, key="pass phrase")
    assert watermark.detect(marked, key=b"pass phrase").payload == PAYLOAD


@pytest.mark.parametrize(
    "attack",
    ["jpeg50", "resize0.75", "crop_offset5", "rotate2", "flip", "resize0.75+jpeg75", "jpeg60+crop71+brightness0.5"],
)
def test_survives_upload_pipeline_attacks(marked_photo, attack):
    result = watermark.detect(attacks.ATTACKS[attack](marked_photo), key=KEY)
    assert result.payload == PAYLOAD, f"{attack}: score {result.score:.1f}"


def test_geometry_is_reported(marked_photo):
    result = watermark.detect(attacks.resize(marked_photo, 0.75), key=KEY)
    assert result.scale == pytest.approx(0.75, abs=0.01)
    flipped = watermark.detect(attacks.flip_horizontal(marked_photo), key=KEY)
    assert flipped.mirrored is True


def test_flat_areas_stay_clean():
    flat = np.full((512, 512, 3), 128, dtype=np.uint8)
    flat[:, 256:] = (40, 90, 200)
    marked = watermark.embed(flat, PAYLOAD, key=KEY)
    diff = marked.astype(np.float64) - flat
    assert np.sqrt(np.mean(diff**2)) <= 1.3
    assert np.abs(diff).max() <= 6


def test_smallest_supported_image_works():
    image = _textured(np.random.default_rng(11), 256, 256)
    assert watermark.detect(watermark.embed(image, PAYLOAD, key=KEY), key=KEY).payload == PAYLOAD


@pytest.mark.parametrize(
    ("payload", "key"),
    [(b"", KEY), (bytes(9), KEY), ("0123", KEY), (PAYLOAD, b""), (PAYLOAD, ""), (PAYLOAD, 123)],
)
def test_bad_payloads_and_keys_raise_invalid_input(photo, payload, key):
    with pytest.raises(InvalidInputError):
        watermark.embed(photo, payload, key=key)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((200, 300, 3), np.uint8),  # too small to embed
        np.zeros((1, 600, 3), np.uint8),
        np.zeros((400, 400, 3), np.float64),
        np.zeros((400, 400, 2), np.uint8),
        [[1, 2], [3, 4]],
    ],
)
def test_bad_images_raise_invalid_image(image):
    with pytest.raises(InvalidImageError):
        watermark.embed(image, PAYLOAD, key=KEY)


def test_detect_rejects_tiny_images_clearly():
    with pytest.raises(InvalidImageError, match="at least"):
        watermark.detect(np.zeros((50, 400, 3), np.uint8), key=KEY)


def test_coding_round_trip_with_noise_and_wrong_salt():
    rng = np.random.default_rng(5)
    symbols = encode_payload(PAYLOAD, b"salt")
    assert symbols.shape == (CODED_BITS,)
    noisy = symbols + rng.normal(0, 0.8, symbols.shape)
    assert decode_payload(noisy, b"salt") == PAYLOAD
    assert decode_payload(noisy, b"other") is None
    assert decode_payload(np.zeros(CODED_BITS), b"salt") is None


def test_false_positive_bound():
    hyp = watermark.detection.MAX_GEOMETRIES * 8 * 128 * 128
    assert watermark.false_positive_bound(0.0, hyp) == 1.0
    assert watermark.false_positive_bound(8.0, hyp) < watermark.false_positive_bound(6.0, hyp)
    # With a CRC pass the bound can never exceed decodes * 2**-32, far under 1e-6.
    assert watermark.false_positive_bound(watermark.SCORE_THRESHOLD, hyp, decodes=6) <= 6 * 2.0**-32


def test_quick_look_finds_an_unresized_stamp_and_counts_its_geometry() -> None:
    from provenance.watermark.detection import QUICK_WINDOW, _HYPOTHESES_PER_GEOMETRY

    rng = np.random.default_rng(7)
    base = rng.integers(60, 200, size=(96, 96, 3), dtype=np.uint8)
    image = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[: QUICK_WINDOW + 200, : QUICK_WINDOW + 120]
    image = np.ascontiguousarray(image)
    image = np.clip(image.astype(np.int16) + rng.integers(-12, 13, size=image.shape), 0, 255).astype(np.uint8)
    marked = watermark.embed(image, b"\x42" * 8, key="quick")
    found = watermark.detect(marked, key="quick")
    assert found.detected and found.payload == b"\x42" * 8
    assert found.hypotheses == _HYPOTHESES_PER_GEOMETRY  # found by the quick look alone
    missing = watermark.detect(image, key="quick")
    assert not missing.detected
    # The quick look is one more geometry in the bound: 1 + the full-window grid + lattices.
    assert missing.hypotheses % _HYPOTHESES_PER_GEOMETRY == 0
    assert missing.hypotheses >= 2 * _HYPOTHESES_PER_GEOMETRY
    small = np.ascontiguousarray(marked[:QUICK_WINDOW, :QUICK_WINDOW])
    assert watermark.detect(small, key="quick").hypotheses == _HYPOTHESES_PER_GEOMETRY  # no quick look at 512


def test_quick_search_skips_the_lattice_and_rejects_unknown_modes() -> None:
    from provenance.watermark.detection import _HYPOTHESES_PER_GEOMETRY

    rng = np.random.default_rng(11)
    image = np.kron(rng.integers(40, 220, size=(100, 100, 3), dtype=np.uint8), np.ones((8, 8, 1), dtype=np.uint8))
    image = np.clip(image.astype(np.int16) + rng.integers(-10, 11, size=image.shape), 0, 255).astype(np.uint8)
    marked = watermark.embed(image, b"\x07" * 8, key="q")
    resized = attacks.resize(marked, 0.75)
    assert watermark.detect(resized, key="q").detected
    quick = watermark.detect(resized, key="q", search="quick")
    assert not quick.detected
    assert quick.hypotheses == _HYPOTHESES_PER_GEOMETRY  # the full-window grid only, no quick look
    assert watermark.detect(attacks.jpeg(marked, 75), key="q", search="quick").payload == b"\x07" * 8
    with pytest.raises(InvalidInputError, match="search"):
        watermark.detect(marked, key="q", search="fast")


# ---- synchronisation internals: each fast path against its plain definition


def test_search_shifts_matches_the_complex_correlation():
    from provenance.watermark import sync
    from provenance.watermark.patterns import TILE, keyed_pattern

    pattern = keyed_pattern(KEY)
    tile = np.random.default_rng(3).normal(size=(TILE, TILE)).astype(np.float32)
    spectra = sync.dihedral_spectra(sync.tile_band(tile))
    # Plain definition: the one-sided pilot spectrum, complex inverse FFT, real part.
    z = np.zeros((sync.DIHEDRAL, TILE, TILE), dtype=np.complex128)
    rows, cols = np.divmod(pattern.pilot_index, TILE // 2 + 1)
    z[:, rows, cols] = spectra.reshape(sync.DIHEDRAL, -1)[:, pattern.pilot_index] * np.conj(pattern.pilot_phase)
    corr = np.fft.ifft2(z).real * (TILE * TILE / np.sqrt(len(pattern.pilot_index) / 2.0))
    peaks = {p.variant: p.score for p in sync.search_shifts(spectra, pattern)}
    for v in range(sync.DIHEDRAL):
        assert peaks[v] == pytest.approx(corr[v].max(), abs=1e-4)


def test_sync_exports_exist_and_dihedral_spectra_rejects_a_tile():
    from provenance.watermark import sync

    assert all(hasattr(sync, name) for name in sync.__all__)
    with pytest.raises(ValueError, match="band"):
        sync.dihedral_spectra(np.zeros((128, 128), dtype=np.float32))
    with pytest.raises(ValueError, match="even"):
        sync.fold_spectral(np.zeros((9, 5), dtype=np.complex64), (9, 8), np.eye(2))


def test_dihedral_spectra_are_the_phases_of_each_orientation_on_the_band():
    from provenance.watermark import sync
    from provenance.watermark.patterns import BAND_INDEX

    assert np.all(sync._dihedral_maps()[1] >= 0)  # every orientation's coefficients come from the band
    tile = np.random.default_rng(4).normal(size=(128, 128)).astype(np.float32)
    spectra = sync.dihedral_spectra(sync.tile_band(tile)).reshape(sync.DIHEDRAL, -1)
    # Plain definition: turn or flip the tile, FFT it, keep the phases.
    mirrored = tile[:, ::-1]
    for v, turned in enumerate([np.rot90(tile, k) for k in range(4)] + [np.rot90(mirrored, k) for k in range(4)]):
        f = np.fft.rfft2(turned).reshape(-1)[BAND_INDEX]
        assert np.allclose(spectra[v, BAND_INDEX], f / np.abs(f), atol=1e-5)
    outside = np.setdiff1d(np.arange(spectra.shape[1]), BAND_INDEX)
    assert not np.any(spectra[:, outside])


@pytest.mark.slow
def test_fold_spectral_recovers_the_tile_of_a_resized_rotated_lattice():
    from provenance.watermark import sync
    from provenance.watermark.patterns import TILE

    # A periodic window: 300 random band coefficients of a tile, laid on a lattice scaled by
    # 0.76 and turned by 4.8 degrees, sampled on a 256x320 grid (origin at the centre).
    rng = np.random.default_rng(5)
    idx, k = sync._fold_band()
    pick = rng.choice(len(idx), 300, replace=False)
    coeffs = np.exp(2j * np.pi * rng.random(300))
    basis = np.array([[97.3, 8.1], [-8.1, 97.3]])
    inverse = np.linalg.inv(basis.T / TILE)
    h, w = 256, 320
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    uv = np.einsum("ij,jhw->hwi", inverse, np.stack([ys - h / 2, xs - w / 2]))  # tile coordinates
    phase = uv @ k[pick].T / TILE  # (h, w, 300)
    yw = np.real(np.exp(2j * np.pi * phase) @ coeffs).astype(np.float32)

    band = sync.fold_spectral(sync.spectrum(yw), (h, w), inverse)
    chosen = band[pick]
    # The chosen coefficients come back with their phases, the others near zero.
    assert np.mean(np.cos(np.angle(chosen) - np.angle(coeffs))) > 0.95
    others = np.delete(band, pick)
    assert np.median(np.abs(others)) < 0.15 * np.median(np.abs(chosen))


def test_fold_spectral_of_the_unchanged_grid_is_the_tile_sum():
    from provenance.watermark import sync
    from provenance.watermark.patterns import TILE

    # On the unchanged grid every tile frequency is an exact DFT bin: the band equals that of the plain fold.
    yw = np.random.default_rng(6).normal(size=(384, 512)).astype(np.float32)
    got = sync.fold_spectral(sync.spectrum(yw), yw.shape, np.eye(2))
    # The origin sits at the window centre (192, 256): a whole number of tiles from (0, 0) along x, half a tile along y.
    expected = np.roll(sync.fold_identity(yw), (-192 % TILE, -256 % TILE), axis=(0, 1))
    want = sync.tile_band(expected)
    assert np.allclose(got, want, rtol=1e-3, atol=1e-2 * np.abs(want).mean())


@pytest.mark.parametrize("name", ["kodim03.png", "kodim07.png", "kodim08.png"])
def test_lowpass_at_quarter_resolution_matches_the_full_resolution_filter(shared_dir, name):
    from PIL import Image

    from provenance.watermark import sync
    from provenance.watermark.masking import luminance

    y = luminance(np.asarray(Image.open(shared_dir / "samples" / name).convert("RGB")))
    # Plain definition: multiply the full-resolution spectrum by exp(-f**2 / cutoff**2).
    fy = np.fft.fftfreq(y.shape[0])[:, None]
    fx = np.fft.rfftfreq(y.shape[1])[None, :]
    exact = np.fft.irfft2(np.fft.rfft2(y) * np.exp(-(fy**2 + fx**2) / sync._HIGHPASS_CUTOFF**2), s=y.shape)
    got = sync._lowpass(y)
    inner = (slice(8, -8), slice(8, -8))  # the borders differ: repeated edges instead of wrap-around
    # 2-4% on these photos (texture aliased by the 4x4 averaging); detection scores move by under 0.3%.
    assert np.sqrt(np.mean((got[inner] - exact[inner]) ** 2)) < 0.05 * np.std(exact[inner])
    assert sync.whiten(y.astype(np.float64)).dtype == np.float32


def test_autocorrelation_is_the_inverse_fft_of_the_whitened_power_on_the_lag_window():
    import scipy.ndimage as ndi

    from provenance.watermark import sync

    # A sheared lattice on a window with H != W: a mirrored negative half would show.
    rng = np.random.default_rng(9)
    ys, xs = np.mgrid[0:320, 0:448].astype(np.float64)
    yw = np.sin(2 * np.pi * (ys * 0.031 + xs * 0.012)) + np.sin(2 * np.pi * (xs * 0.027 - ys * 0.009))
    yw = (yw + rng.normal(size=yw.shape)).astype(np.float32)
    spec = sync.spectrum(yw)
    region, r = sync._autocorrelation(spec, yw.shape)
    # Plain definition: the same whitened power, a full inverse FFT, lags -r..r on both axes.
    power = np.abs(spec).astype(np.float64) ** 2
    power /= ndi.uniform_filter(power, size=sync._WHITEN_BINS, mode="wrap") + 1e-6 * power.mean() + 1e-12
    power = np.minimum(power, sync._LINE_CAP) * sync._acf_keep(*yw.shape)
    acf = np.fft.irfft2(power, s=yw.shape)
    lags = np.arange(-r, r + 1)
    expected = acf[np.ix_(lags % yw.shape[0], lags % yw.shape[1])]
    assert r == 159
    assert np.allclose(region, expected / expected[r, r], atol=1e-4)


def test_local_peaks_shortlist_finds_the_full_scan_maxima():
    import scipy.ndimage as ndi

    from provenance.watermark import sync

    r = 200
    region = ndi.gaussian_filter(np.random.default_rng(6).normal(size=(2 * r + 1, 2 * r + 1)), 1.5)
    found = sync._local_peaks(region, r)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    ok = (np.hypot(yy, xx) >= sync._MIN_PERIOD) & ((yy > 0) | ((yy == 0) & (xx > 0)))
    is_max = ndi.maximum_filter(region, size=5, mode="wrap") == region
    cand = np.flatnonzero((ok & is_max).ravel())
    top = cand[np.argsort(region.ravel()[cand])[::-1][: sync._PEAKS]]
    assert np.array_equal(found[:, 2], region.ravel()[top])
    assert np.array_equal(found[:, 0] + r, top // (2 * r + 1))
