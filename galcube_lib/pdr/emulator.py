"""A neural emulator of a PDR model grid: an MLP from (log n, log G0) to the log10 intensities
of all the grid's lines at once (after Palud et al. 2023: a polynomial input layer, smooth
activations, one network for every line, inputs and outputs standardised), beside a cubic
polynomial path that starts as the least-squares fit.

It is trained on grid nodes by full-batch Adam, then L-BFGS, in float64, and shipped in
float32 (``data/models/pdr/<model set>.pt`` with its card). Its accuracy against the grid's own
interpolation on held-out nodes is measured by ``benchmarks/bench_pdr_emulator.py``.
"""
import time
from pathlib import Path

import numpy as np
import torch

from galcube_lib._util import checks
from galcube_lib.denoise.deep import weights
from galcube_lib.pdr.grids import ModelGrid


class EmulatorNetwork(torch.nn.Module):
    """Standardise, expand into the monomials of degree 1-3 (Palud et al. 2023's polynomial
    input layer), a cubic polynomial of them plus an MLP (tanh) for what the polynomial misses,
    unstandardise: log parameters -> log10 intensities. The polynomial starts as the least-squares
    fit (lines that are nearly polynomial in the logs, such as FIR in G0, are then nearly exact),
    and the MLP's outputs are scaled by each line's residual from that fit (buffer ``residual``,
    standardised units), so that the MLP is asked for the same relative accuracy on every line.

    Parameters
    ----------
    n_lines : int
        Outputs.
    width, depth : int
        Hidden units per layer and hidden layers.
    """

    def __init__(self, n_lines: int, width: int = 192, depth: int = 3):
        super().__init__()
        layers, size = [], 9
        for _ in range(depth):
            layers += [torch.nn.Linear(size, width), torch.nn.Tanh()]
            size = width
        self.body = torch.nn.Sequential(*layers, torch.nn.Linear(size, n_lines))
        self.polynomial = torch.nn.Linear(9, n_lines)
        for name, shape in (("x_centre", 2), ("x_half", 2), ("y_mean", n_lines), ("y_std", n_lines),
                            ("residual", n_lines)):
            self.register_buffer(name, torch.ones(shape, dtype=torch.float64))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load weights; an emulator saved before the residual scaling (no ``residual``) loads
        with a scale of 1, as it was trained.

        Parameters
        ----------
        state_dict : dict
            The weights and buffers.
        strict, assign : bool
            As :meth:`torch.nn.Module.load_state_dict`.

        Returns
        -------
        NamedTuple
            The missing and unexpected keys.
        """
        if "residual" not in state_dict:
            state_dict = {**state_dict, "residual": torch.ones_like(self.residual)}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, log_parameters: torch.Tensor) -> torch.Tensor:
        """Log10 intensities of log parameters.

        Parameters
        ----------
        log_parameters : torch.Tensor
            ``(n, 2)``: log n and log G0.

        Returns
        -------
        torch.Tensor
            ``(n, n_lines)`` log10 intensities.
        """
        return self.standardised((log_parameters - self.x_centre) / self.x_half) * self.y_std + self.y_mean

    def standardised(self, z: torch.Tensor) -> torch.Tensor:
        """The network in standardised units (what training fits).

        Parameters
        ----------
        z : torch.Tensor
            ``(n, 2)`` standardised log n and log G0 (each axis mapped to -1..1).

        Returns
        -------
        torch.Tensor
            ``(n, n_lines)`` standardised log intensities.
        """
        terms = _monomials(z)
        return self.body(terms) * self.residual + self.polynomial(terms)


def _monomials(z: torch.Tensor) -> torch.Tensor:
    """The 9 monomials of degree 1-3 of standardised (x, y)."""
    x, y = z[:, :1], z[:, 1:]
    return torch.cat([x, y, x * x, x * y, y * y, x ** 3, x * x * y, x * y * y, y ** 3], 1)


class Emulator:
    """A trained emulator, called like :class:`galcube_lib.pdr.grids.GridInterpolator`.

    Parameters
    ----------
    network : EmulatorNetwork
        The trained network.
    card : dict
        Its model card: ``lines``, ``model_set``, ``bounds``, training and figures.
    """

    def __init__(self, network: EmulatorNetwork, card: dict):
        self.network = network.float().eval()
        self.card = card
        self.lines = tuple(card["lines"])
        self.bounds = np.asarray(card["bounds"], dtype=float)

    def __call__(self, log_parameters, batch: int = 65536) -> np.ndarray:
        """Log10 intensities ``(n, n_lines)`` at ``log_parameters`` ``(n, 2)``, in batches.

        Parameters
        ----------
        log_parameters : array_like
            ``(n, 2)``: log n [cm^-3] and log G0 [Habing].
        batch : int
            Points per network call.

        Returns
        -------
        numpy.ndarray
            float32 log10 intensities in erg s^-1 cm^-2 sr^-1.
        """
        x = torch.as_tensor(np.asarray(log_parameters, dtype=np.float32).reshape(-1, 2))
        with torch.inference_mode():
            return torch.cat([self.network(part) for part in x.split(batch)]).numpy()

    def select(self, lines) -> "LineSubset":
        """The same emulator giving only some lines.

        Parameters
        ----------
        lines : sequence of str
            The lines, in the order wanted.

        Returns
        -------
        LineSubset
            A forward model of those lines (an unknown line is a ValueError naming the known).
        """
        return LineSubset(self, lines)


class LineSubset:
    """Some of a forward model's lines (an emulator's, or an interpolator's), in a chosen order.

    Parameters
    ----------
    forward : callable
        A forward model with a ``lines`` attribute.
    lines : sequence of str
        The lines to give.
    """

    def __init__(self, forward, lines):
        known = tuple(forward.lines)
        unknown = [line for line in lines if line not in known]
        if unknown:
            raise ValueError(f"lines {unknown} are not in this model set; it has {', '.join(known)}")
        self.forward, self.lines = forward, tuple(lines)
        self.bounds = getattr(forward, "bounds", None)
        self._index = [known.index(line) for line in self.lines]

    def __call__(self, log_parameters) -> np.ndarray:
        """Log10 intensities ``(n, len(lines))`` at ``log_parameters`` ``(n, 2)``."""
        return self.forward(log_parameters)[:, self._index]


def train_emulator(grid: ModelGrid, *, width: int = 192, depth: int = 3, adam_steps: int = 3000,
                   lbfgs_steps: int = 5000, seed: int = 0, progress: bool = True) -> Emulator:
    """Fit an emulator to every node of ``grid``.

    Parameters
    ----------
    grid : ModelGrid
        The nodes to fit (for a held-out test, the coarse grid of
        :func:`galcube_lib.pdr.grids.every_other_node`).
    width, depth : int
        The MLP's hidden units (8-1024) and hidden layers (1-8).
    adam_steps, lbfgs_steps : int
        Full-batch Adam steps (cosine learning rate from 3e-3) and L-BFGS iterations.
    seed : int
        The initial weights' seed.
    progress : bool
        Show a progress bar over the Adam steps.

    Returns
    -------
    Emulator
        The trained emulator; its card records the training and the fit to the nodes.
    """
    from tqdm.auto import tqdm

    width = checks.integer("width", width, 8, 1024)
    depth = checks.integer("depth", depth, 1, 8)
    adam_steps = checks.integer("adam_steps", adam_steps, 0)
    lbfgs_steps = checks.integer("lbfgs_steps", lbfgs_steps, 0)
    start = time.perf_counter()
    torch.manual_seed(checks.integer("seed", seed, 0))
    x = torch.as_tensor(grid.nodes(), dtype=torch.float64)
    y = torch.as_tensor(grid.log_intensity.reshape(-1, len(grid.lines)), dtype=torch.float64)
    network = EmulatorNetwork(len(grid.lines), width, depth).double()
    bounds = torch.as_tensor(grid.bounds, dtype=torch.float64)
    network.x_centre.copy_(bounds.mean(1))
    network.x_half.copy_((bounds[:, 1] - bounds[:, 0]) / 2)
    network.y_mean.copy_(y.mean(0))
    network.y_std.copy_(y.std(0).clamp_min(1e-6))
    target = (y - network.y_mean) / network.y_std
    z = (x - network.x_centre) / network.x_half
    terms = torch.cat([_monomials(z), torch.ones(len(z), 1, dtype=z.dtype)], 1)
    with torch.no_grad():                      # the polynomial starts as the least-squares cubic
        coefficients = torch.linalg.lstsq(terms, target).solution
        network.polynomial.weight.copy_(coefficients[:-1].T)
        network.polynomial.bias.copy_(coefficients[-1])
        network.residual.copy_((terms @ coefficients - target).pow(2).mean(0).sqrt().clamp_min(1e-6))
        network.body[-1].weight.mul_(0.1)      # and the MLP as a small correction to it

    def loss():
        return ((network.standardised(z) - target) ** 2).mean()

    adam = torch.optim.Adam(network.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(adam, max(adam_steps, 1))
    for _ in tqdm(range(adam_steps), disable=not progress, desc="emulator (Adam)"):
        adam.zero_grad()
        value = loss()
        value.backward()
        adam.step()
        schedule.step()
    if lbfgs_steps:
        lbfgs = torch.optim.LBFGS(network.parameters(), lr=1, max_iter=lbfgs_steps, history_size=50,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

        def closure():
            lbfgs.zero_grad()
            value = loss()
            value.backward()
            return value

        lbfgs.step(closure)
    with torch.no_grad():
        rms = float(((network(x) - y) ** 2).mean().sqrt())
    card = {"model_set": grid.name, "lines": list(grid.lines), "bounds": grid.bounds.tolist(),
            "network": {"n_lines": len(grid.lines), "width": width, "depth": depth},
            "training": {"nodes": len(x), "adam_steps": adam_steps, "lbfgs_steps": lbfgs_steps, "seed": seed,
                         "rms_dex_on_nodes": rms, "wall_time_s": round(time.perf_counter() - start, 1)}}
    return Emulator(network, card)


def save_emulator(emulator: Emulator, name: str, figures: dict | None = None):
    """Write an emulator's float32 weights and its card, atomically.

    Parameters
    ----------
    emulator : Emulator
        The trained emulator.
    name : str
        A model-set name (saved as ``data/models/pdr/<name>.pt``, apart from the denoisers'
        weights) or a ``.pt`` path.
    figures : dict, optional
        Measured figures to add to the card.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    card = {**emulator.card, "class": f"{__name__}.EmulatorNetwork", **({"figures": figures} if figures else {})}
    return weights.save(emulator.network, _path(name), card, precision="float32")


def load_emulator(name: str = "wk2020") -> Emulator:
    """A shipped emulator (``data/models/pdr/<name>.pt``) or one saved at a ``.pt`` path.

    Parameters
    ----------
    name : str
        "wk2020" (shipped) or a path.

    Returns
    -------
    Emulator
        The emulator, in float32; an unknown name is a ValueError naming the shipped ones.
    """
    path = _path(name)
    if not path.is_file():
        shipped = sorted(p.stem for p in (weights.models_dir() / "pdr").glob("*.pt"))
        raise ValueError(f"no PDR emulator {name!r}: give a .pt path or a shipped one ({', '.join(shipped) or 'none'}), "
                         f"or train one (benchmarks/bench_pdr_emulator.py --ship)")
    network, card = weights.load_network(EmulatorNetwork, path)
    return Emulator(network, card)


def _path(name) -> Path:
    path = Path(name)
    return path if path.suffix == ".pt" else weights.models_dir() / "pdr" / f"{name}.pt"
