"""Deep denoisers: networks, their shipped weights, the methods and their uncertainty."""
