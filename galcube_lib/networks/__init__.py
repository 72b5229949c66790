"""PyTorch networks of the deep denoisers (imported only by the methods that use them)."""
