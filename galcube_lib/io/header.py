"""Normalising FITS cubes written by other software, for :func:`galcube_lib.read_fits`.

Each helper fixes one trap of real observations (Stokes axes, AIPS/Miriad velocity axes, B1950,
per-channel beams, zero-filled blanks, primary-beam gain, brightness units) and says what it did
through a :class:`ReadLog`, so that the returned cube's header (HISTORY) and record tell the story.
astropy.wcs (wcslib) does the coordinate work; radio_beam is imported only where beams are combined.
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.io.fits.verify import VerifyError, VerifyWarning
from galcube_lib._util import checks as check
from galcube_lib._util.conventions import C_KMS, beam_area


GAIN_MAX = 1.01
"""Largest primary-beam gain accepted: beam models overshoot 1 slightly (ngc4047 peaks at 1.0015)."""

BEAM_SPREAD = 0.01
"""Per-channel beams whose areas differ by more than this fraction get a warning."""

MIN_BEAM_PX = 0.1
"""Smallest beam FWHM accepted, in pixels: below it a beam is taken as given in the wrong unit."""

MAX_BEAM_FIELDS = 10
"""Largest beam FWHM accepted, in field widths."""

_GIVE_BEAM = "give one as read_fits(path, beam=(bmaj_arcsec, bmin_arcsec, pa_deg))"
_AXIS_KEY = re.compile(r"^(NAXIS|CTYPE|CRVAL|CDELT|CRPIX|CUNIT|CROTA|CNAME|CRDER|CSYER"
                       r"|DTYPE|DRVAL|DDELT|DRPIX|DUNIT)(\d)([A-Z]?)$")
_MATRIX_KEY = re.compile(r"^(PC|CD)(\d)_(\d)([A-Z]?)$")
_PARAM_KEY = re.compile(r"^(PV|PS)(\d)_(\d+)([A-Z]?)$")
_AIPS_BEAM = re.compile(r"AIPS\s+CLEAN\s+BMAJ\s*=\s*(\S+)\s+BMIN\s*=\s*(\S+)\s+BPA\s*=\s*(\S+)")
_JY_PER_BEAM = re.compile(r"jy(/beam|/bm|[.*]?beam\^?-1)")   # lower case, spaces removed
_AIPS_FRAMES = {"LSR": 1, "HEL": 2, "OBS": 3}               # VELREF codes; +256 means radio


class ReadLog:
    """What reading one file did: notes (each also a HISTORY card), warnings, blanked voxels.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header being normalised; notes are added to it as HISTORY cards.

    Attributes
    ----------
    notes : list of str
        What was changed, in order.
    warnings : list of str
        What the reader should be warned about.
    blanked : int
        Voxels set to NaN.
    """

    def __init__(self, header):
        self.header = header
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.blanked = 0

    def note(self, text: str) -> None:
        """Record a change: in ``notes`` and as a HISTORY card "galcube read_fits: <text>".

        Parameters
        ----------
        text : str
            What was changed.
        """
        self.notes.append(text)
        self.header.add_history(f"galcube read_fits: {text}")

    def warning(self, text: str) -> None:
        """Record a warning, for :func:`read_fits` to issue.

        Parameters
        ----------
        text : str
            The warning.
        """
        self.warnings.append(text)


def quiet_wcs(header):
    """``astropy.wcs.WCS(header)`` with wcslib's fixes applied, quietly.

    wcslib's fixes (NCP, AIPS VELO-xxx, EPOCH, units) are applied and its FITSFixedWarning
    chatter about them silenced. Keywords wcslib would replace by its defaults without a word
    (non-finite values, missing or zero increments) are refused first
    (:func:`check_numeric_keywords`, :func:`check_increments`).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.

    Returns
    -------
    astropy.wcs.WCS
        The WCS.

    Raises
    ------
    ValueError
        A keyword wcslib cannot use; the message names what to correct.
    """
    from astropy.wcs import WCS, FITSFixedWarning

    check_numeric_keywords(header)
    check_increments(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            return WCS(header)
        except ValueError as err:   # wcslib's "ERROR 6 in wcs_units() at line ..." and its reason
            reason = "; ".join(line.strip() for line in str(err).splitlines()
                               if line.strip() and not line.startswith("ERROR"))
            raise ValueError(f"wcslib cannot use the header's WCS ({reason or err}): correct the "
                             "CTYPEn/CUNITn keyword it names (CTYPE1/2 RA---xxx and DEC--xxx, "
                             "CUNIT1/2 deg, CUNIT3 m/s, km/s or Hz)") from None


# ----------------------------------------------------------------------------- keywords

_NUMERIC_AXIS_KEY = re.compile(r"^(CRVAL|CDELT|CRPIX|CROTA)\d[A-Z]?$|^(PC|CD|PV)\d_\d+[A-Z]?$")
_NUMERIC_KEYS = ("RESTFRQ", "RESTFREQ", "RESTWAV", "BMAJ", "BMIN", "BPA", "EQUINOX", "EPOCH",
                 "LONPOLE", "LATPOLE", "VELOSYS", "ZSOURCE", "MJD-OBS")


def _card_value(card):
    """A card's value; an unparsable one (``CRVAL1 = INF``) as its text."""
    try:
        return card.value
    except VerifyError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)
            card.verify("fix")   # the value becomes the text, which float() still reads
        return card.value


