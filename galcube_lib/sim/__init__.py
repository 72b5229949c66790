"""The simulator: galaxy components, profiles, rotation, observation, priors, rendering and ``simulate``."""
