"""The benchmark in real noise: simulated disks in the shipped cubes' own noise."""
import importlib
import math

import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.bench import real_noise as rn
from galcube_lib.bench.protocol import SNR_BINS
from galcube_lib.metrics.spectra import aperture_spectrum
from galcube_lib.noise.estimate import sigma_negative

SMALL = "carma_ngc4324"   # 21 x 100 x 100: the quickest cube


def test_plan_covers_every_source_bin_and_family():
    tasks = rn.plan(3, ("carma_ngc4324", "wsrt_ngc2903"))
    assert len(tasks) == 2 * len(SNR_BINS) * 3
    assert [t["index"] for t in tasks] == list(range(len(tasks)))
    first = [t for t in tasks if t["noise_source"] == "wsrt_ngc2903" and t["snr_bin"] == "(5,6]"]
    assert [t["class"] for t in first] == ["population", "population", "disk"]


def test_plan_can_take_some_of_the_bins():
    tasks = rn.plan(2, ("carma_ngc4324",), snr_bins=[(2.5, 3.0), [5, 6]])
    assert [t["snr_bin"] for t in tasks] == ["(2.5,3]"] * 2 + ["(5,6]"] * 2


@pytest.mark.parametrize("kwargs,match", [({"n_per_bin": 1}, "n_per_bin"),
                                          ({"sources": ("vla_m51",)}, "vla_m51"),
                                          ({"sources": ()}, "sources"),
                                          ({"snr_bins": [(2.0, 3.0)]}, "snr_bins"),
                                          ({"snr_bins": []}, "snr_bins")])
def test_bad_plan_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rn.plan(**{"n_per_bin": 2, **kwargs})


def test_every_noise_source_reads_with_its_own_beam_and_channels():
    seen = {}
    for source in rn.NOISE_SOURCES:
        cube, mask, zone = rn.noise_cube(source)
        assert mask.shape == zone.shape == cube.shape
        assert mask.any() and not zone.all()
        assert (zone >= mask).all()          # the zone holds the emission, with a margin
        seen[source] = (round(cube.beam_fwhm_px[0], 2), round(abs(cube.channel_kms), 2))
    assert len(set(seen.values())) == len(seen)


def test_your_own_fits_cube_is_a_noise_source(tmp_path):
    cube = rn.noise_cube(SMALL)[0]
    path = cube.to_fits(tmp_path / "mine.fits")
    tasks = rn.plan(2, [path])
    assert {t["noise_source"] for t in tasks} == {"mine"} and len(tasks) == 2 * len(SNR_BINS)
    np.testing.assert_array_equal(rn.noise_cube(path)[0].data, cube.data)
    (row,) = rn._evaluate_task((0, ()), ("gaussian",), {}, tasks[0])
    assert row["noise_source"] == "mine" and "file" not in row and 0 < row["nrmse"] < 1
    with pytest.raises(ValueError, match="neither a noise source"):
        rn.plan(2, [tmp_path / "missing.fits"])


@pytest.mark.parametrize("family", list(rn.FAMILIES))
def test_a_disk_is_injected_into_the_noise_as_it_is_away_from_the_emission(family):
    cube, mask, zone = rn.noise_cube(SMALL)
    galaxy = rn.draw_galaxy(cube, family, 3)
    injected, aperture, galaxy = rn._inject(cube, mask, galaxy, 4.0, 3)
    truth = injected.clean
    outside = truth == 0
    np.testing.assert_array_equal(injected.data[outside], cube.data[outside])  # noise untouched
    assert not (aperture & zone).any()
    assert math.isclose(np.nanmax(truth) / sigma_negative(cube.data), 4.0, rel_tol=1e-5)
    line = rn.line_aperture(truth, aperture)
    assert line.any() and (line <= aperture).all()
    kept = aperture_spectrum(np.nan_to_num(truth), line).sum()
    assert kept >= 0.99 * aperture_spectrum(np.nan_to_num(truth), aperture).sum()


def test_disk_family_has_its_sizes_and_line_widths():
    cube = rn.noise_cube("wsrt_ngc2903")[0]        # 113 channels: room for 40-channel lines
    beam_radius = math.sqrt(cube.beam_fwhm_px[0] * cube.beam_fwhm_px[1]) / 2
    widths = []
    for seed in range(12):
        galaxy = rn.draw_galaxy(cube, "disk", seed)
        assert 0.5 <= galaxy.r_eff_kpc / beam_radius <= 3.0
        injected, aperture, _ = rn._inject(cube, rn.noise_cube("wsrt_ngc2903")[1], galaxy,
                                           5.0, seed)
        widths.append(rn._line_fwhm(aperture_spectrum(np.nan_to_num(injected.clean),
                                                      aperture)))
    # FWHM of the integrated line: 3-40 channels by construction, up to a channel of sampling
    assert 2 <= min(widths) and max(widths) <= 42 and max(widths) > 3 * min(widths)