def check_numeric_keywords(header) -> None:
    """Check that the header's numeric keywords are finite numbers.

    Every WCS (CRVALn, CDELTn, CRPIXn, CROTAn, PCi_j, CDi_j, PVi_m), rest-frequency, beam and
    epoch keyword present must be one: wcslib would silently put its default in place of
    ``INF``, ``NAN`` or text (RA 0, a 1 deg pixel, a 1 m/s channel).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.

    Raises
    ------
    ValueError
        Naming the first keyword that is not a finite number.
    """
    for card in header.cards:
        key = card.keyword
        if not (_NUMERIC_AXIS_KEY.match(key) or key in _NUMERIC_KEYS):
            continue
        value = _card_value(card)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError(f"header keyword {key} = {value!r} is not a finite number; correct it "
                             f"(cube.header[{key!r}] = ..., or astropy.io.fits.setval on the file)")


def _increment_text(header, axis: int) -> str:
    ctype = str(header.get(f"CTYPE{axis}", "")).strip()
    default = "a 1 deg pixel" if axis < 3 else "1 m/s or 1 Hz channels"
    return f"axis {axis} ({ctype or 'untyped'}), whose FITS default increment 1 means {default}"


def check_increments(header) -> None:
    """Check that the pixel and channel increments are given and the transformation invertible.

    The increments of axes 1 to 3 must be given and non-zero, and the linear transformation
    (CDi_j, or PCi_j scaled by CDELTn) not singular. Axis 3 is checked only when CTYPE3 is set
    (a 2-D map has none).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.

    Raises
    ------
    ValueError
        A missing or zero increment, or a singular matrix.
    """
    axes = [1, 2, 3] if "CTYPE3" in header else [1, 2]
    if any(_MATRIX_KEY.match(key) and key.startswith("CD") for key in header):
        matrix = np.array([[float(header.get(f"CD{i}_{j}", 0.0)) for j in axes] for i in axes])
        if np.linalg.det(matrix) == 0:
            raise ValueError(f"the CDi_j matrix of axes {axes} is singular ({matrix.tolist()}): "
                             "some pixel or channel increment is 0 or missing; correct the header")
        return
    for axis in axes:
        key = f"CDELT{axis}"
        if key not in header:
            map_advice = "; for a map with no channel width, remove CTYPE3" if axis == 3 else ""
            raise ValueError(f"{key} is missing for {_increment_text(header, axis)}; add it to the "
                             "header (in CUNIT units: deg for RA/DEC, m/s or Hz for the spectral "
                             f"axis){map_advice}")
        if float(header[key]) == 0:
            raise ValueError(f"{key} = 0 for {_increment_text(header, axis)}: the increment must be "
                             "non-zero; correct it in the header")
    identity = np.eye(len(axes))
    pc = np.array([[float(header.get(f"PC{i}_{j}", identity[m, n])) for n, j in enumerate(axes)]
                   for m, i in enumerate(axes)])
    if np.linalg.det(pc) == 0:
        raise ValueError(f"the PCi_j matrix of axes {axes} is singular ({pc.tolist()}); correct "
                         "the header")


