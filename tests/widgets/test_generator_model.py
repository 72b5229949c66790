"""GeneratorModel driven without a browser: its cube against the library called directly."""
import warnings

import numpy as np
import pytest

import galcube_lib as gl
from widgets._generator_model import GeneratorModel

SMALL = dict(n_pix=48, n_chan=16, channel_kms=60.0)


def small_model(**kw) -> GeneratorModel:
    model = GeneratorModel(**kw)
    model.observation.update(SMALL)
    return model


def test_cube_equals_library_called_directly():
    model = small_model(rng=7)
    model.galaxies[0].update(inclination_deg=45.0, r_eff_kpc=2.0, pa_deg=-20.0)
    model.noise.update(kind="white", peak_snr=6.0)
    cube = model.generate()
    clean = gl.simulate([gl.Galaxy(inclination_deg=45.0, r_eff_kpc=2.0, pa_deg=-20.0)],
                        gl.Observation(**SMALL))
    direct = gl.add_noise(clean, peak_snr=6.0, kind="white", rng=7)
    assert np.array_equal(cube.data, direct.data)
    assert np.array_equal(cube.clean, direct.clean)
    assert model.error is None
    line = model.log[-1]
    assert line.startswith("simulated 16x48x48") and "peak SNR 6.0" in line and "sigma" in line


@pytest.mark.parametrize("rng, same_twice", [(np.random.SeedSequence(7), True),
                                             (np.random.default_rng(7), False)])
def test_rng_takes_every_spec7_form(rng, same_twice):
    """A SeedSequence gives the noise of its seed at every generation; a Generator goes on
    drawing, so its first cube is the library's with that Generator and the second differs."""
    model = small_model(rng=rng)
    model.noise.update(kind="white", peak_snr=6.0)
    first, second = model.generate().data, model.generate().data
    clean = gl.simulate([gl.Galaxy()], gl.Observation(**SMALL))
    direct = gl.add_noise(clean, peak_snr=6.0, kind="white", rng=np.random.default_rng(7))
    assert np.array_equal(first, direct.data)
    assert np.array_equal(first, second) == same_twice


def test_counts_change_the_components_passed(monkeypatch):
    passed = []
    real = gl.simulate
    monkeypatch.setattr(gl, "simulate", lambda comps, obs: passed.append(comps) or real(comps, obs))
    model = small_model()
    model.generate()
    model.n_galaxies = 2
    model.set_n_satellites(1, 2)
    model.satellites[1][0]["v_sys_kms"] = -50.0
    first_sat = dict(model.satellites[1][0])
    model.generate()
    model.set_n_diffuse("Halo", 1)
    model.set_n_diffuse("Tail", 2)
    model.set_n_diffuse("Bridge", 1)
    model.generate()
    model.set_n_diffuse("Tail", 1)
    model.n_galaxies = 1
    model.set_n_diffuse("Bridge", 0)
    model.generate()
    kinds = [[type(c).__name__ for c in comps] for comps in passed]
    assert kinds == [["Galaxy"], ["Galaxy"] * 4, ["Galaxy"] * 4 + ["Halo", "Tail", "Tail", "Bridge"],
                     ["Galaxy", "Halo", "Tail"]]
    # satellites sit at their host's offset plus their own, and move with it
    host, sat = passed[1][1], passed[1][2]
    assert np.allclose(np.subtract(sat.offset_kpc, host.offset_kpc), first_sat["offset_kpc"])
    assert sat.v_sys_kms == host.v_sys_kms + first_sat["v_sys_kms"]
    assert passed[2][-1].a is passed[2][0] and passed[2][-1].b is passed[2][1]


EXPECTED_UNITS = {"n_pix": "", "n_chan": "", "channel_kms": "km/s", "v_center_kms": "km/s",
                  "pixel_kpc": "kpc", "pixel_arcsec": "arcsec", "redshift": "",
                  "rest_freq_ghz": "GHz", "beam_fwhm_px": "px", "beam_fwhm_arcsec": "arcsec",
                  "beam_pa_deg": "deg", "hanning": "", "spectral_axis": "", "ra_deg": "deg",
                  "dec_deg": "deg", "sersic_n": "", "r_eff_kpc": "kpc", "h_z_kpc": "kpc",
                  "flux_jy_kms": "Jy km/s", "inclination_deg": "deg", "pa_deg": "deg",
                  "v_max_kms": "km/s", "rotation": "", "r_turn_kpc": "kpc", "sigma_kms": "km/s",
                  "offset_kpc": "kpc", "v_sys_kms": "km/s", "host": "", "a": "", "b": "",
                  "width_kpc": "kpc", "bend_kpc": "kpc", "length_kpc": "kpc", "angle_deg": "deg",
                  "dv_kms": "km/s", "bend_deg": "deg", "kind": "", "peak_snr": "", "rms_jy": "Jy/beam"}


