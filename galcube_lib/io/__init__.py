"""Cubes in and out: the Cube, FITS reading and writing, header normalisation, cropping, records."""