# ----------------------------------------------------------------------------- axes

def _axis_keyword(key: str):
    """(template, axis numbers) of a keyword that names FITS axes, e.g. 'PC3_4' -> ('PC{}_{}', [3, 4])."""
    if m := _AXIS_KEY.match(key):
        return m[1] + "{}" + m[3], [int(m[2])]
    if m := _MATRIX_KEY.match(key):
        return m[1] + "{}_{}" + m[4], [int(m[2]), int(m[3])]
    if m := _PARAM_KEY.match(key):
        return m[1] + "{}_" + m[3] + m[4], [int(m[2])]
    return None, []


def _drop_axis(header, axis: int) -> None:
    """Remove FITS axis ``axis`` (1-based) from the header and renumber the axes above it."""
    renames = []
    for key in list(header.keys()):
        template, axes = _axis_keyword(key)
        if axis in axes:
            del header[key]
        elif template and max(axes) > axis:
            renames.append((axes, key, template.format(*[a - (a > axis) for a in axes])))
    for _, old, new in sorted(renames):   # ascending, so every new name is free when it is used
        header.rename_keyword(old, new)
    header["NAXIS"] = header["NAXIS"] - 1
    if "WCSAXES" in header:
        header["WCSAXES"] = header["WCSAXES"] - 1


def to_cube_axes(data: np.ndarray, header, log: ReadLog) -> np.ndarray:
    """Shape the primary array as (v, y, x) with the spectral axis as FITS axis 3.

    Degenerate Stokes axes are dropped wherever they sit (CASA writes RA, DEC, STOKES, FREQ), as are
    other degenerate axes beyond the third; a (y, x) map becomes a one-channel cube. The header
    is changed to match (axes dropped and renumbered).

    Parameters
    ----------
    data : numpy.ndarray
        The primary array, in numpy order (FITS axes reversed).
    header : astropy.io.fits.Header
        Its header, changed in place.
    log : ReadLog
        Where the change is noted.

    Returns
    -------
    numpy.ndarray
        The (v, y, x) array (a view of ``data``).

    Raises
    ------
    ValueError
        More than one Stokes plane, data that are not 2-D or 3-D after dropping, or a spectral
        axis that is not FITS axis 3.
    """
    for axis in range(data.ndim, 0, -1):   # FITS numbering; numpy axis = ndim - axis
        if str(header.get(f"CTYPE{axis}", "")).strip().upper().startswith("STOKES"):
            if data.shape[data.ndim - axis] != 1:
                raise ValueError(f"{data.shape[data.ndim - axis]} Stokes planes (FITS axis {axis}); "
                                 "galcube reads one: select a plane first")
            data = data.squeeze(axis=data.ndim - axis)
            _drop_axis(header, axis)
            log.note("dropped Stokes axis")
    while data.ndim > 3 and data.shape[0] == 1:
        log.note(f"dropped degenerate axis {data.ndim} ({header.get(f'CTYPE{data.ndim}', 'untyped')})")
        _drop_axis(header, data.ndim)
        data = data[0]
    if data.ndim == 2:
        data = data[None]
        header["NAXIS"] = 3
        header.set("NAXIS3", 1, after="NAXIS2")
        log.note("2-D map read as a one-channel cube")
    if data.ndim != 3:
        raise ValueError(f"the data is {data.ndim}-D with shape {data.shape}; galcube needs a "
                         "(v, y, x) cube or a (y, x) map")
    spec = quiet_wcs(header).wcs.spec
    if spec not in (-1, 2):
        raise ValueError(f"the spectral axis is FITS axis {spec + 1}; galcube needs it as axis 3 "
                         "(RA, DEC, spectral)")
    return data


