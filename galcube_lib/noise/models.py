"""A family of interferometric noise models, spanning what the shipped real cubes show.

The simulated benchmark's beam noise (white noise convolved with the restoring beam) is
correlated on sqrt(2) beams and spectrally white. The real cubes' noise is correlated on
0.9-1.4 beams, has the dirty beam's sidelobes, is Hanning-like or correlated at other lags along
the spectrum, and its level follows the primary-beam gain. :class:`NoiseModel` draws any of
these (docs/conventions.md, Noise); :func:`draw_noise_model` draws a model from the family that
training uses.

Every model is a Gaussian random field with a separable power spectrum, spatial x spectral,
times a level map:

- *spatial*: the Fourier transform of an autocorrelation whose central lobe is an elliptical
  Gaussian of FWHM ``correlation_beams`` restoring beams (the beam's shape and PA), less a share
  ``sidelobe`` of the short spacings that an interferometer does not sample (a Gaussian hole in
  the uv plane, :data:`HOLE_BEAMS`), which gives the autocorrelation the negative bowl of a
  dirty beam (-0.05 at ``sidelobe`` 0.8);
- *spectral*: "white", "hanning" (the 1/4, 1/2, 1/4 kernel: correlation 2/3 at lag 1),
  "lag" (correlation ``lag_correlation`` at lag ``lag`` only, as channels averaged with an
  offset copy) or "measured" (``spectral_acf``, the correlation at lags 1, 2, ... as
  :func:`galcube_lib.noise.correlation.spectral_correlation` measures it on a real cube);
- *level*: 1 / gain of a Gaussian primary beam of FWHM ``primary_beam_fields`` field widths at
  the field centre (gain 1 there), as in a primary-beam corrected cube; None keeps it flat.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import fft

from galcube_lib._util import checks as check
from galcube_lib._util import rng as _rng
from galcube_lib._util.conventions import FWHM_PER_SIGMA
from galcube_lib.sim.render import gaussian_transfer

SPECTRAL = ("white", "hanning", "lag", "measured")
#: the unsampled short spacings: a hole in the uv plane shaped as the transform of a Gaussian of
#: this many restoring beams FWHM (spacings shorter than about 1 / (HOLE_BEAMS beams) go
#: missing); at ``sidelobe`` 1 the autocorrelation integrates to zero
HOLE_BEAMS = 2.0
#: the family training draws from: (low, high) of each parameter
FAMILY = {"correlation_beams": (0.7, 1.5), "sidelobe": (0.0, 0.8), "lag": (2, 4),
          "lag_correlation": (0.1, 0.45), "primary_beam_fields": (1.0, 3.0)}


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Correlated Gaussian noise as an interferometer makes it (see the module's description).

    Parameters
    ----------
    correlation_beams : float
        FWHM of the autocorrelation's central lobe in restoring beams, 0.2 to 3 (default 1;
        the benchmark's beam noise is sqrt(2)).
    sidelobe : float
        Share of the short spacings left unsampled, 0 (no sidelobes) to 1 (default 0).
    spectral : {"white", "hanning", "lag", "measured"}
        Correlation along the spectrum (default "white").
    lag : int
        For "lag": the channel offset that is correlated, >= 1 (default 2).
    lag_correlation : float
        For "lag": the correlation at that offset, 0 to 0.5 (default 0.3).
    spectral_acf : tuple of float
        For "measured": the correlation at lags 1, 2, ..., each in (-1, 1).
    primary_beam_fields : float or None
        FWHM of the primary beam in field widths, > 0.3 (the noise level is 1 / gain); None
        (default) keeps the level flat.
    """

    correlation_beams: float = 1.0
    sidelobe: float = 0.0
    spectral: str = "white"
    lag: int = 2
    lag_correlation: float = 0.3
    spectral_acf: tuple = ()
    primary_beam_fields: float | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "correlation_beams",
             check.number("correlation_beams", self.correlation_beams, 0.2, 3.0))
        set_(self, "sidelobe", check.number("sidelobe", self.sidelobe, 0.0, 1.0))
        check.choice("spectral", self.spectral, SPECTRAL)
        set_(self, "lag", check.integer("lag", self.lag, 1))
        set_(self, "lag_correlation",
             check.number("lag_correlation", self.lag_correlation, 0.0, 0.5))
        acf = tuple(float(r) for r in self.spectral_acf)
        if any(not -1.0 < r < 1.0 for r in acf):
            raise ValueError(f"spectral_acf={self.spectral_acf!r}: every correlation must be "
                             "in (-1, 1)")
        if self.spectral == "measured" and not acf:
            raise ValueError("spectral='measured' needs spectral_acf, the correlation at lags "
                             "1, 2, ... (e.g. from noise.correlation.spectral_correlation)")
        set_(self, "spectral_acf", acf)
        if self.primary_beam_fields is not None:
            set_(self, "primary_beam_fields",
                 check.number("primary_beam_fields", self.primary_beam_fields, 0.3, None))

    def spatial_power(self, shape_yx, beam_fwhm_px, beam_pa_deg: float = 0.0) -> np.ndarray:
        """The spatial power spectrum on the rfft2 grid of ``shape_yx``.

        Parameters
        ----------
        shape_yx : (int, int)
            (ny, nx) of the field.
        beam_fwhm_px : float or (float, float)
            Restoring beam FWHM (bmaj, bmin) in pixels.
        beam_pa_deg : float, optional
            Beam position angle, north through east (default 0).

        Returns
        -------
        numpy.ndarray
            Non-negative (ny, nx // 2 + 1) power, 1 at k = 0 before the short-spacing hole.
        """
        bmaj, bmin = check.beam_fwhm("beam_fwhm_px", beam_fwhm_px)
        ky, kx = fft.fftfreq(shape_yx[0])[:, None], fft.rfftfreq(shape_yx[1])[None, :]
        # noise through a kernel of FWHM f has an autocorrelation of FWHM sqrt(2) f
        scale = self.correlation_beams / math.sqrt(2.0)
        core = gaussian_transfer(bmaj * scale, bmin * scale, beam_pa_deg, ky, kx) ** 2
        if not self.sidelobe:
            return core
        # a hole in the uv plane HOLE_BEAMS times the beam wide, in the image plane
        hole = gaussian_transfer(bmaj * HOLE_BEAMS, bmin * HOLE_BEAMS, beam_pa_deg, ky, kx)
        return core * (1.0 - self.sidelobe * hole)

    def spectral_power(self, n_chan: int) -> np.ndarray:
        """The spectral power spectrum on the fft grid of ``n_chan`` channels.

        Parameters
        ----------
        n_chan : int
            Number of channels, >= 2.

        Returns
        -------
        numpy.ndarray
            Non-negative (n_chan,) power at ``scipy.fft.fftfreq(n_chan)``.
        """
        n_chan = check.integer("n_chan", n_chan, 2)
        k = fft.fftfreq(n_chan)
        if self.spectral == "white":
            return np.ones_like(k)
        if self.spectral == "hanning":
            return np.cos(np.pi * k) ** 4          # |1/2 + 1/2 cos(2 pi k)|^2
        if self.spectral == "lag":
            r = self.lag_correlation               # x + a x(lag): correlation a / (1 + a^2)
            a = 0.0 if r == 0 else (1.0 - math.sqrt(1.0 - 4.0 * r * r)) / (2.0 * r)
            return np.abs(1.0 + a * np.exp(-2j * np.pi * k * self.lag)) ** 2
        acf = np.zeros(n_chan)
        acf[0] = 1.0
        lags = self.spectral_acf[: n_chan // 2]
        acf[1:len(lags) + 1] = lags
        acf[n_chan - len(lags):] = lags[::-1]
        return np.clip(fft.fft(acf).real, 0.0, None)

    def level_map(self, shape_yx) -> np.ndarray:
        """The noise level across the field, 1 at the centre.

        Parameters
        ----------
        shape_yx : (int, int)
            (ny, nx) of the field.

        Returns
        -------
        numpy.ndarray
            (ny, nx) float32: 1 / gain of the primary beam, or ones when the level is flat.
        """
        ny, nx = shape_yx
        if self.primary_beam_fields is None:
            return np.ones((ny, nx), np.float32)
        sigma = self.primary_beam_fields * max(ny, nx) / FWHM_PER_SIGMA
        y, x = np.ogrid[:ny, :nx]
        r2 = (y - (ny - 1) / 2) ** 2 + (x - (nx - 1) / 2) ** 2
        return np.exp(r2 / (2.0 * sigma ** 2)).astype(np.float32)

    def draw(self, shape, beam_fwhm_px, beam_pa_deg: float = 0.0, rng=None) -> np.ndarray:
        """One realisation.

        Parameters
        ----------
        shape : (int, int, int)
            (v, y, x), each >= 2.
        beam_fwhm_px : float or (float, float)
            Restoring beam FWHM (bmaj, bmin) in pixels.
        beam_pa_deg : float, optional
            Beam position angle, north through east (default 0).
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
            Randomness (SPEC 7).

        Returns
        -------
        numpy.ndarray
            float32 (v, y, x) noise of standard deviation 1 where the level map is 1, times
            :meth:`level_map` elsewhere.
        """
        shape = tuple(check.integer(f"shape[{i}]", n, 2) for i, n in enumerate(shape))
        if len(shape) != 3:
            raise ValueError(f"shape must be (v, y, x), got {shape!r}")
        gen, _ = _rng.generator(rng)
        amplitude = np.sqrt(self.spectral_power(shape[0])[:, None, None]
                            * self.spatial_power(shape[1:], beam_fwhm_px, beam_pa_deg)[None])
        white = gen.standard_normal(shape)
        noise = fft.irfftn(fft.rfftn(white) * amplitude, s=shape)
        noise *= 1.0 / np.std(noise)
        return (noise * self.level_map(shape[1:])[None]).astype(np.float32)


def draw_noise_model(rng=None, spectral_acfs=()) -> NoiseModel:
    """A noise model from the training family (:data:`FAMILY`).

    Parameters
    ----------
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Randomness (SPEC 7).
    spectral_acfs : sequence of sequences of float, optional
        Measured spectral correlations (lags 1, 2, ...) to draw "measured" models from; without
        them the spectrum is white, Hanning or lag-correlated.

    Returns
    -------
    NoiseModel
        Correlation 0.7-1.5 beams; sidelobes in half the models; each spectral kind equally
        often; a primary beam of 1-3 field widths in half the models.
    """
    gen, _ = _rng.generator(rng)
    kinds = SPECTRAL if len(spectral_acfs) else SPECTRAL[:3]
    kind = str(kinds[int(gen.integers(len(kinds)))])
    acf = tuple(spectral_acfs[int(gen.integers(len(spectral_acfs)))]) if kind == "measured" else ()
    return NoiseModel(
        correlation_beams=float(gen.uniform(*FAMILY["correlation_beams"])),
        sidelobe=float(gen.uniform(*FAMILY["sidelobe"])) if gen.random() < 0.5 else 0.0,
        spectral=kind, lag=int(gen.integers(FAMILY["lag"][0], FAMILY["lag"][1] + 1)),
        lag_correlation=float(gen.uniform(*FAMILY["lag_correlation"])), spectral_acf=acf,
        primary_beam_fields=(float(gen.uniform(*FAMILY["primary_beam_fields"]))
                             if gen.random() < 0.5 else None))
