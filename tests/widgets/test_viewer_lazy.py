"""CubeViewer on a lazy cube reads only what it shows: the channel, the spectra, the PV cut; its
moment views are computed block-wise and equal the in-memory ones."""
import numpy as np
import pytest

import galcube_lib as gl
from galcube_lib.io import lazy
from widgets._viewer_model import ViewerModel
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


@pytest.fixture
def reads(monkeypatch):
    """The sizes of the blocks read from lazy FITS cubes, in voxels, as they are read."""
    sizes = []
    real_getitem = lazy.FitsImage.__getitem__

    def counted(self, key):
        block = real_getitem(self, key)
        sizes.append(block.size)
        return block

    monkeypatch.setattr(lazy.FitsImage, "__getitem__", counted)
    return sizes


def test_the_viewer_of_a_lazy_cube_reads_a_few_channels_and_shows_the_same(files, reads):
    eager, path = files
    cube = gl.read_fits(path, lazy=True)
    reads.clear()                      # the zero-spaxel check of a foreign file reads it once
    viewer = CubeViewer(cube)
    viewer.slider.value = 5
    voxels = int(np.prod(cube.shape))
    # open + one channel move: the shown channels, the pixel and aperture spectra, a PV cut
    assert sum(reads) < 0.2 * voxels
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


def test_the_moment_views_of_a_lazy_cube_equal_the_in_memory_ones(files, reads, monkeypatch):
    """The moment maps, the masked velocity field and the moment-1 limits of a lazy cube are
    computed block-wise (no read of the whole cube at once) and equal the in-memory ones."""
    eager, path = files
    monkeypatch.setattr(lazy, "CHUNK_BYTES", 4 * 32 * 32 * 32)
    cube = gl.read_fits(path, lazy=True)
    assert cube.data.chunksize == (32, 32, 32)                     # 16 chunks of whole spectra
    m, reference = ViewerModel({"cube": cube}), ViewerModel({"cube": eager})
    voxels = int(np.prod(cube.shape))
    for mask_n_sigma in (None, 2.0):
        for model in (m, reference):
            model.velocity_range_kms = (-200.0, 150.0)
            model.mask_n_sigma = mask_n_sigma
        for view in ("mom0", "mom1", "mom2"):
            m.view = reference.view = view
            reads.clear()
            got = m.image("cube")
            assert isinstance(got, np.ndarray) and max(reads, default=0) <= voxels / 16
            want = reference.image("cube")
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
            assert np.array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(m.display_limits("cube"), reference.display_limits("cube"),
                                       rtol=1e-6)
        assert np.isfinite(m.velocity_field("cube")).sum() > 50
        np.testing.assert_allclose(m.velocity_field("cube"), reference.velocity_field("cube"),
                                   rtol=1e-12, atol=0)
        assert m.systemic_velocity_kms == pytest.approx(reference.systemic_velocity_kms, rel=1e-6)
    assert cube.lazy and max(reads) <= voxels / 16     # a chunk at a time
