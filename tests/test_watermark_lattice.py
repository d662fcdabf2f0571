"""Tests for provenance.watermark.lattice: lattice estimation from the autocorrelation."""

from __future__ import annotations

import numpy as np


def test_autocorrelation_is_the_inverse_fft_of_the_whitened_power_on_the_lag_window():
    import scipy.ndimage as ndi

    from provenance.watermark import lattice, sync

    # A sheared lattice on a window with H != W: a mirrored negative half would show.
    rng = np.random.default_rng(9)
    ys, xs = np.mgrid[0:320, 0:448].astype(np.float64)
    yw = np.sin(2 * np.pi * (ys * 0.031 + xs * 0.012)) + np.sin(2 * np.pi * (xs * 0.027 - ys * 0.009))
    yw = (yw + rng.normal(size=yw.shape)).astype(np.float32)
    spec = sync.spectrum(yw)
    region, r = lattice._autocorrelation(spec, yw.shape)
    # Plain definition: the same whitened power, a full inverse FFT, lags -r..r on both axes.
    power = np.abs(spec).astype(np.float64) ** 2
    power /= ndi.uniform_filter(power, size=lattice._WHITEN_BINS, mode="wrap") + 1e-6 * power.mean() + 1e-12
    power = np.minimum(power, lattice._LINE_CAP) * lattice._acf_keep(*yw.shape)
    acf = np.fft.irfft2(power, s=yw.shape)
    lags = np.arange(-r, r + 1)
    expected = acf[np.ix_(lags % yw.shape[0], lags % yw.shape[1])]
    assert r == 159
    assert np.allclose(region, expected / expected[r, r], atol=1e-4)


def test_local_peaks_shortlist_finds_the_full_scan_maxima():
    import scipy.ndimage as ndi

    from provenance.watermark import lattice

    r = 200
    region = ndi.gaussian_filter(np.random.default_rng(6).normal(size=(2 * r + 1, 2 * r + 1)), 1.5)
    found = lattice._local_peaks(region, r)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    ok = (np.hypot(yy, xx) >= lattice._MIN_PERIOD) & ((yy > 0) | ((yy == 0) & (xx > 0)))
    is_max = ndi.maximum_filter(region, size=5, mode="wrap") == region
    cand = np.flatnonzero((ok & is_max).ravel())
    top = cand[np.argsort(region.ravel()[cand])[::-1][: lattice._PEAKS]]
    assert np.array_equal(found[:, 2], region.ravel()[top])
    assert np.array_equal(found[:, 0] + r, top // (2 * r + 1))
