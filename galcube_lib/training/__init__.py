"""Training the deep denoisers: one loop, used by every network."""
