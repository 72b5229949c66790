"""Random generators from ``rng`` arguments (int, None, SeedSequence or Generator; SPEC 7).

Every generator comes with a JSON-able record from which the same stream can be re-created,
so a noisy cube can always be rebuilt from its file.
"""
from __future__ import annotations

import numpy as np


def generator(rng) -> tuple[np.random.Generator, dict]:
    """Return ``(Generator, record)`` for ``rng``; never touches numpy's global state.

    ``rng=None`` draws fresh entropy from the OS and records it, so even an unseeded call is
    reproducible from its record.
    """
    if isinstance(rng, np.random.Generator):
        return rng, {"bit_generator": type(rng.bit_generator).__name__,
                     "state": rng.bit_generator.state}
    integral = isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)   # True is no seed
    if rng is None or integral or isinstance(rng, np.random.SeedSequence):
        if integral and rng < 0:
            raise ValueError(f"rng={rng!r} is outside the valid range [0, inf)")
        seq = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
        return np.random.default_rng(seq), {"entropy": int(seq.entropy) if not isinstance(seq.entropy, (list, tuple)) else list(seq.entropy),
                                            "spawn_key": list(seq.spawn_key)}
    raise TypeError(f"rng must be an int, None, a numpy SeedSequence or Generator, got {rng!r:.60} "
                    f"({type(rng).__name__})")


def from_record(record: dict) -> np.random.Generator:
    """Re-create the generator described by a record from :func:`generator`."""
    if "state" in record:
        bitgen = getattr(np.random, record["bit_generator"])()
        bitgen.state = record["state"]
        return np.random.Generator(bitgen)
    return np.random.default_rng(np.random.SeedSequence(record["entropy"], spawn_key=tuple(record["spawn_key"])))