@pytest.mark.slow
def test_the_identity_scores_one_and_its_nulls_are_unit_normal(monkeypatch, tmp_path):
    """With a 'denoiser' that returns its input, nRMSE and SNR gain are exactly 1, and the null
    flux is the real aperture-flux noise over itself: spread about 1, centred on 0."""
    dn = importlib.import_module("galcube_lib.denoise")   # the package (gl.denoise is the function)
    monkeypatch.setattr(dn, "denoise", lambda cube, method, **_: cube)
    rn._denoised_null.cache_clear()
    try:
        rows = rn.run(n_per_bin=4, methods=["gaussian"], sources=(SMALL, "wsrt_ngc2903"),
                      workers=0, progress=False)
    finally:
        rn._denoised_null.cache_clear()
    assert set(rows["method"]) == {"gaussian", "ist"}
    np.testing.assert_allclose(rows["nrmse"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(rows["snr_gain"], 1.0, rtol=1e-6)
    null = rows.loc[rows["method"] == "gaussian", "null_flux_sigma"]
    assert len(null) == 2 * len(SNR_BINS) * 4
    assert 0.6 < null.std() < 1.6 and abs(null.mean()) < 3 * null.std() / math.sqrt(len(null))
    assert rows["coverage"].isna().all()
    table = gl.bench.summary(rows)
    assert table.index.names == ["noise_source", "method", "class", "snr_bin"]
    assert table.loc[(SMALL, "ist", "disk", "(2.5,3]"), ("mean", "nrmse")] == pytest.approx(1.0)
    files = gl.bench.save(rows, tmp_path)
    assert all(path.stat().st_size > 0 for path in files.values())


@pytest.mark.slow
def test_a_run_repeats_from_its_rng_and_ist_improves_on_the_noise():
    one = rn.run(n_per_bin=2, methods="gaussian", sources=(SMALL,), workers=0, progress=False)
    again = gl.bench.run_real_noise(n_per_bin=2, methods="gaussian", sources=(SMALL,),
                                    workers=0, progress=False)
    figures = [f for f in rn.FIGURES if f != "time_s"]
    assert one[figures].equals(again[figures])
    ist = one[one["method"] == "ist"]
    assert (ist["nrmse"] < 1).mean() > 0.8 and np.isfinite(ist["null_flux_sigma"]).all()


@pytest.mark.deep
def test_an_uncertainty_is_scored_by_its_coverage():
    task = rn.plan(2, (SMALL,))[-1]                       # SNR (8,10]: a bright disk
    rows = rn._evaluate_task((0, ()), ("unet",), {"unet": {"uncertainty": 2}}, task)
    unet = next(row for row in rows if row["method"] == "unet")
    assert 0.0 < unet["coverage"] <= 1.0


@pytest.mark.deep
def test_the_unet_is_adapted_once_per_noise_source_and_never_sees_an_injection(monkeypatch,
                                                                             tmp_path):
    import torch

    from galcube_lib.denoise.deep import adapt as adapt_module
    from galcube_lib.denoise.deep import weights as models
    from galcube_lib.denoise.deep.networks.unet3d import UNet3D

    torch.manual_seed(0)
    tiny = str(models.save(UNet3D(width=2), tmp_path / "tiny.pt",
                           {"network": {"width": 2, "dropout": 0.0}}))
    seen = []
    real_adapt = adapt_module.adapt_weights

    def counting(cube, path, **kwargs):
        seen.append((cube.shape, cube.clean is None, kwargs["steps"], kwargs["weights"]))
        return real_adapt(cube, path, **kwargs)

    monkeypatch.setattr(adapt_module, "adapt_weights", counting)
    kwargs = dict(n_per_bin=2, methods="unet", sources=(SMALL,), snr_bins=[(8.0, 10.0)],
                  workers=0, progress=False, options={"unet": {"weights": tiny}})
    plain = rn.run(**kwargs)
    adapted = rn.run(adapt=3, **kwargs)
    # one adaptation for the source, on the real cube as read (no injected truth), for 4 rows
    assert seen == [(rn.noise_cube(SMALL)[0].shape, True, 3, tiny)]
    assert (adapted.loc[adapted.method == "unet", "adapt_steps"] == 3).all()
    assert (adapted.loc[adapted.method != "unet", "adapt_steps"] == 0).all()
    ist = [frame[frame.method == "ist"].reset_index(drop=True) for frame in (plain, adapted)]
    np.testing.assert_array_equal(ist[0]["nrmse"], ist[1]["nrmse"])    # the same injections
    unet = [frame[frame.method == "unet"].reset_index(drop=True) for frame in (plain, adapted)]
    assert not np.allclose(unet[0]["nrmse"], unet[1]["nrmse"])        # other weights
    # calibration only: the same network, its floor calibrated once in the source's noise
    calibrated = rn.run(calibrate=True, **{**kwargs, "options": {"unet": {"weights": tiny,
                                                                           "uncertainty": 2}}})
    assert seen[1:] == [(rn.noise_cube(SMALL)[0].shape, True, 0, tiny)]
    unet = calibrated[calibrated.method == "unet"].reset_index(drop=True)
    np.testing.assert_array_equal(unet["nrmse"], plain.loc[plain.method == "unet", "nrmse"])
    assert unet["coverage"].between(0, 1).all()
    with pytest.raises(ValueError, match="uncertainty"):
        rn.run(calibrate=True, **kwargs)