# ----------------------------------------------------------------------------- spectral axis

def _spectral_axis(header):
    """The one-axis WCS of FITS axis 3, as wcslib reads it (VELO-xxx/FELO-xxx become VRAD/VOPT)."""
    wcs = quiet_wcs(header)
    if wcs.naxis < 3 or wcs.wcs.spec != 2:
        raise ValueError(f"the header has no spectral axis 3 (CTYPE3 = {header.get('CTYPE3')!r})")
    return wcs.sub([3])


def velocity_kms(header, pixels) -> np.ndarray:
    """Radio-convention velocities (km/s) at 0-based channel ``pixels`` of axis 3.

    VRAD is taken as it is; optical velocity (VOPT, and AIPS VELO-xxx without a radio VELREF, which
    wcslib reads as VOPT) becomes radio, v_radio = c v_opt / (c + v_opt); FREQ needs the rest
    frequency (RESTFRQ or RESTFREQ). Absent CUNIT3 means m/s or Hz (the FITS default).

    Parameters
    ----------
    header : astropy.io.fits.Header
        A header with a spectral axis 3.
    pixels : array_like
        0-based channel positions (fractions allowed).

    Returns
    -------
    numpy.ndarray
        Radio velocities in km/s, one per pixel, in the data's order.

    Raises
    ------
    ValueError
        No spectral axis 3, an unsupported CTYPE3, or a FREQ axis without a rest frequency.
    """
    axis = _spectral_axis(header)
    ctype = axis.wcs.ctype[0]
    value = axis.pixel_to_world_values(np.asarray(pixels, dtype=float)) * u.Unit(axis.wcs.cunit[0])
    rest = axis.wcs.restfrq * u.Hz
    if ctype.startswith("VRAD"):
        speed = value
    elif ctype.startswith("VOPT"):
        # Through frequency and back: the rest frequency cancels, so any positive one will do.
        ref = rest if rest > 0 else 1.0 * u.GHz
        speed = value.to(u.Hz, u.doppler_optical(ref)).to(u.km / u.s, u.doppler_radio(ref))
    elif ctype.startswith("FREQ"):
        if not rest > 0:
            raise ValueError("frequency axis without a rest frequency (RESTFRQ or RESTFREQ): cannot "
                             "give velocities; set header['RESTFRQ'] to the line frequency in Hz")
        speed = value.to(u.km / u.s, u.doppler_radio(rest))
    else:
        raise ValueError(f"spectral axis CTYPE3 = {header.get('CTYPE3')!r} is not supported; galcube "
                         "reads VRAD, VOPT, VELO-xxx, FELO-xxx and FREQ")
    return speed.to_value(u.km / u.s)


def frequency_hz(header, pixels):
    """Observed frequencies of axis 3 at 0-based channel ``pixels``.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A header with a spectral axis 3.
    pixels : array_like
        0-based channel positions.

    Returns
    -------
    numpy.ndarray or None
        Frequencies in Hz (a velocity axis through the rest frequency, radio convention);
        None when they are unknown (a velocity axis without a rest frequency).
    """
    axis = _spectral_axis(header)
    if axis.wcs.ctype[0].startswith("FREQ"):
        value = axis.pixel_to_world_values(np.asarray(pixels, dtype=float)) * u.Unit(axis.wcs.cunit[0])
        return value.to_value(u.Hz)
    if not axis.wcs.restfrq > 0:
        return None
    speed = velocity_kms(header, pixels) * (u.km / u.s)
    return speed.to_value(u.Hz, u.doppler_radio(axis.wcs.restfrq * u.Hz))


