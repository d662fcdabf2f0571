"""Tests for provenance.watermark: round trips, robustness, keys, fidelity and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance import attacks, watermark
from provenance.errors import InvalidImageError, InvalidInputError
from provenance.watermark.coding import CODED_BITS, LIST_SIZE, decode_payload, encode_payload, list_decode_payload

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


def test_geometry_is_reported_relative_to_the_size_normalised_frame(marked_photo):
    # A whole-image resize lands on the same canonical grid: nothing to search for.
    result = watermark.detect(attacks.resize(marked_photo, 0.75), key=KEY, search="quick")
    assert result.payload == PAYLOAD
    assert result.frame == "canonical" and result.scale == pytest.approx(1.0, abs=0.01)
    assert result.to_dict()["scheme"] == watermark.SCHEME == "v2"
    # A crop to 71% of each side changes the long side, so the grid is 1 / 0.71 as large.
    cropped = watermark.detect(attacks.crop_center(marked_photo, 0.71), key=KEY)
    assert cropped.scale == pytest.approx(1 / 0.71, abs=0.02)
    rotated = watermark.detect(attacks.rotate(marked_photo, 5), key=KEY)
    assert abs(rotated.rotation_degrees) == pytest.approx(5, abs=0.5)
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
        np.zeros((255, 4000, 3), np.uint8),  # a banner thinner than two tiles
        np.zeros((1, 600, 3), np.uint8),
        np.zeros((400, 400, 3), np.float64),
        np.zeros((400, 400, 2), np.uint8),
        [[1, 2], [3, 4]],
    ],
)
def test_bad_images_raise_invalid_image(image):
    with pytest.raises(InvalidImageError):
        watermark.embed(image, PAYLOAD, key=KEY)


@pytest.mark.parametrize("shape", [(300, 4000, 3), (4000, 300, 3), (260, 1400, 3)])
def test_banners_are_marked_on_their_own_grid(shape):
    image = _textured(np.random.default_rng(31), *shape[:2])
    marked = watermark.embed(image, PAYLOAD, key=KEY)
    result = watermark.detect(marked, key=KEY)
    assert result.payload == PAYLOAD and result.frame == "native"
    assert watermark.detect(attacks.jpeg(marked, 80), key=KEY).payload == PAYLOAD


@pytest.mark.parametrize("mode", ["I;16", "P", "CMYK", "RGBA", "LA"])
def test_decoded_16bit_palette_cmyk_and_alpha_images_round_trip(photo, mode):
    import io

    from provenance.images import decode_image

    im = Image.fromarray(photo)
    if mode == "I;16":
        im = Image.fromarray((np.asarray(im.convert("L")).astype(np.uint16) * 257))
    else:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if mode == "CMYK" else "PNG")
    image = decode_image(buf.getvalue(), keep_alpha=True)
    marked = watermark.embed(image, PAYLOAD, key=KEY)
    assert marked.shape == image.shape
    if image.ndim == 3 and image.shape[2] == 4:
        assert np.array_equal(marked[..., 3], image[..., 3])  # alpha untouched
    assert watermark.detect(marked, key=KEY).payload == PAYLOAD


@pytest.mark.parametrize("shape", [(96, 96, 3), (96, 5000, 3), (97, 101), (120, 130, 4)])
def test_detect_never_raises_on_small_or_odd_images(shape):
    image = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    assert watermark.detect(image, key=KEY).detected is False


def test_fft_workers_setting_rejects_bad_values():
    from provenance.errors import ConfigError
    from provenance.settings import Settings, fft_workers_from_env

    assert fft_workers_from_env({}) == -1
    assert fft_workers_from_env({"PROVENANCE_FFT_WORKERS": "2"}) == 2
    assert Settings.from_env({"PROVENANCE_FFT_WORKERS": "1"}).fft_workers == 1
    for bad in ("abc", "0", "-2", "1.5"):
        with pytest.raises(ConfigError, match="PROVENANCE_FFT_WORKERS"):
            fft_workers_from_env({"PROVENANCE_FFT_WORKERS": bad})


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


def test_list_decoding_recovers_payloads_the_best_path_loses():
    # Coded-bit error rate about 0.20: the best path alone decodes about half of these.
    rng = np.random.default_rng(11)
    symbols = encode_payload(PAYLOAD, b"salt")
    plain = listed = 0
    for _ in range(40):
        noisy = symbols + rng.normal(0, 1.2, symbols.shape)
        best = decode_payload(noisy, b"salt")
        found = list_decode_payload(noisy, b"salt")
        assert best in (None, PAYLOAD) and found in (None, PAYLOAD)
        assert best is None or found == PAYLOAD  # the best path heads the list
        plain += best == PAYLOAD
        listed += found == PAYLOAD
    assert plain <= 30 and listed >= plain + 8, (plain, listed)


def test_list_decoding_passes_no_crc_on_noise_or_under_another_salt():
    rng = np.random.default_rng(12)
    for _ in range(20):
        assert list_decode_payload(rng.normal(0, 1, CODED_BITS), b"salt") is None
    assert list_decode_payload(encode_payload(PAYLOAD, b"salt"), b"other") is None
    assert list_decode_payload(np.zeros(CODED_BITS), b"salt") is None
    assert LIST_SIZE * 2.0**-32 < 1e-7


def test_a_list_of_one_path_is_the_viterbi_decode():
    rng = np.random.default_rng(13)
    symbols = encode_payload(b"\x07\x01", b"salt")
    outcomes = set()
    for _ in range(20):
        noisy = symbols + rng.normal(0, 1.1, symbols.shape)
        assert list_decode_payload(noisy, b"salt", 1) == decode_payload(noisy, b"salt")
        outcomes.add(decode_payload(noisy, b"salt"))
    assert outcomes == {None, b"\x07\x01"}  # both outcomes were exercised


def test_detection_list_decodes_a_plain_pilot_whose_best_path_fails_and_counts_the_tries(shared_dir):
    from provenance.watermark.detection import whitened_window
    from provenance.watermark.patterns import keyed_pattern
    from provenance.watermark.sync import dihedral_spectra, fold_identity, payload_soft_bits, search_shifts, tile_band

    # kodim08 at JPEG quality 15: the pilot stands out (score about 11.8), the payload bits are
    # about a fifth wrong, and the best trellis path fails its CRC where a list of paths does not.
    image = np.asarray(Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB"))
    key, payload = b"test-key", bytes([1] * 8)
    copy = attacks.jpeg(watermark.embed(image, payload, key=key), 15)
    spectra = dihedral_spectra(tile_band(fold_identity(whitened_window(copy, "canonical"))))
    pattern = keyed_pattern(key)
    peak = search_shifts(spectra, pattern)[0]
    soft = payload_soft_bits(spectra, peak, pattern, CODED_BITS)
    assert peak.score > 10
    assert decode_payload(soft, pattern.salt) is None
    assert list_decode_payload(soft, pattern.salt) == payload

    result = watermark.detect(copy, key=key)
    assert result.detected and result.payload == payload and result.scale == pytest.approx(1.0)
    # The bound counts the list's paths as CRC tries.
    assert result.p_value >= watermark.false_positive_bound(result.score, result.hypotheses, 1 + LIST_SIZE) * 0.999
    assert result.p_value < 1e-20


def test_list_retries_keep_the_strongest_failed_decodes_earliest_first_on_ties():
    from provenance.watermark.detection import LIST_DECODES, LIST_SCORE, ListRetries

    retries = ListRetries()
    symbols = encode_payload(PAYLOAD, b"salt")
    retries.offer(symbols, LIST_SCORE - 0.1, "weak")  # under the gate: never list-decoded
    for name, score in (("a", 6.0), ("b", 7.0), ("c", 7.0), ("d", 6.5), ("e", 5.6)):
        retries.offer(symbols, score, name)
    decoded = list(retries.decode(b"salt"))
    assert [context for _, context in decoded] == ["b", "c", "d"][:LIST_DECODES]
    assert all(payload == PAYLOAD for payload, _ in decoded)


def test_false_positive_bound():
    hyp = watermark.detection.MAX_GEOMETRIES * 8 * 128 * 128
    assert watermark.false_positive_bound(0.0, hyp) == 1.0
    assert watermark.false_positive_bound(8.0, hyp) < watermark.false_positive_bound(6.0, hyp)
    # With a CRC pass the bound can never exceed decodes * 2**-32, far under 1e-6.
    assert watermark.false_positive_bound(watermark.SCORE_THRESHOLD, hyp, decodes=6) <= 6 * 2.0**-32


@pytest.mark.parametrize("pipeline", ["fit1080+webp70", "fit720+jpeg60", "reshare3"])
def test_a_large_output_fitted_to_a_platform_size_keeps_its_payload(photo, pipeline):
    # Scheme v1 lost these (its tile's band sat in the output's own pixel grid, 0 of 8 after
    # fit-to-1080 + WebP 70): v2's grid scales with the image.
    output = np.asarray(Image.fromarray(photo).resize((2048, 1365), Image.Resampling.BICUBIC))
    marked = watermark.embed(output, PAYLOAD, key=KEY)
    result = watermark.detect(attacks.PLATFORM_PIPELINES[pipeline](marked), key=KEY)
    assert result.payload == PAYLOAD, f"{pipeline}: score {result.score:.1f}"


def test_unmarked_image_counts_every_geometry_of_every_frame() -> None:
    from provenance.watermark.detection import MAX_GEOMETRIES, _HYPOTHESES_PER_GEOMETRY

    image = _textured(np.random.default_rng(21), 600, 800)
    missing = watermark.detect(image, key="frames")
    assert not missing.detected and missing.frame is None
    assert missing.hypotheses % _HYPOTHESES_PER_GEOMETRY == 0
    assert _HYPOTHESES_PER_GEOMETRY <= missing.hypotheses <= MAX_GEOMETRIES * _HYPOTHESES_PER_GEOMETRY
    # A banner is looked for on its own pixel grid as well (it could not be marked on the canonical one).
    assert watermark.detection.detection_frames(300, 4000) == ("native",)
    assert watermark.detection.detection_frames(1024, 1024) == ("canonical",)
    assert watermark.detection.detection_frames(300, 420) == ("native", "canonical")


def test_quick_search_skips_the_lattice_and_rejects_unknown_modes() -> None:
    from provenance.watermark.detection import _HYPOTHESES_PER_GEOMETRY

    rng = np.random.default_rng(11)
    image = np.kron(rng.integers(40, 220, size=(100, 100, 3), dtype=np.uint8), np.ones((8, 8, 1), dtype=np.uint8))
    image = np.clip(image.astype(np.int16) + rng.integers(-10, 11, size=image.shape), 0, 255).astype(np.uint8)
    marked = watermark.embed(image, b"\x07" * 8, key="q")
    # A crop changes the long side and so the scale of the canonical grid: only the lattice finds it.
    cropped = attacks.resize(attacks.crop_center(marked, 0.75), 0.9)
    assert watermark.detect(cropped, key="q").detected
    quick = watermark.detect(cropped, key="q", search="quick")
    assert not quick.detected
    assert quick.hypotheses == _HYPOTHESES_PER_GEOMETRY  # the unchanged grid only
    assert watermark.detect(attacks.resize(marked, 0.6), key="q", search="quick").payload == b"\x07" * 8
    assert watermark.detect(attacks.jpeg(marked, 75), key="q", search="quick").payload == b"\x07" * 8
    with pytest.raises(InvalidInputError, match="search"):
        watermark.detect(marked, key="q", search="fast")


@pytest.mark.parametrize("fraction", [0.8, 0.71])
def test_crops_search_finds_crops_but_not_turns_and_counts_its_geometries(marked_photo, fraction):
    from provenance.watermark.detection import _HYPOTHESES_PER_GEOMETRY, GEOMETRY_LIMITS

    cropped = attacks.jpeg(attacks.crop_center(marked_photo, fraction), 85)
    crops = watermark.detect(cropped, key=KEY, search="crops")
    assert crops.payload == PAYLOAD
    assert crops.scale == pytest.approx(1 / fraction, rel=0.01) and crops.rotation_degrees == pytest.approx(0, abs=0.1)
    assert crops.hypotheses <= GEOMETRY_LIMITS["crops"] * _HYPOTHESES_PER_GEOMETRY
    turned = attacks.rotate(marked_photo, 5)
    assert watermark.detect(turned, key=KEY).payload == PAYLOAD
    missed = watermark.detect(turned, key=KEY, search="crops")
    assert not missed.detected
    assert missed.hypotheses <= GEOMETRY_LIMITS["crops"] * _HYPOTHESES_PER_GEOMETRY


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


def test_resampling_matrix_matches_pillow_and_canonical_shapes():
    from provenance.watermark import frame

    plane = np.random.default_rng(8).normal(size=(64, 80)).astype(np.float32)
    for shape in [(200, 256), (40, 50)]:
        via_pillow = frame.resample(plane, shape)
        via_matrix = (frame.resampling_matrix(shape[0], 64) @ plane) @ frame.resampling_matrix(shape[1], 80).T
        # Pillow rounds its kernel weights to fixed point: agreement to about 1% of the spread.
        assert np.abs(via_pillow[4:-4, 4:-4] - via_matrix[4:-4, 4:-4]).max() < 0.03 * plane.std() * 4
    assert frame.canonical_shape(4096, 4096) == (640, 640)
    assert frame.canonical_shape(1080, 1920) == (360, 640)
    assert frame.uses_canonical_frame(2048, 3072) and frame.uses_canonical_frame(512, 512)
    assert not frame.uses_canonical_frame(300, 4000)  # the grid would be 48 px high
    assert not frame.uses_canonical_frame(400, 400)  # the grid would be 1.6x the image


def test_stamps_of_one_key_start_at_their_own_origin():
    image = np.full((512, 512, 3), 128, dtype=np.uint8)
    image = np.clip(image + np.random.default_rng(3).normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    a = watermark.embed(image, b"\x01" * 8, key=KEY).astype(np.int16) - image
    b = watermark.embed(image, b"\x02" * 8, key=KEY).astype(np.int16) - image
    # Different payloads give different tile origins: the two marks are nearly uncorrelated.
    assert abs(np.corrcoef(a[..., 0].ravel(), b[..., 0].ravel())[0, 1]) < 0.2


@pytest.mark.parametrize("attack", ["none", "crop71", "rotate5"])
def test_a_key_ring_gives_what_each_key_in_turn_gives(marked_photo, attack):
    # detect_keys shares the keyless work between keys; its answer must be the per-key loop's.
    received = attacks.ATTACKS[attack](marked_photo)
    ring = [b"another-key-1", KEY, b"another-key-2"]
    index, result = watermark.detect_keys(received, ring)
    loop = [watermark.detect(received, key=k) for k in ring[:2]]
    assert index == 1
    assert result == loop[1]
    assert result.payload == PAYLOAD
    assert not loop[0].detected


def test_a_key_ring_on_an_unmarked_image_reports_its_best_key(photo):
    ring = [b"ring-a", b"ring-b", b"ring-c"]
    for search in watermark.SEARCH_MODES:
        index, result = watermark.detect_keys(photo, ring, search=search)
        each = [watermark.detect(photo, key=k, search=search) for k in ring]
        assert not result.detected
        assert result == each[index]
        assert result.score == max(r.score for r in each)
        assert result.hypotheses == each[0].hypotheses


def test_a_key_ring_must_not_be_empty(photo):
    with pytest.raises(InvalidInputError, match="at least one key"):
        watermark.detect_keys(photo, [])
    with pytest.raises(InvalidInputError):
        watermark.detect_keys(photo, [KEY, b""])
