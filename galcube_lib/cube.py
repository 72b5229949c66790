"""The Cube container and its FITS input/output."""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from ._io import atomic_path
from .observation import C_KMS

_EXTENSIONS = ("CLEAN", "NOISE", "UNCERTAINTY")


@dataclass(frozen=True, eq=False)
class Cube:
    """A spectral-line cube with its header, and for simulations its truth and noise.

    Attributes
    ----------
    data : numpy.ndarray
        float32 (v, y, x) in the header's BUNIT (Jy/beam for simulations).
    header : astropy.io.fits.Header
        WCS (celestial and spectral axes), beam (BMAJ/BMIN/BPA) and units.
    clean : numpy.ndarray or None
        The noise-free truth (None for real observations).
    noise : numpy.ndarray or None
        The noise that was added (``data - clean``), None when unknown.
    uncertainty : numpy.ndarray or None
        Per-voxel 1-sigma uncertainty of ``data`` (set by denoisers that estimate one).
    record : dict
        Every parameter that made the cube: components, observation, noise, seeds, version.
    """

    data: np.ndarray
    header: fits.Header
    clean: np.ndarray | None = None
    noise: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    record: dict = field(default_factory=dict)

    def __post_init__(self):
        data = np.asarray(self.data, dtype=np.float32)
        if data.ndim != 3:
            raise ValueError(f"data must be a 3-D (v, y, x) array, got shape {data.shape}")
        object.__setattr__(self, "data", data)
        for name in _EXTENSIONS:
            value = getattr(self, name.lower())
            if value is not None:
                value = np.asarray(value, dtype=np.float32)
                if value.shape != data.shape:
                    raise ValueError(f"{name.lower()} has shape {value.shape}, data has {data.shape}")
                object.__setattr__(self, name.lower(), value)
        object.__setattr__(self, "header", fits.Header(self.header))

    def replace(self, **changes) -> "Cube":
        """A new Cube with some fields changed; this one is left as it is."""
        return replace(self, **changes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_chan, ny, nx)."""
        return self.data.shape

    @property
    def velocity_kms(self) -> np.ndarray:
        """Channel-centre velocities in km/s (radio convention for frequency axes)."""
        h = self.header
        pix = np.arange(self.shape[0]) + 1.0
        value = h.get("CRVAL3", 0.0) + (pix - h.get("CRPIX3", 1.0)) * h.get("CDELT3", 1.0)
        ctype = str(h.get("CTYPE3", "")).upper()
        if ctype.startswith("FREQ"):
            rest = h.get("RESTFRQ", h.get("RESTFREQ"))
            if not rest:
                raise ValueError("frequency axis without RESTFRQ/RESTFREQ: cannot give velocities")
            return C_KMS * (1.0 - value / rest)
        unit = str(h.get("CUNIT3", "m/s")).strip().lower()
        return value / 1e3 if unit in ("m/s", "m s-1", "") else value

    @property
    def channel_kms(self) -> float:
        """Channel width in km/s (positive)."""
        v = self.velocity_kms
        return float(abs(v[1] - v[0])) if v.size > 1 else float("nan")

    @property
    def pixel_arcsec(self) -> float:
        """Pixel size in arcsec (from CDELT2)."""
        return abs(float(self.header["CDELT2"])) * 3600.0

    @property
    def beam_fwhm_px(self) -> tuple[float, float]:
        """Beam FWHM (major, minor) in pixels."""
        if "BMAJ" not in self.header:
            raise ValueError("the header has no beam (BMAJ/BMIN)")
        scale = abs(float(self.header["CDELT2"]))
        return float(self.header["BMAJ"]) / scale, float(self.header["BMIN"]) / scale

    @property
    def beam_pa_deg(self) -> float:
        """Beam position angle, north through east."""
        return float(self.header.get("BPA", 0.0))

    @property
    def beam_area_px(self) -> float:
        """Beam solid angle in pixels, pi bmaj bmin / (4 ln 2)."""
        bmaj, bmin = self.beam_fwhm_px
        return math.pi * bmaj * bmin / (4.0 * math.log(2.0))

    @property
    def wcs(self):
        """The astropy WCS of the cube."""
        from astropy.wcs import WCS

        return WCS(self.header)

    def to_fits(self, path, overwrite: bool = True) -> Path:
        """Write the cube atomically: primary HDU = data; CLEAN, NOISE and UNCERTAINTY image
        extensions (those that are set); a RECORD table holding the parameter record as JSON."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists and overwrite=False")
        hdus = [fits.PrimaryHDU(self.data, header=self.header)]
        for name in _EXTENSIONS:
            value = getattr(self, name.lower())
            if value is not None:
                hdus.append(fits.ImageHDU(value, header=self.header, name=name))
        text = json.dumps(self.record)
        col = fits.Column(name="JSON", format=f"{max(1, len(text))}A", array=np.array([text]))
        hdus.append(fits.BinTableHDU.from_columns([col], name="RECORD"))
        with atomic_path(path) as tmp:
            fits.HDUList(hdus).writeto(tmp, overwrite=True, output_verify="exception")
        return path


def _drop_axis(header: fits.Header, axis: int) -> None:
    for key in list(header.keys()):
        if key[:-1] in ("NAXIS", "CTYPE", "CRVAL", "CDELT", "CRPIX", "CUNIT", "CROTA") and key[-1] == str(axis):
            del header[key]
    header["NAXIS"] = axis - 1


def read_fits(path) -> Cube:
    """Read a cube written by :meth:`Cube.to_fits`, or a plain (v, y, x) FITS cube.

    A degenerate 4th axis (Stokes) is dropped. Raises FileNotFoundError for a missing file and
    ValueError naming the file for an empty, corrupt or 2-D one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings(record=True) as caught, fits.open(path, memmap=False) as hdul:
            warnings.simplefilter("always")
            header = hdul[0].header.copy()
            data = hdul[0].data
            data = None if data is None else np.array(data)
            extra = {n.lower(): np.array(hdul[n].data) for n in _EXTENSIONS if n in hdul}
            record = json.loads(hdul["RECORD"].data["JSON"][0]) if "RECORD" in hdul else {}
    except (OSError, TypeError, ValueError, IndexError, KeyError) as err:
        raise ValueError(f"{path}: not a readable FITS file ({err})") from None
    if data is None:
        raise ValueError(f"{path}: the primary HDU holds no data")
    damage = [str(w.message) for w in caught if re.search("corrupt|truncat", str(w.message), re.I)]
    if damage:
        raise ValueError(f"{path}: the file is truncated or corrupt ({damage[0].strip()})")
    while data.ndim > 3 and data.shape[0] == 1:
        _drop_axis(header, data.ndim)
        data = data[0]
    if data.ndim != 3:
        raise ValueError(f"{path}: the data is {data.ndim}-D with shape {data.shape}; "
                         "galcube needs a (v, y, x) cube")
    return Cube(data, header, record=record, **extra)