def warn_if_high_redshift(header, n_chan: int, log: ReadLog) -> None:
    """Warn when radio velocities are far from zero.

    Above 0.1 c the rest frequency is the line's rest-frame one, so channel widths in km/s
    are (1 + z) times narrower than in the source's frame.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header; nothing happens when it gives no velocities.
    n_chan : int
        Number of channels.
    log : ReadLog
        Where the warning is recorded.
    """
    try:
        speed = float(np.median(velocity_kms(header, np.arange(n_chan))))
    except ValueError:   # no velocities at all: velocity_kms says why when they are asked for
        return
    if speed > 0.1 * C_KMS:
        one_plus_z = 1.0 / (1.0 - speed / C_KMS)
        log.warning(f"radio velocities near {speed:.0f} km/s: the rest frequency is the line's rest-frame "
                    f"one (z ~ {one_plus_z - 1:.2f}), so channel_kms is {one_plus_z:.2f}x narrower than "
                    "the channel width in the source's frame; for source-frame velocities set "
                    "header['RESTFRQ'] to the redshifted line frequency")


# ----------------------------------------------------------------------------- frames

def fix_frames(header, log: ReadLog) -> None:
    """Old celestial and velocity conventions made explicit in the header.

    EPOCH < 1984 without EQUINOX/RADESYS is B1950: EQUINOX and RADESYS = FK4 are added. Miriad's
    VELO-xxx axes are radio velocities, but wcslib follows AIPS and reads VELO-xxx without VELREF as
    optical, so Miriad files get the radio VELREF; other VELO-xxx without VELREF stay optical.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header, changed in place.
    log : ReadLog
        Where the change is noted.
    """
    epoch = header.get("EPOCH")
    if epoch is not None and "EQUINOX" not in header and float(epoch) < 1984.0:
        header["EQUINOX"] = (float(epoch), "from EPOCH (galcube)")
        if "RADESYS" not in header and "RADECSYS" not in header:
            header["RADESYS"] = ("FK4", "EQUINOX < 1984 (galcube)")
        log.note(f"B{float(epoch):g} -> FK4 (EQUINOX and RADESYS from EPOCH)")
    ctype = str(header.get("CTYPE3", "")).strip().upper()
    if ctype.startswith("VELO-") and "VELREF" not in header:
        if "MIRIAD" in str(header.get("ORIGIN", "")).upper() and ctype[5:] in _AIPS_FRAMES:
            header["VELREF"] = (_AIPS_FRAMES[ctype[5:]] + 256, "radio: Miriad's VELO (galcube)")
            log.note(f"{ctype} (Miriad) read as radio velocity")
        else:
            log.note(f"{ctype} without VELREF read as optical velocity (AIPS convention)")


# ----------------------------------------------------------------------------- beam

def beam_argument(beam):
    """Check the ``beam`` argument of :func:`read_fits`.

    Parameters
    ----------
    beam : (float, float, float) or None
        ``(bmaj_arcsec, bmin_arcsec, pa_deg)``: FWHM in arcsec, 0 < bmin <= bmaj, and a
        finite position angle in degrees.

    Returns
    -------
    tuple of float or None
        The three numbers; None when ``beam`` is None.

    Raises
    ------
    TypeError
        Not three numbers.
    ValueError
        Non-finite values or not 0 < bmin <= bmaj.
    """
    if beam is None:
        return None
    form = f"beam={beam!r} must be three numbers (bmaj_arcsec, bmin_arcsec, pa_deg)"
    if isinstance(beam, (str, bytes)) or np.ndim(beam) != 1 or len(beam) != 3:
        raise TypeError(form)
    try:
        return (*check.beam_fwhm("beam", tuple(beam[:2])), check.number("beam[2]", beam[2]))
    except (TypeError, ValueError) as err:
        raise type(err)(f"{form}, 0 < bmin_arcsec <= bmaj_arcsec: {err}") from None


def _set_beam_deg(header, bmaj, bmin, pa, source: str) -> None:
    header["BMAJ"] = (bmaj, f"[deg] {source} (galcube)")
    header["BMIN"] = (bmin, f"[deg] {source} (galcube)")
    header["BPA"] = (pa, f"[deg] {source} (galcube)")


def _header_has_beam(header) -> bool:
    try:
        return float(header["BMAJ"]) > 0 and float(header["BMIN"]) > 0
    except (KeyError, TypeError, ValueError):
        return False


