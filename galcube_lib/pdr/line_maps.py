"""Line-intensity maps for the PDR fits: FITS maps (or galcube cubes' moment 0, ``from_cube``)
with their uncertainties, in erg s^-1 cm^-2 sr^-1, on one sky grid.

Units (the map's BUNIT): any surface brightness astropy converts to erg s^-1 cm^-2 sr^-1
(W m^-2 sr^-1, ...); ``K km/s`` (Rayleigh-Jeans: I = 2 k nu^3 / c^3 x the integral of T dv)
and ``Jy/beam km/s`` (divided by the beam's solid angle, times nu / c), both at the line's rest
frequency (the header's RESTFREQ/RESTFRQ, or ``rest_frequency``). A map without BUNIT, or in
units that are none of these, is an error.

Handling of imperfect maps (docs/conventions.md, PDR models):

* uncertainties: an ``uncertainty`` argument (a map, a path, or a number: a fraction of the
  intensity), else the file's UNCERT, ERROR, SIGMA or NOISE extension; with none of these, an
  error (a fit without uncertainties has no intervals);
* NaN intensity or NaN uncertainty: that line is left out at that pixel;
* negative intensity: kept (noise about a faint line: the likelihood is Gaussian in intensity);
* negative or zero uncertainty: that line is left out at that pixel, and a warning counts them
  (relative uncertainties of negative intensities come out negative: pdrtpy's Horsehead
  [CII] map has 130);
* a MASK extension (astropy's convention: nonzero is masked): masked pixels are NaN;
* other grids: every map is reprojected onto the first one's celestial WCS
  (``reproject.reproject_interp``; intensities are surface brightnesses, so interpolated);
  pixels a map does not cover are NaN there; a map that does not overlap the first is an error;
* beams: maps whose BMAJ/BMIN differ by more than 1 % are an error (bring them to one beam
  first: the fit compares intensities of the same gas); maps without a beam are taken as
  having the others'.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNCERTAINTY_EXTENSIONS = ("UNCERT", "ERROR", "SIGMA", "NOISE")
INTENSITY_UNIT = "erg / (s sr cm2)"


@dataclass
class LineMap:
    """One line's intensity map and its 1-sigma uncertainty, erg s^-1 cm^-2 sr^-1.

    Attributes
    ----------
    line : str
        The model set's identifier of the line (e.g. "CII_158").
    intensity, uncertainty : numpy.ndarray
        ``(ny, nx)``.
    header : astropy.io.fits.Header
        A 2-D celestial header (WCS, and the beam where known).
    """

    line: str
    intensity: np.ndarray
    uncertainty: np.ndarray
    header: object


def read_line_map(path, line: str, *, uncertainty=None, rest_frequency=None) -> LineMap:
    """Read a 2-D line-intensity FITS map and convert it to erg s^-1 cm^-2 sr^-1.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file (the first HDU with 2-D data; degenerate axes are dropped).
    line : str
        The model set's identifier of the line (e.g. "CII_158", "CO_10", "FIR").
    uncertainty : array_like, str, os.PathLike or float, optional
        The 1-sigma map (array or FITS path, in the map's units), or a fraction of the
        intensity; default the file's UNCERT/ERROR/SIGMA/NOISE extension.
    rest_frequency : astropy.units.Quantity, optional
        For K km/s and Jy/beam km/s maps without RESTFREQ in the header.

    Returns
    -------
    LineMap
        The map in erg s^-1 cm^-2 sr^-1.
    """
    from astropy.io import fits

    path = Path(path)
    with fits.open(path) as hdus:
        index = next((i for i, h in enumerate(hdus) if h.data is not None and np.squeeze(h.data).ndim == 2), None)
        if index is None:
            raise ValueError(f"{path} has no 2-D image")
        header = hdus[index].header.copy()
        data = np.squeeze(hdus[index].data).astype(float)
        names = [h.name for h in hdus]
        own = next((hdus[n].data for n in UNCERTAINTY_EXTENSIONS if n in names), None)
        own = None if own is None else np.squeeze(own).astype(float)
        if "MASK" in names and np.shape(np.squeeze(hdus["MASK"].data)) == data.shape:
            data[np.squeeze(hdus["MASK"].data) != 0] = np.nan
    if uncertainty is None:
        if own is None:
            raise ValueError(f"the {line} map {path.name} has no uncertainties: give uncertainty= (a map, a "
                             f"FITS path, or a fraction of the intensity) or an "
                             f"{'/'.join(UNCERTAINTY_EXTENSIONS)} extension")
        sigma = own
    elif np.ndim(uncertainty) == 0 and not isinstance(uncertainty, (str, Path)):
        fraction = float(uncertainty)
        if not 0 < fraction < 10:
            raise ValueError(f"uncertainty as a fraction of the intensity must be in (0, 10), got {fraction}")
        sigma = fraction * np.abs(data)
    elif isinstance(uncertainty, (str, Path)):
        sigma = np.squeeze(fits.getdata(uncertainty)).astype(float)
    else:
        sigma = np.asarray(uncertainty, dtype=float)
    if sigma.shape != data.shape:
        raise ValueError(f"the {line} map's uncertainty has shape {sigma.shape}, its intensity {data.shape}")
    bad = np.isfinite(data) & np.isfinite(sigma) & (sigma <= 0)
    if bad.any():
        import warnings

        warnings.warn(f"the {line} map {path.name} has {int(bad.sum())} pixels with an uncertainty <= 0: "
                      f"the line is left out there", stacklevel=2)
        sigma = np.where(bad, np.nan, sigma)
    factor = _to_intensity(header, line, rest_frequency, path.name)
    return LineMap(line, data * factor, sigma * factor, _celestial_header(header))


def from_cube(cube, line: str, *, mask=None, noise_sigma=None, redshift: float = 0.0) -> LineMap:
    """A line map from a galcube cube: its moment 0 and the moment 0's uncertainty, in the
    source's rest frame.

    The uncertainty is ``noise_sigma x sqrt(channels summed) x dv`` per pixel (independent
    channels: give ``noise_sigma`` scaled for spectrally correlated noise). The cube's RESTFRQ is
    the observed line frequency; the intensity is corrected for cosmological surface-brightness
    dimming, I_rest = I_obs (1 + z)^4.

    Parameters
    ----------
    cube : Cube
        A cube in Jy/beam (or K) with a velocity axis, a beam and RESTFRQ.
    line : str
        The model set's identifier of the line.
    mask : bool array, optional
        (v, y, x) or (y, x) voxels to sum (the same mask for every line of a set keeps the lines
        comparable); default every finite voxel.
    noise_sigma : float, optional
        The noise per channel, in the cube's units; default the cube's MAD-based level.
    redshift : float
        The source's redshift, 0-20.

    Returns
    -------
    LineMap
        The moment 0 in erg s^-1 cm^-2 sr^-1 (rest frame) with its uncertainty; spaxels with
        no channel summed have no uncertainty (NaN).
    """
    from galcube_lib._util import checks
    from galcube_lib.metrics.real import moment_images
    from galcube_lib.noise.level import sigma_mad

    redshift = checks.number("redshift", redshift, 0, 20)
    data = np.asarray(cube.data, dtype=float)
    image = moment_images(cube, mask)[0]          # moment 0 with the celestial WCS, beam and BUNIT
    summed = np.isfinite(data) if mask is None else np.isfinite(data) & np.broadcast_to(np.asarray(mask, bool), data.shape)
    channels = summed.sum(0)
    sigma = sigma_mad(data) if noise_sigma is None else checks.number("noise_sigma", noise_sigma, 0, lo_open=True)
    uncertainty = np.where(channels > 0, sigma * np.sqrt(channels) * cube.channel_kms, np.nan)
    header = image.header
    header["RESTFREQ"] = cube.header.get("RESTFRQ", cube.header.get("RESTFREQ"))
    factor = _to_intensity(header, line, None, "cube") * (1 + redshift) ** 4
    return LineMap(line, image.data.astype(float) * factor, uncertainty * factor, header)


def _to_intensity(header, line, rest_frequency, name) -> float:
    """The factor from the map's BUNIT to erg s^-1 cm^-2 sr^-1."""
    from astropy import constants as const
    from astropy import units as u

    if "BUNIT" not in header or not str(header["BUNIT"]).strip():
        raise ValueError(f"the {line} map {name} has no BUNIT: its units are needed to compare it with the "
                         f"models ({INTENSITY_UNIT}, K km/s or Jy/beam km/s)")
    text = str(header["BUNIT"]).strip()
    beam = "beam" in text.lower()
    try:
        unit = u.Unit(text.replace("/beam", "").replace("/ beam", "").replace("beam-1", ""), parse_strict="raise")
    except ValueError as err:
        raise ValueError(f"the {line} map {name} has BUNIT {text!r}, which astropy cannot read") from err
    target = u.Unit(INTENSITY_UNIT)
    if not beam and unit.is_equivalent(target):
        return float((1 * unit).to(target).value)
    kelvin, jansky = unit.is_equivalent(u.K * u.km / u.s), unit.is_equivalent(u.Jy * u.km / u.s)
    if not (kelvin or jansky) or (beam and not jansky):
        raise ValueError(f"the {line} map {name} has BUNIT {text!r}: give {INTENSITY_UNIT} (or another "
                         f"surface brightness), K km/s or Jy/beam km/s")
    nu = rest_frequency if rest_frequency is not None else header.get("RESTFREQ", header.get("RESTFRQ"))
    if nu is None:
        raise ValueError(f"the {line} map {name} is in {text!r}: give rest_frequency= (or RESTFREQ in its header)")
    nu = u.Quantity(nu, u.Hz)
    if kelvin:       # Rayleigh-Jeans: I_nu = 2 k nu^2 T / c^2, and d nu = nu dv / c
        per = 2 * const.k_B * nu ** 3 / const.c ** 3 / u.sr
        return float((per * (1 * unit)).to(target).value)
    if not beam:
        raise ValueError(f"the {line} map {name} is in {text!r} (a flux, not a surface brightness): give "
                         f"Jy/beam km/s with the beam in the header")
    if "BMAJ" not in header or "BMIN" not in header:
        raise ValueError(f"the {line} map {name} is in {text!r} but has no BMAJ/BMIN to divide by")
    import radio_beam

    solid = radio_beam.Beam.from_fits_header(header).sr
    return float((1 * unit / solid * nu / const.c).to(target).value)


def _celestial_header(header):
    from astropy.wcs import WCS

    celestial = WCS(header).celestial.to_header()
    for key in ("BMAJ", "BMIN", "BPA"):
        if isinstance(header.get(key), (int, float)):
            celestial[key] = header[key]
    return celestial


def common_grid(maps) -> tuple:
    """Stack line maps on the first map's sky grid.

    Parameters
    ----------
    maps : sequence of LineMap
        Two or more maps of different lines.

    Returns
    -------
    tuple
        ``(intensity (n_lines, ny, nx), uncertainty (n_lines, ny, nx), header)`` on the first
        map's grid; the module docstring says how grids, beams and uncovered pixels are handled.
    """
    from astropy.wcs import WCS
    from reproject import reproject_interp

    maps = list(maps)
    if len(maps) < 2:
        raise ValueError(f"give at least two line maps, got {len(maps)}")
    lines = [m.line for m in maps]
    if len(set(lines)) != len(lines):
        raise ValueError(f"each line once, got {lines}")
    _check_beams(maps)
    reference = maps[0]
    shape = reference.intensity.shape
    target = WCS(reference.header)
    intensity, uncertainty = [reference.intensity], [reference.uncertainty]
    for m in maps[1:]:
        if m.intensity.shape == shape and WCS(m.header).wcs.compare(target.wcs, tolerance=1e-9):
            intensity.append(m.intensity), uncertainty.append(m.uncertainty)
            continue
        values, footprint = reproject_interp((m.intensity, WCS(m.header)), target, shape_out=shape)
        sigma, _ = reproject_interp((m.uncertainty, WCS(m.header)), target, shape_out=shape)
        if not (footprint > 0).any():
            raise ValueError(f"the {m.line} map does not overlap the {reference.line} map's sky grid")
        intensity.append(np.where(footprint > 0, values, np.nan)), uncertainty.append(np.where(footprint > 0, sigma, np.nan))
    return np.stack(intensity), np.stack(uncertainty), reference.header


def _check_beams(maps) -> None:
    beams = {m.line: (m.header["BMAJ"], m.header["BMIN"]) for m in maps if "BMAJ" in m.header and "BMIN" in m.header}
    if len(beams) > 1:
        first = next(iter(beams.values()))
        for line, beam in beams.items():
            if not np.allclose(beam, first, rtol=0.01):
                raise ValueError(f"the maps have different beams ({beams}, degrees): convolve them to one beam "
                                 f"first (radio_beam's common_beam), so that each pixel's lines see the same gas")
