"""Datasets of simulated cubes: generation on a dask cluster, the zarr store, torch datasets."""