def set_beam(header, beam, beams, log: ReadLog, *, required: bool) -> None:
    """Give the header one beam (BMAJ/BMIN/BPA in degrees).

    Precedence: the ``beam=`` argument; then a CASA BEAMS table (per-channel beams), whose
    representative is their *common beam*, the smallest beam every channel could be convolved to
    (a primary-header beam beside the table is a summary of unknown kind, so the table wins); then
    BMAJ/BMIN in the header; then an AIPS ``CLEAN BMAJ=`` HISTORY card. The data are not convolved.
    The beam is then checked against the pixels and the field (:func:`check_beam_size`).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header, changed in place.
    beam : tuple of float or None
        ``(bmaj_arcsec, bmin_arcsec, pa_deg)`` from :func:`beam_argument`.
    beams : radio_beam.Beams or None
        The per-channel beams of a BEAMS table (:func:`read_beams_table`).
    log : ReadLog
        Where the change is noted.
    required : bool
        Whether a cube without any beam is an error (files not written by galcube).

    Raises
    ------
    ValueError
        No beam when one is required, no common beam for the table, or an implausible beam
        size.
    """
    advice = _choose_beam(header, beam, beams, log)
    if advice is not None:
        check_beam_size(header, advice)
    elif required:
        raise ValueError("has no beam (BMAJ/BMIN missing or not positive, no BEAMS table, no AIPS "
                         f"CLEAN history); {_GIVE_BEAM}")


def _choose_beam(header, beam, beams, log: ReadLog):
    """Set the beam as :func:`set_beam` says; return what to do if its size is implausible (None
    when there is no beam)."""
    if beam is not None:
        _set_beam_deg(header, beam[0] / 3600.0, beam[1] / 3600.0, beam[2], "beam= argument")
        log.note("beam from the beam= argument")
        return (f"beam={tuple(beam)!r} is (bmaj_arcsec, bmin_arcsec, pa_deg) in arcsec; a beam in "
                "degrees must be multiplied by 3600")
    if beams is not None:
        from radio_beam.utils import BeamError

        try:
            common = beams.common_beam()
        except BeamError as err:
            raise ValueError(f"radio_beam finds no common beam for the BEAMS table ({err}); "
                             f"{_GIVE_BEAM}") from None
        areas = beams.sr.value
        spread = areas.max() / areas.min() - 1.0
        if spread > BEAM_SPREAD:
            major = beams.major.to_value(u.arcsec)
            log.warning(f"per-channel beams differ by {100 * spread:.1f}% in area (BMAJ "
                        f"{major.min():.3g}-{major.max():.3g} arcsec); the header beam is their common "
                        f"beam {common.major.to_value(u.arcsec):.3g} x "
                        f"{common.minor.to_value(u.arcsec):.3g} arcsec, the smallest all channels "
                        "could be convolved to (they are not)")
        replaces = "; replaces the header's BMAJ/BMIN" if _header_has_beam(header) else ""
        _set_beam_deg(header, common.major.to_value(u.deg), common.minor.to_value(u.deg),
                      common.pa.to_value(u.deg), "common beam of the BEAMS table")
        header.remove("CASAMBM", ignore_missing=True)   # the returned cube has no BEAMS table
        log.note(f"representative beam from BEAMS table (common beam{replaces})")
        return f"the BEAMS table's units may be wrong; {_GIVE_BEAM}"
    if _header_has_beam(header):
        return f"the header's BMAJ/BMIN (in degrees) look wrong; {_GIVE_BEAM}"
    for card in reversed(header.get("HISTORY", [])):
        if m := _AIPS_BEAM.search(str(card)):
            _set_beam_deg(header, *(float(v) for v in m.groups()), "AIPS CLEAN HISTORY")
            log.note("beam from AIPS CLEAN HISTORY")
            return f"the AIPS CLEAN HISTORY beam (in degrees) looks wrong; {_GIVE_BEAM}"
    return None


