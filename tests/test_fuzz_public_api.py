"""Fuzz: a bad value for any public parameter is a ValueError or TypeError that names it, fast.

Each parameter of the public API (the README tour: the component and observation dataclasses,
``simulate``, ``add_noise``, ``read_fits``, every option of every ``denoise`` method,
``smooth_clip_mask``, ``generate_dataset``, ``metrics.evaluate``) gets values that are wrong
whatever the parameter means: the wrong type, NaN or infinity, a string that names nothing,
a negative count. Hypothesis draws them. The call must raise ValueError or TypeError whose
message names the parameter, within 1 s and without allocating more than 1 GB (numpy and
Python allocations, traced by tracemalloc).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import galcube_lib as gl
from galcube_lib.denoise import CONTEXT, METHODS, method_function

MAX_SECONDS = 1.0
MAX_BYTES = 1 << 30
SETTINGS = settings(max_examples=12, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NONSENSE_TEXT = st.text(alphabet="qxzjk_", min_size=1, max_size=6).map(lambda s: "bad_" + s)
CONTAINERS = st.one_of(st.lists(st.floats(0, 10), min_size=4, max_size=5),   # no parameter takes 4-5 values
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
OBJECTS = st.sampled_from([object(), b"bytes", 1j, {1, 2}])
RNG_BAD = st.one_of(NONSENSE_TEXT, st.integers(max_value=-1), st.floats(0.1, 9.9), CONTAINERS,
                    NON_FINITE)           # SPEC 7: an rng is None, an int >= 0, a SeedSequence or Generator


def bad_values(kind: str, optional: bool):
    """Values no parameter of ``kind`` accepts."""
    if kind == "rng":
        return RNG_BAD
    nothing = st.nothing() if optional else st.none()
    wrong_type = st.one_of(NONSENSE_TEXT, CONTAINERS, OBJECTS, nothing)
    if kind == "float":
        return st.one_of(NON_FINITE, wrong_type, st.booleans())
    if kind == "int":
        return st.one_of(NON_FINITE, wrong_type, st.booleans(), st.integers(max_value=-1),
                         st.floats(0.1, 50.0).filter(lambda x: x != int(x)))
    if kind == "bool":
        return st.one_of(NONSENSE_TEXT, st.sampled_from(["no", "yes", "False", 2, 0.5]),
                         CONTAINERS, OBJECTS, nothing)
    if kind == "str":
        return st.one_of(NONSENSE_TEXT, NON_FINITE, st.integers(), CONTAINERS, OBJECTS, nothing)
    pair = st.one_of(wrong_type, NON_FINITE, st.tuples(NON_FINITE, st.floats(0, 1)),
                     st.tuples(st.floats(0, 1)), st.tuples(NONSENSE_TEXT, st.floats(0, 1)))
    if kind == "pair":                               # an (x, y) pair
        return pair
    if kind == "range":                              # a (low, high) pair
        return st.one_of(pair, st.tuples(st.floats(2, 3), st.floats(0, 1)))     # low > high
    raise AssertionError(kind)


def kind_of(annotation, default, name="") -> tuple[str, bool]:
    """(kind, optional) from a dataclass field's or a parameter's name, annotation and default."""
    if name == "rng":
        return "rng", True
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    optional = default is None or "None" in text
    for kind in ("bool", "int", "float", "str"):
        if text.split(" |")[0] == kind:
            return kind, optional
    if isinstance(default, bool):
        return "bool", optional
    if isinstance(default, int):
        return "int", optional
    if isinstance(default, float):
        return "float", optional
    if isinstance(default, str):
        return "str", optional
    if isinstance(default, tuple) and len(default) == 2:
        return ("range" if default[0] < default[1] else "pair"), optional
    return "", optional


def assert_clear_error(call, name: str) -> None:
    """``call()`` raises ValueError/TypeError naming ``name`` within the time and memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises((ValueError, TypeError)) as err:
            call()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert name in str(err.value), f"the error does not name {name!r}: {err.value!r}"
    assert seconds < MAX_SECONDS, f"{name}: the error took {seconds:.2f} s"
    assert peak < MAX_BYTES, f"{name}: {peak / 2**30:.1f} GB allocated before the error"


# ----------------------------------------------------------------------------- the simulator

SMALL = dict(n_pix=24, n_chan=12, beam_fwhm_px=3.0, pixel_kpc=0.5)