def test_every_control_shows_the_unit_of_its_suffix():
    model = GeneratorModel()
    sections = [model.params(s) for s in ("observation", "galaxy", "satellite", "noise")]
    sections += [model.params("diffuse", k) for k in ("Halo", "Bridge", "Tail")]
    shown = {p.name: p for params in sections for p in params}
    assert set(shown) == set(EXPECTED_UNITS)
    for name, param in shown.items():
        assert param.unit == EXPECTED_UNITS[name], name
        assert param.label.endswith(f" [{param.unit}]") if param.unit else "[" not in param.label
        assert "_" not in param.label and param.tooltip.startswith(f"{name}: "), param.label


def test_starting_values_are_the_library_defaults():
    model = GeneratorModel()
    assert model.galaxies == [{k: getattr(gl.Galaxy(), k) for k in model.galaxies[0]}]
    assert model.observation["beam_fwhm_px"] == gl.Observation().beam_fwhm_px


def test_clean_flux_is_the_sum_of_component_fluxes():
    model = GeneratorModel()
    model.observation.update(n_pix=96, n_chan=32, channel_kms=40.0)
    model.galaxies[0].update(r_eff_kpc=2.0, flux_jy_kms=1.5, offset_kpc=(-6.0, 0.0))
    model.set_n_satellites(0, 1)
    model.satellites[0][0].update(offset_kpc=(12.0, 5.0), r_eff_kpc=1.0, flux_jy_kms=0.4,
                                  v_sys_kms=100.0)
    model.set_n_diffuse("Halo", 1)
    model.diffuse[0].update(flux_jy_kms=0.3, r_eff_kpc=3.0)
    model.set_n_diffuse("Tail", 1)
    model.diffuse[1].update(flux_jy_kms=0.2, length_kpc=6.0, angle_deg=180.0)
    cube = model.generate()
    flux = cube.clean.astype(float).sum() * cube.channel_kms / cube.beam_area_px
    assert flux == pytest.approx(1.5 + 0.4 + 0.3 + 0.2, rel=0.01)


@pytest.mark.parametrize("section, change, name", [
    ("observation", {"beam_fwhm_px": (-3.0, -3.0)}, "beam_fwhm_px[0]"),
    ("galaxy", {"inclination_deg": 120.0}, "inclination_deg"),
    ("noise", {"peak_snr": -1.0}, "peak_snr"),
])
def test_bad_values_are_logged_naming_the_parameter(section, change, name):
    model = small_model()
    first = model.generate()
    {"observation": model.observation, "galaxy": model.galaxies[0], "noise": model.noise}[section].update(change)
    assert model.generate() is None
    assert model.log[-1].startswith("error: ") and f"{name}=" in model.log[-1]
    assert name in model.error
    assert model.cube is first           # the last good cube is kept, not replaced


def test_a_bridge_needs_an_existing_disk():
    model = small_model()
    model.set_n_diffuse("Bridge", 1)
    assert model.generate() is None
    assert "bridge 1: b=None" in model.error


def test_pixel_scale_from_arcsec_and_redshift():
    model = small_model()
    model.given["pixel"] = "pixel_arcsec"
    model.observation.update(pixel_arcsec=0.1, redshift=6.0)
    cube = model.generate()
    expected = gl.Observation(**SMALL, pixel_arcsec=0.1, redshift=6.0)
    assert cube.pixel_arcsec == pytest.approx(0.1)
    assert model.observation["pixel_kpc"] == expected.pixel_kpc    # derived value shown


def test_noise_level_from_rms():
    model = small_model()
    model.given["level"] = "rms_jy"
    model.noise["rms_jy"] = 1e-3
    cube = model.generate()
    assert cube.record["noise"]["rms_jy"] == 1e-3
    assert model.noise["peak_snr"] == pytest.approx(cube.clean.max() / 1e-3)