def pixel_deg(header) -> float:
    """Pixel size along y in degrees: the length of the CDi_2 column, or CDELT2 times that of PCi_2.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.

    Returns
    -------
    float
        The pixel size in degrees, > 0.

    Raises
    ------
    ValueError
        CDELT2 (or CD2_2) is missing, zero or not a finite number.
    """
    try:
        if "CD1_2" in header or "CD2_2" in header:
            size = math.hypot(float(header.get("CD1_2", 0.0)), float(header.get("CD2_2", 0.0)))
        else:
            size = abs(float(header["CDELT2"])) * math.hypot(float(header.get("PC1_2", 0.0)),
                                                            float(header.get("PC2_2", 1.0)))
    except (KeyError, TypeError, ValueError):
        size = math.nan
    if not (size > 0 and math.isfinite(size)):
        raise ValueError("the header gives no pixel size: CDELT2 (or CD2_2) is missing, zero or not a "
                         "finite number; set header['CDELT2'] to the pixel size in degrees")
    return size


def check_beam_size(header, advice: str) -> None:
    """Refuse a beam given in the wrong unit (degrees for arcsec, arcsec for degrees).

    Such a beam would scale every flux by the square of the mistake.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A header with BMAJ and BMIN in degrees and a pixel size.
    advice : str
        What to do about it, the end of the error message.

    Raises
    ------
    ValueError
        The beam's minor axis is under ``MIN_BEAM_PX`` pixels or its major axis over
        ``MAX_BEAM_FIELDS`` times the field.
    """
    pixel = pixel_deg(header)
    bmaj, bmin = sorted((float(header["BMAJ"]), float(header["BMIN"])), reverse=True)
    field = max(int(header.get("NAXIS1", 1)), int(header.get("NAXIS2", 1)))
    size = (f"a {bmaj * 3600:.4g} x {bmin * 3600:.4g} arcsec beam is {bmaj / pixel:.3g} x "
            f"{bmin / pixel:.3g} px of {pixel * 3600:.4g} arcsec")
    if bmin / pixel < MIN_BEAM_PX:
        raise ValueError(f"{size}, far below a pixel (at least {MIN_BEAM_PX} px expected): {advice}")
    if bmaj / pixel > MAX_BEAM_FIELDS * field:
        raise ValueError(f"{size}, far larger than the {field} px field (at most {MAX_BEAM_FIELDS} "
                         f"fields expected): {advice}")


def read_beams_table(hdu):
    """The beams of a CASA BEAMS table (TUNITn honoured).

    Parameters
    ----------
    hdu : astropy.io.fits.BinTableHDU
        The BEAMS table.

    Returns
    -------
    radio_beam.Beams or None
        The beams, its unusable rows (zero or NaN, written for flagged channels) left out;
        None when no row is usable.

    Raises
    ------
    ValueError
        The table lacks the columns radio_beam needs.
    """
    from radio_beam import Beams

    try:
        beams = Beams.from_fits_bintable(hdu)
    except (IndexError, KeyError, ValueError) as err:   # radio_beam's ways of saying "no such column"
        raise ValueError(f"unusable BEAMS table ({err!r})") from None
    usable = (np.isfinite(beams.major.value) & np.isfinite(beams.minor.value)
              & (beams.major.value > 0) & (beams.minor.value > 0))
    return beams[usable] if usable.any() else None


# ----------------------------------------------------------------------------- data

def blank_zero_spaxels(data: np.ndarray, log: ReadLog) -> None:
    """Spaxels exactly 0 in every channel (outside a mosaic's footprint) become NaN.

    They are a mask, never signal. NaN channels do not count against a spaxel.

    Parameters
    ----------
    data : numpy.ndarray
        (v, y, x) data, changed in place (the reader's own copy).
    log : ReadLog
        Where the blanked voxels are counted and noted.
    """
    zero = data == 0
    spaxels = np.all(zero | np.isnan(data), axis=0) & np.any(zero, axis=0)
    if spaxels.any():
        count = int(zero[:, spaxels].sum())
        data[:, spaxels] = np.nan
        log.blanked += count
        log.note(f"zero-filled blanks -> NaN ({int(spaxels.sum())} spaxels)")


