"""Property inference beyond moment 0: maps of Sigma_SFR from line cubes (issue 16).

pairs (simulated cubes with their property maps, split by galaxy), features (per-spaxel
features of a cube), models (the moment-0 power law and a sparse variational Gaussian process),
scores (scatter in dex, paired bootstrap, coverage, permutation importance).
"""