def _host():
    return gl.Galaxy(r_eff_kpc=2.0)


def _fields(cls, skip=()):
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind, optional = kind_of(f.type, None if f.default is dataclasses.MISSING else f.default)
        if kind:
            out.append((cls.__name__, f.name, kind, optional))
    return out


COMPONENTS = {
    "Galaxy": lambda **kw: gl.Galaxy(**kw),
    "Halo": lambda **kw: gl.Halo(**{"host": _host(), "flux_jy_kms": 0.1, "r_eff_kpc": 3.0, **kw}),
    "Bridge": lambda **kw: gl.Bridge(**{"a": _host(), "b": gl.Galaxy(offset_kpc=(4.0, 0.0)),
                                       "flux_jy_kms": 0.1, **kw}),
    "Tail": lambda **kw: gl.Tail(**{"host": _host(), "flux_jy_kms": 0.1, "length_kpc": 4.0, **kw}),
}
COMPONENT_FIELDS = [p for cls in (gl.Galaxy, gl.Halo, gl.Bridge, gl.Tail)
                    for p in _fields(cls, skip=("host", "a", "b"))]


@pytest.mark.parametrize("cls,name,kind,optional", COMPONENT_FIELDS,
                         ids=[f"{c}.{n}" for c, n, _, _ in COMPONENT_FIELDS])