def check_gain(gain: np.ndarray, shape, name: str) -> np.ndarray:
    """The primary-beam gain, checked.

    Parameters
    ----------
    gain : numpy.ndarray
        The gain, of the cube's shape; finite values in [0, ``GAIN_MAX``] (0 and NaN mark
        blanks).
    shape : tuple of int
        (v, y, x) shape of the cube (Stokes axis dropped).
    name : str
        How to name the gain in error messages (e.g. its file).

    Returns
    -------
    numpy.ndarray
        float32 gain, NaN where it was NaN or <= 0.

    Raises
    ------
    ValueError
        The wrong shape, or finite values outside [0, ``GAIN_MAX``].
    """
    gain = np.array(gain, dtype=np.float32)
    if gain.shape != tuple(shape):
        raise ValueError(f"gain {name} has shape {gain.shape}; the cube (Stokes axis dropped) has "
                         f"{tuple(shape)}")
    finite = gain[np.isfinite(gain)]
    if finite.size and (finite.min() < 0 or finite.max() > GAIN_MAX):
        raise ValueError(f"gain {name} must lie in (0, 1] where finite (0 and NaN mark blanks, up to "
                         f"{GAIN_MAX} is accepted); got {finite.min():.4g} .. {finite.max():.4g}")
    gain[~(gain > 0)] = np.nan
    return gain


def to_jy_per_beam(data: np.ndarray, header, log: ReadLog) -> np.ndarray:
    """Brightness in Jy/beam where possible.

    Jy/beam in any spelling becomes BUNIT 'Jy/beam'. K (or mK, ...) is converted with the
    Rayleigh-Jeans ``astropy.units.brightness_temperature`` for the header beam's solid angle
    pi bmaj bmin / (4 ln 2), channel by channel at the observed frequency; without a frequency
    (no FREQ axis, no rest frequency) it is kept with a warning, as are blank and other units.

    Parameters
    ----------
    data : numpy.ndarray
        (v, y, x) data in the header's BUNIT.
    header : astropy.io.fits.Header
        The header with its beam; BUNIT is changed in place when converted.
    log : ReadLog
        Where the change is noted.

    Returns
    -------
    numpy.ndarray
        The data in Jy/beam (a new float32 array after a conversion from K), or ``data``
        itself when the units are kept.
    """
    text = str(header.get("BUNIT", "")).strip()
    if _JY_PER_BEAM.fullmatch(text.lower().replace(" ", "")):
        if text != "Jy/beam":
            header["BUNIT"] = "Jy/beam"
            log.note(f"BUNIT {text!r} -> 'Jy/beam'")
        return data
    if not text:
        log.warning("BUNIT is blank: the brightness units are unknown (galcube's fluxes assume "
                    "Jy/beam); set cube.header['BUNIT'] if you know them")
        return data
    unit = u.Unit(text, parse_strict="silent")
    if not unit.is_equivalent(u.K):
        log.warning(f"BUNIT {text!r} is not Jy/beam: data kept in it (galcube's fluxes assume Jy/beam)")
        return data
    freq = frequency_hz(header, np.arange(data.shape[0])) if "CTYPE3" in header else None
    if freq is None:
        log.warning(f"BUNIT {text!r} kept: converting to Jy/beam needs the frequency (a FREQ axis, or "
                    "RESTFRQ/RESTFREQ with a velocity axis)")
        return data
    omega = beam_area(float(header["BMAJ"]), float(header["BMIN"])) * u.deg**2
    per_unit = (1.0 * unit).to_value(u.Jy / u.beam, u.brightness_temperature(freq * u.Hz, omega.to(u.sr)))
    header["BUNIT"] = "Jy/beam"
    log.note(f"{text} -> Jy/beam (Rayleigh-Jeans, header beam, {per_unit.mean():.4g} Jy/beam per {text})")
    return (data * per_unit[:, None, None]).astype(np.float32)
