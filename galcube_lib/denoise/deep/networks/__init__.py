"""The networks of the deep denoisers (torch modules)."""