@SETTINGS
@given(data=st.data())
def test_component_parameters(cls, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    obs = gl.Observation(**SMALL)
    assert_clear_error(lambda: gl.simulate([COMPONENTS[cls](**{name: value})], obs), name)


OBSERVATION_FIELDS = _fields(gl.Observation)


@pytest.mark.parametrize("cls,name,kind,optional", OBSERVATION_FIELDS,
                         ids=[n for _, n, _, _ in OBSERVATION_FIELDS])
@SETTINGS
@given(data=st.data())
def test_observation_parameters(cls, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    base = {k: v for k, v in SMALL.items() if k != name
            and not (name == "pixel_arcsec" and k == "pixel_kpc")
            and not (name == "beam_fwhm_arcsec" and k == "beam_fwhm_px")}
    assert_clear_error(lambda: gl.simulate([_host()], gl.Observation(**base, **{name: value})), name)


PRIOR_FIELDS = _fields(gl.BenchmarkPrior)


@pytest.mark.parametrize("cls,name,kind,optional", PRIOR_FIELDS, ids=[n for _, n, _, _ in PRIOR_FIELDS])
@SETTINGS
@given(data=st.data())
def test_benchmark_prior_parameters(cls, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    assert_clear_error(lambda: gl.BenchmarkPrior(**{name: value}).draw(0), name)


@SETTINGS
@given(value=bad_values("str", False).filter(lambda v: not isinstance(v, list)))
def test_simulate_components(value):
    assert_clear_error(lambda: gl.simulate(value, gl.Observation(**SMALL)), "components")


@SETTINGS
@given(value=bad_values("str", False))
def test_simulate_observation(value):
    assert_clear_error(lambda: gl.simulate([_host()], value), "observation")


# ----------------------------------------------------------------------------- noise

@pytest.fixture(scope="module")
def clean():
    return gl.simulate([_host()], gl.Observation(**SMALL))


@pytest.fixture(scope="module")
def noisy(clean):
    return gl.add_noise(clean, 5.0, rng=1)


NOISE_PARAMETERS = [("peak_snr", "float", False), ("rms_jy", "float", False), ("kind", "str", False),
                    ("rng", "rng", False)]


@pytest.mark.parametrize("name,kind,optional", NOISE_PARAMETERS, ids=[p[0] for p in NOISE_PARAMETERS])
@SETTINGS
@given(data=st.data())
def test_add_noise_parameters(clean, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    level = {} if name in ("peak_snr", "rms_jy") else {"peak_snr": 5.0}
    assert_clear_error(lambda: gl.add_noise(clean, **level, **{name: value}), name)


# ----------------------------------------------------------------------------- FITS

@pytest.fixture(scope="module")
def fits_path(noisy, tmp_path_factory):
    return noisy.to_fits(tmp_path_factory.mktemp("fuzz") / "cube.fits")


@SETTINGS
@given(value=st.one_of(NONSENSE_TEXT, NON_FINITE, st.tuples(NON_FINITE, st.floats(1, 2),
                                                            st.floats(0, 90)),
                       st.tuples(st.floats(1, 2), st.floats(1, 2)), OBJECTS,
                       st.tuples(st.floats(-5, -0.1), st.floats(1, 2), st.floats(0, 9))))
def test_read_fits_beam(fits_path, value):
    assert_clear_error(lambda: gl.read_fits(fits_path, beam=value), "beam")


@SETTINGS
@given(value=st.one_of(NON_FINITE, OBJECTS, CONTAINERS, st.floats(1.5, 9), st.floats(-9, -0.1)))
def test_read_fits_gain(fits_path, value):
    assert_clear_error(lambda: gl.read_fits(fits_path, gain=value), "gain")


# ----------------------------------------------------------------------------- denoisers

def _options(method):
    params = inspect.signature(method_function(method)).parameters
    out = []
    for p in params.values():
        if p.name in CONTEXT or p.name == "data" or p.kind != p.KEYWORD_ONLY:
            continue
        default = None if p.default is p.empty else p.default
        kind, optional = kind_of(p.annotation, default, p.name)
        if kind:
            out.append((method, p.name, kind, optional))
    return out


DENOISE_OPTIONS = [o for m in METHODS for o in _options(m)]


@pytest.mark.parametrize("method,name,kind,optional", DENOISE_OPTIONS,
                         ids=[f"{m}.{n}" for m, n, _, _ in DENOISE_OPTIONS])
@SETTINGS
@given(data=st.data())
def test_denoise_options(noisy, method, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    assert_clear_error(lambda: gl.denoise(noisy, method, **{name: value}), name)


@SETTINGS
@given(value=bad_values("str", False))
def test_denoise_method(noisy, value):
    assert_clear_error(lambda: gl.denoise(noisy, value), "method")


@SETTINGS
@given(value=st.one_of(NONSENSE_TEXT, NON_FINITE, OBJECTS,
                       st.tuples(st.integers(5, 9), st.integers(0, 4)).map(lambda r: (r, r, r))))
def test_denoise_box(noisy, value):
    assert_clear_error(lambda: gl.denoise(noisy, "gaussian", box=value), "box")


SMOOTH_CLIP = [("smooth_clip_mask", n, k, o) for _, n, k, o in _options("smooth_clip")
               if n in inspect.signature(gl.smooth_clip_mask).parameters]


@pytest.mark.parametrize("method,name,kind,optional", SMOOTH_CLIP, ids=[p[1] for p in SMOOTH_CLIP])
@SETTINGS
@given(data=st.data())
def test_smooth_clip_mask_parameters(noisy, method, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    assert_clear_error(lambda: gl.smooth_clip_mask(noisy.data, beam_fwhm_px=3.0, **{name: value}),
                       name)


# ----------------------------------------------------------------------------- datasets, metrics

CALLS = {
    "generate_dataset": lambda noisy, folder, kw: gl.generate_dataset(
        folder / "d.zarr", **{"n_cubes": 2, "workers": 1, **kw}),
    "evaluate": lambda noisy, folder, kw: gl.metrics.evaluate(noisy, noisy=noisy, **kw),
}
FUNCTION_PARAMETERS = [
    ("generate_dataset", "n_cubes", "int", False), ("generate_dataset", "workers", "int", False),
    ("generate_dataset", "store_noisy", "bool", False),
    ("generate_dataset", "batch_size", "int", True), ("generate_dataset", "progress", "bool", False),
    ("generate_dataset", "rng", "rng", False),
    ("evaluate", "n_placements", "int", False), ("evaluate", "mask_frac", "float", False),
    ("evaluate", "n_sigma", "float", False), ("evaluate", "rng", "rng", False),
]


@pytest.mark.parametrize("function,name,kind,optional", FUNCTION_PARAMETERS,
                         ids=[f"{f}.{n}" for f, n, _, _ in FUNCTION_PARAMETERS])
@SETTINGS
@given(data=st.data())
def test_dataset_and_metrics_parameters(noisy, tmp_path, function, name, kind, optional, data):
    value = data.draw(bad_values(kind, optional), label=name)
    assert_clear_error(lambda: CALLS[function](noisy, tmp_path, {name: value}), name)


@SETTINGS
@given(value=st.one_of(st.none(), NON_FINITE, OBJECTS, CONTAINERS, st.just("")))
def test_open_dataset_path(value):
    assert_clear_error(lambda: gl.open_dataset(value), "path")
