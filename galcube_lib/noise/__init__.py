"""Noise: realisations (``add_noise``), and estimates of its level, correlations and maps."""
