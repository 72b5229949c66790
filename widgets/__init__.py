"""Jupyter widgets over galcube_lib (generator, viewer, denoise panels)."""
