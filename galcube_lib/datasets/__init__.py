"""Datasets of simulated cubes: generation on a dask cluster (``generate``), the zarr store
(``store``), how cube ``i`` is drawn (``draw``) and torch datasets (``torch_data``, needs torch)."""
from galcube_lib.datasets.generate import generate_dataset
from galcube_lib.datasets.store import CubeStore, IncompleteCubeError, open_dataset

__all__ = ["generate_dataset", "open_dataset", "CubeStore", "IncompleteCubeError"]