def test_progress_reaches_one():
    seen = []
    small_model().generate(progress=lambda fraction, text: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_save_fits_refuses_before_generating_and_round_trips(tmp_path):
    model = small_model()
    with pytest.raises(RuntimeError, match="generate"):
        model.save_fits(tmp_path / "cube.fits")
    assert not (tmp_path / "cube.fits").exists()
    cube = model.generate()
    model.save_fits(tmp_path / "cube.fits")
    back = gl.read_fits(tmp_path / "cube.fits")
    assert np.array_equal(back.data, cube.data) and np.array_equal(back.clean, cube.clean)
    assert back.record == cube.record
    assert list(tmp_path.iterdir()) == [tmp_path / "cube.fits"]
    assert model.log[-1] == f"saved {tmp_path / 'cube.fits'}"


def test_real_noise_cube_kind(tmp_path):
    model = small_model(rng=2)
    model.noise["kind"] = "cube"
    assert model.generate() is None and "load one" in model.error
    model.load_noise_cube(tmp_path / "missing.fits")
    assert model.log[-1].startswith("error: noise cube") and model.noise_cube is None
    template = gl.add_noise(gl.simulate([gl.Galaxy()], gl.Observation(**SMALL)), peak_snr=1.0,
                            kind="hanning", rng=9)
    template.replace(data=template.noise, clean=None, noise=None).to_fits(tmp_path / "noise.fits")
    model.load_noise_cube(tmp_path / "noise.fits")
    assert model.log[-1] == f"loaded noise cube 16x48x48 from {tmp_path / 'noise.fits'}"
    cube = model.generate()
    direct = gl.add_noise(gl.simulate([gl.Galaxy()], gl.Observation(**SMALL)), peak_snr=4.0,
                          kind=template.noise, rng=2)
    assert np.array_equal(cube.data, direct.data) and cube.record["noise"]["kind"] == "cube"


def test_library_warnings_go_to_the_log():
    model = GeneratorModel()
    model.observation.update(n_pix=32, n_chan=8)
    model.n_galaxies = 2
    model.galaxies[1]["offset_kpc"] = (200.0, 0.0)          # far outside a 16 kpc field
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # none escapes to the notebook
        cube = model.generate()
    assert cube is not None and model.log[-1].startswith("simulated")
    assert model.log[0].startswith("warning: components[1] (Galaxy)") and "outside the field" in model.log[0]
    # with an error as well, both are logged
    model.galaxies[0]["offset_kpc"] = (200.0, 0.0)
    before = len(model.log)
    assert model.generate() is None
    error, *notes = model.log[before:]
    assert error.startswith("error: noise: peak_snr") and len(notes) == 2
    assert all(note.startswith("warning: components[") for note in notes)


@pytest.mark.parametrize("change, error, message", [
    (lambda m: setattr(m, "n_galaxies", 0), ValueError, r"n_galaxies=0 is outside the valid range \[1, inf\)"),
    (lambda m: setattr(m, "n_galaxies", 1.5), TypeError, "n_galaxies must be an integer, got 1.5"),
    (lambda m: setattr(m, "n_galaxies", "2"), TypeError, "n_galaxies must be an integer, got '2'"),
    (lambda m: m.set_n_satellites(0, -1), ValueError, r"n_satellites=-1 is outside the valid range \[0, inf\)"),
    (lambda m: m.set_n_satellites(0, 2.5), TypeError, "n_satellites must be an integer, got 2.5"),
    (lambda m: m.set_n_satellites(5, 1), ValueError, r"galaxy=5 is outside the valid range \[0, 0\]"),
    (lambda m: m.set_n_diffuse("Cloud", 1), ValueError, "kind='Cloud' is not one of 'Halo', 'Bridge', 'Tail'"),
    (lambda m: m.set_n_diffuse("Halo", "1"), TypeError, "n_halos must be an integer, got '1'"),
])
def test_bad_counts_name_the_count(change, error, message):
    model = GeneratorModel()
    with pytest.raises(error, match=message):
        change(model)
    assert model.n_galaxies == 1 and model.satellites == [[]] and model.diffuse == []
