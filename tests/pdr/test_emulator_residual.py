"""The emulator's MLP is scaled per line by that line's residual from the least-squares cubic: a
line the cubic fits exactly stays exact, however rough the lines it shares the network with.
A synthetic grid, so no pdrtpy is needed."""
import numpy as np
import pytest
import torch

from galcube_lib.pdr.emulator import EmulatorNetwork, train_emulator
from galcube_lib.pdr.grids import ModelGrid, every_other_node


def test_a_line_the_cubic_fits_stays_exact_beside_a_rough_one():
    log_n, log_g0 = np.linspace(1, 7, 25), np.linspace(-0.5, 6.5, 29)
    x, y = np.meshgrid(log_n, log_g0, indexing="ij")
    rough = np.sin(1.3 * x) * np.cos(0.9 * y) + 0.2 * x
    cubic = 0.8 * x - 0.3 * y + 0.02 * x * y - 1e-3 * y ** 3
    grid = ModelGrid("synthetic", (log_n, log_g0), ("rough", "cubic"), np.stack([rough, cubic], -1))
    coarse, points, values = every_other_node(grid)
    emulator = train_emulator(coarse, width=32, depth=2, adam_steps=200, lbfgs_steps=50, progress=False)
    error = np.abs(emulator(points) - values)
    assert np.median(error[:, 0]) > 1e-3                     # the rough line is not fitted exactly
    # the cubic line, known analytically, within 1e-4 dex at every held-out node (float32 weights;
    # an MLP not scaled by the residual puts 0.01 dex of its rough neighbour into it)
    assert error[:, 1].max() < 1e-4, error[:, 1].max()


def test_an_emulator_saved_before_the_residual_scaling_loads_as_it_was_trained():
    torch.manual_seed(0)
    old = EmulatorNetwork(2, width=8, depth=1).double()   # trained with no scale: residual 1
    state = {k: v for k, v in old.state_dict().items() if k != "residual"}
    network = EmulatorNetwork(2, width=8, depth=1).double()
    network.residual.fill_(0.25)
    network.load_state_dict(state)
    z = torch.rand(4, 2, dtype=torch.float64) * 2 - 1
    assert torch.equal(network.residual, torch.ones(2, dtype=torch.float64))
    assert torch.equal(network.standardised(z), old.standardised(z))
    with pytest.raises(RuntimeError, match="body"):        # other keys are still checked
        network.load_state_dict({k: v for k, v in state.items() if not k.startswith("body.0")})
