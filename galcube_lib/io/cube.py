"""The Cube container and its FITS input/output."""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from galcube_lib._util.conventions import beam_area
from galcube_lib.io import crop as _crop
from galcube_lib.io import header as _header
from galcube_lib.io import lazy as _lazy
from galcube_lib._util import checks as _validate
from galcube_lib.io.files import as_path, atomic_path
from galcube_lib.io.records import record_json

_EXTENSIONS = ("CLEAN", "NOISE", "UNCERTAINTY", "GAIN")
_STRUCTURAL = re.compile(r"SIMPLE|XTENSION|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT")
"""Keywords astropy writes for the array: stale or misplaced copies in a header are dropped."""


@dataclass(frozen=True, eq=False)
class Cube:
    """A spectral-line cube with its header, and for simulations its truth and noise.

    Any of the arrays may be a dask array instead (a *lazy* cube, from ``read_fits(path,
    lazy=True)`` or :func:`galcube_lib.read_zarr`): nothing is read until it is computed.

    Attributes
    ----------
    data : numpy.ndarray or dask.array.Array
        float32 (v, y, x) in the header's BUNIT (Jy/beam for simulations).
    header : astropy.io.fits.Header
        WCS (celestial and spectral axes), beam (BMAJ/BMIN/BPA) and units.
    clean : numpy.ndarray or None
        The noise-free truth (None for real observations).
    noise : numpy.ndarray or None
        The noise that was added (``data - clean``), None when unknown.
    uncertainty : numpy.ndarray or None
        Per-voxel 1-sigma uncertainty of ``data`` (set by denoisers that estimate one).
    gain : numpy.ndarray or None
        Primary-beam gain of a primary-beam corrected observation, in (0, 1] with NaN where
        unknown: the noise of ``data`` is about sigma0 / gain (see :func:`read_fits`).
    record : dict
        Every parameter that made the cube: components, observation, noise, seeds, version.
    """

    data: np.ndarray
    header: fits.Header
    clean: np.ndarray | None = None
    noise: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    gain: np.ndarray | None = None
    record: dict = field(default_factory=dict)

    def __post_init__(self):
        data = _checked_array("data", self.data, (3,))
        object.__setattr__(self, "data", data)
        if not isinstance(self.record, dict):
            raise TypeError(f"record must be a dict, got {type(self.record).__name__}")
        for name in _EXTENSIONS:
            value = getattr(self, name.lower())
            if value is not None:
                value = _checked_array(name.lower(), value, None)
                if value.shape != data.shape:
                    raise ValueError(f"{name.lower()} has shape {value.shape}, data has {data.shape}")
                object.__setattr__(self, name.lower(), value)
        object.__setattr__(self, "header", fits.Header(self.header))

    def replace(self, **changes) -> Cube:
        """A new Cube with some fields changed; this one is left as it is.

        Parameters
        ----------
        **changes
            New values of the fields (``data``, ``header``, ``clean``, ``noise``,
            ``uncertainty``, ``gain``, ``record``), checked as when a Cube is made.

        Returns
        -------
        Cube
            The new Cube.
        """
        return replace(self, **changes)

    def crop(self, box) -> Cube:
        """The part of the cube inside a box.

        Parameters
        ----------
        box : sequence of three (int, int) pairs or three slices
            ((v0, v1), (y0, y1), (x0, x1)): half-open, 0-based index ranges inside the cube.

        Returns
        -------
        Cube
            A new Cube (data and every set extension cropped), with its WCS shifted so that
            every voxel keeps its sky position and velocity.

        Raises
        ------
        ValueError
            A box outside the cube or empty.
        """
        return _crop.crop(self, box)

    @property
    def lazy(self) -> bool:
        """Whether the data is a dask array (read on demand) rather than in memory."""
        return _lazy.is_lazy(self.data)

    def compute(self) -> Cube:
        """This cube with every array in memory (for a lazy cube, or a lazy cube's crop).

        Returns
        -------
        Cube
            A new Cube of numpy arrays; an in-memory cube comes back as it is.
        """
        arrays = {name.lower(): _lazy.compute(getattr(self, name.lower()))
                  for name in ("DATA", *_EXTENSIONS)}
        return self.replace(**arrays)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_chan, ny, nx)."""
        return self.data.shape

    @property
    def valid(self) -> np.ndarray:
        """Boolean (v, y, x): True where ``data`` is finite (NaN marks blanks); a dask array for a
        lazy cube."""
        return np.isfinite(self.data)

    @property
    def velocity_kms(self) -> np.ndarray:
        """Channel-centre velocities in km/s, radio convention, in the order of the data.

        From the header's WCS (astropy.wcs): VRAD as it is, optical velocity (VOPT; AIPS VELO-xxx
        without a radio VELREF) converted to radio, FREQ through RESTFRQ/RESTFREQ (a ValueError
        naming RESTFRQ when there is none). A descending axis gives descending velocities.
        """
        return _header.velocity_kms(self.header, np.arange(self.shape[0]))

    @property
    def channel_kms(self) -> float:
        """Channel width in km/s (positive), measured across the middle channel; also defined for
        a one-channel cube."""
        middle = (self.shape[0] - 1) / 2.0
        low, high = _header.velocity_kms(self.header, [middle - 0.5, middle + 0.5])
        width = float(abs(high - low))
        if not (width > 0 and math.isfinite(width)):
            raise ValueError(f"the channel width from the header is {width} km/s; check CDELT3, "
                             "CRPIX3 and CRVAL3")
        return width

    @property
    def pixel_arcsec(self) -> float:
        """Pixel size in arcsec along y (from CDELT2 and PCi_2, or CDi_2)."""
        return _header.pixel_deg(self.header) * 3600.0

    @property
    def beam_fwhm_px(self) -> tuple[float, float]:
        """Beam FWHM (major, minor) in pixels."""
        if "BMAJ" not in self.header or "BMIN" not in self.header:
            raise ValueError("the header has no beam (BMAJ and BMIN, in degrees)")
        scale = self.pixel_arcsec / 3600.0
        return float(self.header["BMAJ"]) / scale, float(self.header["BMIN"]) / scale

    @property
    def beam_pa_deg(self) -> float:
        """Beam position angle, north through east."""
        return float(self.header.get("BPA", 0.0))

    @property
    def beam_area_px(self) -> float:
        """Beam solid angle in pixels, pi bmaj bmin / (4 ln 2)."""
        return beam_area(*self.beam_fwhm_px)

    @property
    def wcs(self):
        """The astropy WCS of the cube (wcslib's fixes for NCP, AIPS axes, EPOCH applied quietly)."""
        return _header.quiet_wcs(self.header)

    def to_fits(self, path, overwrite: bool = True) -> Path:
        """Write the cube to a FITS file, atomically (docs/conventions.md, Files).

        Primary HDU = data with the header; CLEAN, NOISE, UNCERTAINTY and GAIN image extensions
        (those that are set); a RECORD table holding the parameter record as JSON.
        :func:`read_fits` reads all of it back.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.
        overwrite : bool, optional
            Replace an existing file (default True).

        Returns
        -------
        pathlib.Path
            ``path``.

        Notes
        -----
        A lazy cube is written chunk by chunk, without being held in memory.

        Raises
        ------
        FileExistsError
            The file exists and ``overwrite`` is False.
        TypeError
            A record value JSON cannot hold (numpy values are converted); the message names
            its key.
        ValueError
            A header keyword with a non-finite number.
        """
        path = as_path("path", path)
        if path.exists() and not _validate.boolean("overwrite", overwrite):
            raise FileExistsError(f"{path} exists and overwrite=False")
        _header.check_numeric_keywords(self.header)
        header = fits.Header([card for card in self.header.cards
                              if not _STRUCTURAL.fullmatch(card.keyword)])
        hdus = [fits.PrimaryHDU(self.data, header=header)]
        for name in _EXTENSIONS:
            value = getattr(self, name.lower())
            if value is not None:
                hdus.append(fits.ImageHDU(value, header=header, name=name))
        text = record_json(self.record)
        col = fits.Column(name="JSON", format=f"{max(1, len(text))}A", array=np.array([text]))
        hdus.append(fits.BinTableHDU.from_columns([col], name="RECORD"))
        with atomic_path(path) as tmp:
            fits.HDUList(hdus).writeto(tmp, overwrite=True, output_verify="exception")
        return path

    def to_zarr(self, path, overwrite: bool = True) -> Path:
        """Write the cube to a zarr (v3) store, atomically, for reading back lazily.

        The arrays (data and the extensions that are set) are chunked as
        :func:`galcube_lib.io.lazy.default_chunks` says; the header and the record go into the
        store's attributes. A lazy cube is written chunk by chunk. The store is written under a
        temporary name beside ``path`` and renamed into place when complete
        (:func:`galcube_lib.io.files.atomic_folder`).

        Parameters
        ----------
        path : str or os.PathLike
            The store (a folder) to write.
        overwrite : bool, optional
            Replace an existing store (default True).

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        """
        return _lazy.to_zarr(self, path, _validate.boolean("overwrite", overwrite))


def _checked_array(name: str, value, ndim):
    """A Cube's array checked: float32, real, of ``ndim`` dimensions; a dask array stays lazy
    (its values are not looked at)."""
    if not _lazy.is_lazy(value):
        return _validate.real_array(name, value, ndim=ndim, dtype=np.float32, some_finite=False,
                                    copy=False)
    if ndim is not None and value.ndim not in ndim:
        raise ValueError(f"{name} must be {ndim[0]}-D (v, y, x), got shape {value.shape}")
    if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real numeric array, got dtype {value.dtype}")
    return value.astype(np.float32, copy=False)


def check_cube(name: str, value) -> Cube:
    """Check that an argument is a galcube :class:`Cube`.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The argument.

    Returns
    -------
    Cube
        ``value``.

    Raises
    ------
    TypeError
        ``value`` is not a Cube; the message names ``name``.
    """
    if not isinstance(value, Cube):
        raise TypeError(f"{name} must be a galcube Cube, got {type(value).__name__}")
    return value


def _load(path: Path, lazy: bool = False):
    """Open ``path``: (data as float32 (v, y, x), header, extensions, record or None, BEAMS, log).

    Errors name the file. Integer data are scaled (BSCALE/BZERO) with their BLANK value as NaN;
    a BLANK keyword on float data is dropped (the FITS standard: NaN marks blanks on floats).
    With ``lazy``, the arrays are dask arrays over the file (:mod:`.lazy`).
    """
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the path of a FITS file in it")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")

    def array(hdu):
        if lazy:
            return None if hdu.header.get("NAXIS", 0) == 0 else _lazy.fits_array(path, hdu)
        return None if hdu.data is None else np.array(hdu.data)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")   # astropy's complaints are collected, not shown
            with fits.open(path, memmap=False) as hdul:
                bitpix, blank = hdul[0].header.get("BITPIX"), hdul[0].header.get("BLANK")
                data = array(hdul[0])
                header = hdul[0].header.copy()    # after .data: scaling has updated BITPIX/BSCALE
                extra = {n.lower(): array(hdul[n]) for n in _EXTENSIONS if n in hdul}
                record = json.loads(hdul["RECORD"].data["JSON"][0]) if "RECORD" in hdul else None
                beams = _header.read_beams_table(hdul["BEAMS"]) if "BEAMS" in hdul else None
    except (OSError, TypeError, ValueError, IndexError, KeyError) as err:
        if "lazy=True" in str(err):
            raise
        raise ValueError(f"{path}: not a readable FITS file ({err})") from None
    if data is None:
        raise ValueError(f"{path}: the primary HDU holds no data")
    scaled = (header.get("BSCALE", 1.0), header.get("BZERO", 0.0)) != (1.0, 0.0)
    if lazy and (scaled or bitpix > 0):   # the values come scaled, as float32
        for key in ("BSCALE", "BZERO"):
            header.remove(key, ignore_missing=True)
        header["BITPIX"] = -32
    damage = [str(w.message) for w in caught if re.search("corrupt|truncat", str(w.message), re.IGNORECASE)]
    if damage:
        raise ValueError(f"{path}: the file is truncated or corrupt ({damage[0].strip()})")
    log = _header.ReadLog(header)
    if blank is not None:
        if bitpix > 0 and lazy:   # FitsImage turns the BLANK values into NaN as it reads
            log.note("integer BLANK -> NaN")
        elif bitpix > 0:   # astropy has turned the BLANK values into NaN
            log.blanked += int(np.isnan(data).sum())
            log.note(f"integer BLANK -> NaN ({int(np.isnan(data).sum())} voxels)")
        else:
            log.note("BLANK keyword on float data ignored (NaN marks blanks)")
        header.remove("BLANK", ignore_missing=True)
    original_shape = list(data.shape)
    try:
        _header.check_numeric_keywords(header)
        data = _header.to_cube_axes(data.astype(np.float32, copy=not lazy), header, log)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return data, header, extra, record, beams, original_shape, log


