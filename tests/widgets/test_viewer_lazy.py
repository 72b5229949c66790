"""CubeViewer on a lazy cube reads only what it shows: the channel, the spectra, the PV cut."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.io import lazy
from widgets.viewer import CubeViewer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    obs = gl.Observation(n_pix=128, n_chan=32, channel_kms=20.0, beam_fwhm_px=3.0)
    noisy = gl.add_noise(gl.simulate(gl.Galaxy(r_eff_kpc=2.0, inclination_deg=50.0), obs),
                         peak_snr=6, rng=2)
    # a foreign file (no galcube record): nothing about the source is known without reading
    plain = noisy.replace(record={}, clean=None, noise=None)
    path = tmp_path_factory.mktemp("lazy") / "cube.fits"
    plain.to_fits(path)
    return gl.read_fits(path), path


def test_the_viewer_of_a_lazy_cube_reads_a_few_channels_and_shows_the_same(files, monkeypatch):
    eager, path = files
    read = []
    real_getitem = lazy.FitsImage.__getitem__

    def counted(self, key):
        block = real_getitem(self, key)
        read.append(block.size)
        return block

    monkeypatch.setattr(lazy.FitsImage, "__getitem__", counted)
    cube = gl.read_fits(path, lazy=True)
    read.clear()                       # the zero-spaxel check of a foreign file reads it once
    viewer = CubeViewer(cube)
    viewer.slider.value = 5
    voxels = int(np.prod(cube.shape))
    # open + one channel move: the shown channels, the pixel and aperture spectra, a PV cut
    assert sum(read) < 0.2 * voxels
    m, reference = viewer.model, CubeViewer(eager).model
    reference.channel = 5
    assert np.array_equal(m.image("cube"), reference.image("cube"))
    # the lazy cube's cut starts at the field's centre, PA 0 (measuring would read it all)
    assert m.pv_center_yx == (63.5, 63.5) and m.pv_pa_deg == 0.0
    for model in (m, reference):
        model.pixel = (70, 60)
        model.pv_center_yx, model.pv_pa_deg = (60.0, 66.0), 30.0
    assert np.array_equal(m.spectrum("cube"), reference.spectrum("cube"))
    assert np.allclose(m.aperture_spectrum("cube"), reference.aperture_spectrum("cube"))
    pv, offsets = m.pv("cube")
    assert np.allclose(pv, reference.pv("cube")[0], equal_nan=True, rtol=1e-6)
    assert np.array_equal(offsets, reference.pv("cube")[1])
