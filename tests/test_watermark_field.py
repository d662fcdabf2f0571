"""Tests for layer B of the watermark (provenance.watermark.field): the keyed non-periodic field."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance import attacks, keyless_attacks, watermark
from provenance.errors import InvalidImageError
from provenance.watermark.coding import CODED_BITS, decode_payload, encode_payload
from provenance.watermark.field import keyed_field
from provenance.watermark.frame import CANONICAL_SIDE, canonical_luma, canonical_shape
from provenance.watermark.patterns import keyed_pattern
from provenance.watermark.sync import whiten

KEY = b"field-test-key-0123456789"
OTHER_KEY = b"field-test-other-key-9876"
PAYLOAD = bytes.fromhex("fedcba9876543210")
SHARE = 0.4


@pytest.fixture(scope="module")
def output(shared_dir) -> np.ndarray:
    """A generator-sized output (1536x1024) made from a Kodak photo."""
    photo = Image.open(shared_dir / "samples" / "kodim03.png").convert("RGB")
    return np.asarray(photo.resize((1536, 1024), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def marked(output) -> np.ndarray:
    return watermark.embed(output, PAYLOAD, key=KEY, field_share=SHARE)


def _field_payload(image: np.ndarray, key: bytes) -> bytes | None:
    """Layer B alone: decode the field at the unchanged canonical grid, as detection does."""
    h, w = image.shape[:2]
    y = canonical_luma(image, canonical_shape(h, w))
    hw, ww = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    origin = ((y.shape[0] - hw) // 2, (y.shape[1] - ww) // 2)
    yw = whiten(np.ascontiguousarray(y[origin[0] : origin[0] + hw, origin[1] : origin[1] + ww]))
    return decode_payload(keyed_field(key).soft_bits(yw, origin), keyed_pattern(key).salt)


def test_layer_b_alone_carries_the_payload(marked):
    assert _field_payload(marked, KEY) == PAYLOAD


def test_layer_b_survives_fold_and_subtract_of_layer_a(marked):
    attacked = keyless_attacks.remove_mark(marked, gain=1.0)
    assert keyless_attacks.psnr(attacked, marked) > 36.0
    result = watermark.detect(attacked, key=KEY)
    assert result.detected and result.payload == PAYLOAD
    assert result.layer == "field"
    assert result.p_value < 1e-6


def test_a_key_ring_reads_layer_b_under_its_own_key(marked):
    attacked = keyless_attacks.remove_mark(marked, gain=1.0)
    index, result = watermark.detect_keys(attacked, [OTHER_KEY, KEY], search="quick")
    assert index == 1 and result.payload == PAYLOAD and result.layer == "field"
    # Each key's bound counts its own decodes: layer A's unchanged grid found nothing, then layer B.
    assert result.hypotheses == 8 * 128 * 128
    assert result.p_value <= 2 * 2.0**-32


def test_a_mark_without_layer_b_is_removed_by_the_same_attack(output):
    # What layer B is for: the periodic layer alone does not survive its own fold subtracted.
    plain = watermark.embed(output, PAYLOAD, key=KEY, field_share=0.0)
    attacked = keyless_attacks.remove_mark(plain, gain=1.5)
    assert keyless_attacks.psnr(attacked, plain) > 36.0
    assert not watermark.detect(attacked, key=KEY).detected


def test_layer_b_decodes_after_fit_to_1080_and_jpeg_75(marked):
    shared = attacks.PLATFORM_PIPELINES["fit1080+jpeg75"](marked)
    assert max(shared.shape[:2]) == 1080
    assert _field_payload(shared, KEY) == PAYLOAD


def test_layer_b_does_not_decode_under_another_key(marked):
    assert _field_payload(marked, OTHER_KEY) is None
    attacked = keyless_attacks.remove_mark(marked, gain=1.0)
    assert not watermark.detect(attacked, key=OTHER_KEY).detected


def test_unmarked_image_gives_nothing_and_counts_the_field_decode(output):
    assert _field_payload(output, KEY) is None
    result = watermark.detect(output, key=KEY, search="quick")
    assert not result.detected and result.layer is None


def test_periodic_layer_is_reported_when_it_decodes(marked):
    result = watermark.detect(marked, key=KEY)
    assert result.payload == PAYLOAD and result.layer == "periodic"
    assert result.to_dict()["layer"] == "periodic"


def test_two_layers_keep_the_psnr_target(output, marked):
    mse = np.mean((marked.astype(np.float64) - output) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 41.5


def test_field_is_keyed_band_limited_and_balanced():
    field = keyed_field(KEY)
    assert field.values.shape == field.bits.shape == (CANONICAL_SIDE, CANONICAL_SIDE)
    assert keyed_field(KEY) is field  # cached
    assert abs(float(np.sqrt(np.mean(field.values.astype(np.float64) ** 2))) - 1.0) < 1e-3
    other = keyed_field(OTHER_KEY)
    assert abs(np.corrcoef(field.values.ravel(), other.values.ravel())[0, 1]) < 0.01
    counts = np.bincount(field.bits[::8, ::8].ravel(), minlength=CODED_BITS)
    assert counts.max() - counts.min() <= 1
    power = np.abs(np.fft.rfft2(field.values)) ** 2
    radius = np.hypot(np.fft.fftfreq(CANONICAL_SIDE)[:, None], np.fft.rfftfreq(CANONICAL_SIDE)[None, :])
    assert power[(radius < 0.085) | (radius > 0.315)].sum() < 1e-6 * power.sum()


def test_field_pattern_and_soft_bits_agree_and_check_shapes():
    field = keyed_field(KEY)
    symbols = encode_payload(PAYLOAD, keyed_pattern(KEY).salt)
    plane = field.pattern(symbols, (427, 640))
    assert plane.shape == (427, 640) and plane.dtype == np.float32
    # Reading the noiseless pattern back gives every symbol's sign.
    window = plane[1:425, :]
    assert np.array_equal(np.sign(field.soft_bits(window, (1, 0))), symbols)
    with pytest.raises(ValueError, match="canonical grid"):
        field.pattern(symbols, (641, 640))
    with pytest.raises(ValueError, match="canonical grid"):
        field.soft_bits(window, (300, 0))


@pytest.mark.parametrize("share", [-0.1, 0.95, float("nan")])
def test_bad_field_share_is_refused(output, share):
    with pytest.raises(InvalidImageError, match="field_share"):
        watermark.embed(output, PAYLOAD, key=KEY, field_share=share)


def test_stamper_adds_layer_b_when_the_setting_turns_it_on(shared_dir, tmp_path):
    from provenance.images import decode_image
    from provenance.settings import Settings
    from provenance.stamp import Stamper

    photo = shared_dir / "samples" / "kodim03.png"
    found = {}
    for percent in (0.0, 40.0):
        settings = Settings.from_env({"PROVENANCE_INSTANCE_PATH": str(tmp_path / f"inst{percent:.0f}"),
                                      "PROVENANCE_WATERMARK_FIELD_PERCENT": str(percent)})
        with Stamper(settings) as stamper:
            result = stamper.stamp_image(photo.read_bytes(), generator="test-diffusion 1.0")
            pixels = decode_image(result.data)
            secret = stamper.keyring.active.secret
        found[percent] = (result.stamp_id, _field_payload(pixels, secret))
    assert found[0.0][1] is None  # off by default: layer A only
    stamp_id, payload = found[40.0]
    assert payload is not None and payload.hex() == stamp_id
