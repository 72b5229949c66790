"""How the sky is observed: field, channels, pixel scale, beam, spectral response and WCS."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
from astropy.io import fits

from galcube_lib._util.conventions import C_KMS, beam_area
from galcube_lib._util import checks as check
from galcube_lib._version import __version__

CII_GHZ = 1900.5369
MAX_FREQ_GHZ = 1e7   # rest frequencies up to the far ultraviolet (30 nm)


def _kpc_per_arcsec(redshift: float) -> float:
    from astropy.cosmology import Planck18  # imported here: keeps `import galcube_lib` light

    return float(Planck18.kpc_proper_per_arcmin(redshift).value / 60.0)


@dataclass(frozen=True)
class Observation:
    """The observing set-up of a simulated cube.

    Parameters
    ----------
    n_pix : int
        Pixels on each side of the (square) field, in [8, 4096].
    n_chan : int
        Number of channels, in [1, 4096].
    channel_kms : float
        Channel width in km/s, > 0 (and at least 1e-9 of |v_center_kms|). Channel k is centred on
        ``v_center_kms + (k - (n_chan - 1) / 2) * channel_kms``.
    v_center_kms : float
        Velocity at the centre of the band (radio convention, relative to systemic redshift).
        The whole band must lie within +-c (299792.458 km/s).
    pixel_kpc, pixel_arcsec : float
        Pixel size; give either (the other follows from ``redshift`` with the Planck18
        cosmology) or both, consistently. Default 0.5 kpc.
    redshift : float
        Source redshift, > 0 (default 5). Sets the angular scale and the frequency axis.
    rest_freq_ghz : float
        Rest frequency of the line in (0, 1e7] GHz, default [CII] 1900.5369 GHz.
    beam_fwhm_px, beam_fwhm_arcsec : float or (bmaj, bmin)
        Gaussian beam FWHM; give either. Default 4 px. The minor axis must be >= 2 px
        (a Nyquist-sampled beam), the major axis <= n_pix (no larger than the field).
    beam_pa_deg : float
        Beam major-axis position angle, north through east.
    hanning : bool
        Hanning-smooth the spectra (weights 1/4, 1/2, 1/4) after channel integration.
    spectral_axis : {"VRAD", "FREQ"}
        Spectral axis written to the FITS header.
    ra_deg, dec_deg : float
        Field centre (ICRS).
    """

    n_pix: int = 125
    n_chan: int = 40
    channel_kms: float = 30.0
    v_center_kms: float = 0.0
    pixel_kpc: float | None = None
    pixel_arcsec: float | None = None
    redshift: float = 5.0
    rest_freq_ghz: float = CII_GHZ
    beam_fwhm_px: float | tuple | None = None
    beam_fwhm_arcsec: float | tuple | None = None
    beam_pa_deg: float = 0.0
    hanning: bool = False
    spectral_axis: str = "VRAD"
    ra_deg: float = 150.0
    dec_deg: float = 2.2

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("n_pix", check.integer("n_pix", self.n_pix, 8, 4096))
        set_("n_chan", check.integer("n_chan", self.n_chan, 1, 4096))
        set_("channel_kms", check.number("channel_kms", self.channel_kms, 0.0, None, lo_open=True))
        set_("v_center_kms", check.number("v_center_kms", self.v_center_kms))
        set_("redshift", check.number("redshift", self.redshift, 0.0, 20.0, lo_open=True))
        set_("rest_freq_ghz", check.number("rest_freq_ghz", self.rest_freq_ghz, 0.0, MAX_FREQ_GHZ, lo_open=True))
        set_("beam_pa_deg", check.number("beam_pa_deg", self.beam_pa_deg, -360.0, 360.0))
        set_("ra_deg", check.number("ra_deg", self.ra_deg, 0.0, 360.0, hi_open=True))
        set_("dec_deg", check.number("dec_deg", self.dec_deg, -90.0, 90.0))
        set_("spectral_axis", check.choice("spectral_axis", self.spectral_axis, ("VRAD", "FREQ")))
        set_("hanning", check.boolean("hanning", self.hanning))
        half_band = abs(self.v_center_kms) + self.n_chan * self.channel_kms / 2
        if half_band >= C_KMS:
            raise ValueError(f"the band, v_center_kms={self.v_center_kms!r} +- n_chan={self.n_chan} x "
                             f"channel_kms={self.channel_kms!r} / 2, reaches {half_band:.4g} km/s: radio "
                             f"velocities must stay within +-{C_KMS} km/s (the speed of light); use "
                             "narrower channels or a v_center_kms nearer 0")
        if self.channel_kms < 1e-9 * abs(self.v_center_kms):   # channel edges lost in round-off
            raise ValueError(f"channel_kms={self.channel_kms!r} is too narrow to resolve at v_center_kms="
                             f"{self.v_center_kms!r}: it must be at least 1e-9 of |v_center_kms|")

        scale = _kpc_per_arcsec(self.redshift)
        if self.pixel_kpc is None and self.pixel_arcsec is None:
            set_("pixel_kpc", 0.5)
        if self.pixel_kpc is not None:
            set_("pixel_kpc", check.number("pixel_kpc", self.pixel_kpc, 0.0, None, lo_open=True))
        if self.pixel_arcsec is not None:
            set_("pixel_arcsec", check.number("pixel_arcsec", self.pixel_arcsec, 0.0, None, lo_open=True))
        if self.pixel_kpc is None:
            set_("pixel_kpc", self.pixel_arcsec * scale)
        elif self.pixel_arcsec is None:
            set_("pixel_arcsec", self.pixel_kpc / scale)
        elif not math.isclose(self.pixel_kpc, self.pixel_arcsec * scale, rel_tol=1e-6):
            raise ValueError(f"pixel_kpc={self.pixel_kpc!r} and pixel_arcsec={self.pixel_arcsec!r} "
                             f"disagree at redshift={self.redshift!r} ({scale:.6g} kpc/arcsec); give one")
        if self.n_pix * self.pixel_arcsec >= 180 * 3600:   # the SIN projection covers a hemisphere
            raise ValueError(f"the field, n_pix={self.n_pix} x pixel_arcsec={self.pixel_arcsec:.4g} "
                             f"(pixel_kpc={self.pixel_kpc:.4g} at redshift={self.redshift!r}), spans "
                             f"{self.n_pix * self.pixel_arcsec / 3600:.4g} deg, more than the 180 deg a "
                             "sky image can: use a smaller pixel or a larger redshift")

        if self.beam_fwhm_px is None and self.beam_fwhm_arcsec is None:
            set_("beam_fwhm_px", 4.0)
        if self.beam_fwhm_px is not None:
            px = check.beam_fwhm("beam_fwhm_px", self.beam_fwhm_px)
            arc = tuple(b * self.pixel_arcsec for b in px)
            if self.beam_fwhm_arcsec is not None and not np.allclose(
                    check.beam_fwhm("beam_fwhm_arcsec", self.beam_fwhm_arcsec), arc, rtol=1e-6):
                raise ValueError(f"beam_fwhm_px={self.beam_fwhm_px!r} and beam_fwhm_arcsec="
                                 f"{self.beam_fwhm_arcsec!r} disagree; give one")
        else:
            arc = check.beam_fwhm("beam_fwhm_arcsec", self.beam_fwhm_arcsec)
            px = tuple(b / self.pixel_arcsec for b in arc)
        given = "beam_fwhm_px" if self.beam_fwhm_px is not None else "beam_fwhm_arcsec"
        if px[1] < 2.0:
            raise ValueError(f"{given}={getattr(self, given)!r} gives a minor-axis FWHM of {px[1]:.3g} px, "
                             "outside the valid range [2, inf) px: the beam must be Nyquist sampled")
        if px[0] > self.n_pix:
            raise ValueError(f"{given}={getattr(self, given)!r} gives a major-axis FWHM of {px[0]:.3g} px, "
                             f"outside the valid range [2, n_pix={self.n_pix}] px: a beam larger than the "
                             "field (beam_fwhm_px is in pixels, beam_fwhm_arcsec in arcsec)")
        set_("beam_fwhm_px", px)
        set_("beam_fwhm_arcsec", arc)

    @property
    def velocity_kms(self) -> np.ndarray:
        """Channel-centre velocities in km/s."""
        k = np.arange(self.n_chan) - (self.n_chan - 1) / 2.0
        return self.v_center_kms + k * self.channel_kms

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_chan, n_pix, n_pix) of the cubes this observation makes."""
        return (self.n_chan, self.n_pix, self.n_pix)

    @property
    def center_px(self) -> float:
        """Pixel index (0-based, x and y) of the field centre, where offsets are measured from."""
        return float(self.n_pix // 2)

    @property
    def beam_area_px(self) -> float:
        """Beam solid angle in pixels: pi bmaj bmin / (4 ln 2)."""
        return beam_area(*self.beam_fwhm_px)

    @property
    def line_freq_ghz(self) -> float:
        """Observed frequency of the line at the source's systemic redshift."""
        return self.rest_freq_ghz / (1.0 + self.redshift)

    def to_record(self) -> dict:
        """All parameters as a JSON-able dict.

        Returns
        -------
        dict
            Every field by name, with resolved values (beams as [major, minor] lists), so that
            ``Observation(**record)`` rebuilds this observation.
        """
        rec = {f.name: getattr(self, f.name) for f in fields(self)}
        rec["beam_fwhm_px"] = list(self.beam_fwhm_px)
        rec["beam_fwhm_arcsec"] = list(self.beam_fwhm_arcsec)
        rec["hanning"] = bool(self.hanning)
        return rec

    @functools.cached_property
    def header(self) -> fits.Header:
        """The FITS header of its cubes: WCS (RA---SIN/DEC--SIN, VRAD or FREQ) and beam.

        Computed once; Cubes take copies of it.
        """
        h = fits.Header()
        h["BUNIT"] = ("Jy/beam", "surface brightness")
        h["BTYPE"] = "Intensity"
        deg = self.pixel_arcsec / 3600.0
        crpix = self.center_px + 1.0
        for axis, ctype, cdelt, crval in ((1, "RA---SIN", -deg, self.ra_deg),
                                          (2, "DEC--SIN", deg, self.dec_deg)):
            h[f"CTYPE{axis}"], h[f"CRVAL{axis}"] = ctype, crval
            h[f"CDELT{axis}"], h[f"CRPIX{axis}"], h[f"CUNIT{axis}"] = cdelt, crpix, "deg"
        v0 = float(self.velocity_kms[0])
        f0 = self.line_freq_ghz * 1e9
        if self.spectral_axis == "VRAD":
            h["CTYPE3"], h["CUNIT3"] = "VRAD", "m/s"
            h["CRVAL3"], h["CDELT3"] = v0 * 1e3, self.channel_kms * 1e3
        else:  # radio convention: frequency is exactly linear in velocity
            h["CTYPE3"], h["CUNIT3"] = "FREQ", "Hz"
            h["CRVAL3"], h["CDELT3"] = f0 * (1.0 - v0 / C_KMS), -f0 * self.channel_kms / C_KMS
        h["CRPIX3"] = 1.0
        h["RESTFRQ"] = (f0, "[Hz] line frequency at the systemic redshift")
        h["SPECSYS"] = "BARYCENT"
        h["VELREF"] = 258  # AIPS code: barycentric, radio convention
        h["RADESYS"] = "ICRS"
        h["BMAJ"] = self.beam_fwhm_arcsec[0] / 3600.0
        h["BMIN"] = self.beam_fwhm_arcsec[1] / 3600.0
        h["BPA"] = self.beam_pa_deg
        h["ZSOURCE"] = (self.redshift, "source redshift")
        h["LINEREST"] = (self.rest_freq_ghz * 1e9, "[Hz] rest-frame line frequency")
        h["TELESCOP"] = "galcube"
        h["ORIGIN"] = f"galcube {__version__}"
        # A FITS card holds about 16 significant digits; 12 round-trip exactly through the file.
        for card in h.cards:
            if isinstance(card.value, float):
                h[card.keyword] = float(f"{card.value:.12g}")
        return h