def _gain_array(gain, shape) -> np.ndarray:
    """``gain=`` of :func:`read_fits` (a FITS path or an array) as checked float32."""
    if isinstance(gain, (str, os.PathLike)):
        return _header.check_gain(_load(Path(gain))[0], shape, f"file {gain}")
    try:
        values = _validate.real_array("gain", gain, ndim=None, dtype=np.float32, some_finite=False)
    except TypeError:
        raise TypeError(f"gain must be a FITS path or an array, got {type(gain).__name__}") from None
    return _header.check_gain(values, shape, "array")


def read_fits(path, *, beam=None, gain=None, lazy: bool = False) -> Cube:
    """Read a cube written by :meth:`Cube.to_fits`, or a real observation's FITS cube.

    galcube's own files come back as written. Other files are normalised, and every change is
    listed in ``record["read"]["notes"]`` and as a HISTORY card; the header otherwise stays the
    file's, so the cube can be written back:

    - the array becomes (v, y, x): degenerate Stokes axes dropped wherever they sit, a 2-D map or a
      single channel read as a one-channel cube;
    - old conventions made explicit: B1950 (EPOCH without EQUINOX) gets EQUINOX and RADESYS FK4;
      Miriad's VELO-xxx axes are marked radio (VELREF). NCP projections and AIPS axes are read by
      wcslib (see :attr:`Cube.wcs`, :attr:`Cube.velocity_kms`);
    - one beam in BMAJ/BMIN/BPA: ``beam=``, else the common beam of a CASA BEAMS table (with a
      warning when the channels' beams differ by more than 1% in area), else the header's;
    - blanks: NaN stays NaN; integer BLANK values and spaxels that are exactly 0 in every channel
      (zero-filled outside a mosaic) become NaN;
    - brightness: Jy/beam in any spelling becomes BUNIT 'Jy/beam'; K is converted to Jy/beam when
      the frequency is known; blank or other units are kept with a warning.

    Parameters
    ----------
    path : str or path-like
        The FITS file (``.fits.gz`` too).
    beam : (float, float, float), optional
        ``(bmaj_arcsec, bmin_arcsec, pa_deg)`` FWHM beam; needed when the file has none, and
        overrides the file's beam when given.
    gain : str, path-like or array, optional
        Primary-beam gain of a primary-beam corrected cube (a FITS file, whose WCS must be valid
        but is not compared with the cube's, or an array), with the cube's shape after dropping Stokes; finite values in (0, 1]. It is
        attached as :attr:`Cube.gain`; where it is NaN or 0 the data become NaN.
    lazy : bool, optional
        Read nothing yet (default False): the cube's arrays are dask arrays over the file,
        read chunk by chunk when computed, for cubes larger than memory (see
        :attr:`Cube.lazy`). The file must be uncompressed. Finding zero-filled spaxels in a
        foreign file still reads it once, chunk by chunk.

    Returns
    -------
    Cube
        float32 (v, y, x) data; for files not written by galcube, ``record["read"]`` holds
        ``path``, ``original_shape``, ``blanked_voxels`` (voxels set to NaN here) and ``notes``.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        Naming the file, for an empty, corrupt or unusable one (more than one Stokes plane, 1-D,
        no beam without ``beam=``), or naming ``gain`` for a gain of the wrong shape or range.
    TypeError
        For a ``beam`` or ``gain`` of the wrong kind.

    Examples
    --------
    A galcube cube comes back as it was written, truth, noise and record included:

    >>> import pathlib, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> cube = gl.simulate(gl.Galaxy(r_eff_kpc=1.0),
    ...                    gl.Observation(n_pix=32, n_chan=16, channel_kms=40.0))
    >>> noisy = gl.add_noise(cube, peak_snr=5, rng=0)
    >>> path = noisy.to_fits(pathlib.Path(folder.name) / "galaxy.fits")
    >>> back = gl.read_fits(path)
    >>> bool(np.array_equal(back.data, noisy.data)), bool(np.array_equal(back.clean, cube.data))
    (True, True)
    >>> back.record == noisy.record, back.header["BUNIT"], round(back.channel_kms, 6)
    (True, 'Jy/beam', 40.0)
    >>> folder.cleanup()
    """
    path = as_path("path", path)
    beam = _header.beam_argument(beam)
    lazy = _validate.boolean("lazy", lazy)
    data, header, extra, record, beams, original_shape, log = _load(path, lazy)
    foreign = record is None
    try:
        if foreign:
            _header.fix_frames(header, log)
            if lazy:
                data = _lazy.blank_zero_spaxels(data, log)
            else:
                _header.blank_zero_spaxels(data, log)
        _header.set_beam(header, beam, beams, log, required=foreign)
        if foreign:
            data = _header.to_jy_per_beam(data, header, log)
            _header.warn_if_high_redshift(header, data.shape[0], log)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if gain is not None:
        extra["gain"] = _gain_array(gain, data.shape)
        if lazy:
            data = np.where(np.isnan(extra["gain"]), np.float32(np.nan), data)
            log.note("primary-beam gain attached (voxels blanked where it is NaN or 0)")
        else:
            newly = np.isnan(extra["gain"]) & ~np.isnan(data)
            data[newly] = np.nan
            log.blanked += int(newly.sum())
            log.note(f"primary-beam gain attached ({int(newly.sum())} voxels blanked where it is "
                     "NaN or 0)")
    if foreign:
        record = {"read": {"path": str(path), "original_shape": original_shape,
                           "blanked_voxels": log.blanked, "notes": log.notes}}
    for text in log.warnings:
        warnings.warn(f"{path.name}: {text}", UserWarning, stacklevel=2)
    try:
        return Cube(data, header, record=record, **extra)
    except (TypeError, ValueError) as err:   # a damaged galcube file: extensions or record
        raise ValueError(f"{path}: {err}") from None
