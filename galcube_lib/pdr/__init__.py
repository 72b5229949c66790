"""Physical conditions from line maps with PDR models (issue 17).

grids (the PDR Toolbox's model grids, read from the installed pdrtpy: the ``[pdr]`` extra, and
their interpolation), emulator (a neural emulator of a grid), posterior (maps of log n and
log G0 with their intervals and flags, from line-intensity maps).
"""
