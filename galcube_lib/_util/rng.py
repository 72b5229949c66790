"""Random generators from ``rng`` arguments (int, None, SeedSequence or Generator; SPEC 7).

Every generator comes with a JSON-able record from which the same stream can be re-created,
so a noisy cube can always be rebuilt from its file.
"""
from __future__ import annotations

import numpy as np


def generator(rng) -> tuple[np.random.Generator, dict]:
    """Return ``(Generator, record)`` for ``rng``; never touches numpy's global state.

    ``rng=None`` draws fresh entropy from the OS and records it, so even an unseeded call is
    reproducible from its record. Anything but the four forms is a TypeError naming ``rng``.
    """
    if isinstance(rng, np.random.Generator):
        return rng, {"bit_generator": type(rng.bit_generator).__name__,
                     "state": rng.bit_generator.state}
    seq = _seed_sequence(rng, "an int, None, a numpy SeedSequence or Generator")
    entropy = list(seq.entropy) if isinstance(seq.entropy, (list, tuple)) else int(seq.entropy)
    return np.random.default_rng(seq), {"entropy": entropy, "spawn_key": list(seq.spawn_key)}


def seed_sequence(rng, *, draw_from_generator: bool = False) -> np.random.SeedSequence:
    """The SeedSequence of ``rng`` (None: fresh entropy, an int >= 0 or a SeedSequence), for
    work split into items that are each seeded by a child of it, whatever the order or the
    worker. A Generator is refused (its stream cannot be split reproducibly), unless
    ``draw_from_generator``: then the root's entropy is drawn from it."""
    if isinstance(rng, np.random.Generator):
        if draw_from_generator:
            return np.random.SeedSequence(int(rng.integers(2 ** 63)))
        raise TypeError("rng must be an int >= 0, None or a numpy SeedSequence, got a Generator: "
                        "a Generator cannot be split reproducibly per item; give its seed")
    forms = "an int, None, a numpy SeedSequence or Generator" if draw_from_generator else \
        "an int >= 0, None or a numpy SeedSequence"
    return _seed_sequence(rng, forms)


def _seed_sequence(rng, forms: str) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if rng is not None and (isinstance(rng, bool) or not isinstance(rng, (int, np.integer))):
        raise TypeError(f"rng must be {forms}, got {rng!r:.60} ({type(rng).__name__})")  # True is no seed
    if rng is not None and rng < 0:
        raise ValueError(f"rng={rng!r} is outside the valid range [0, inf)")
    return np.random.SeedSequence(rng)


def from_record(record: dict) -> np.random.Generator:
    """Re-create the generator described by a record from :func:`generator`."""
    if "state" in record:
        bitgen = getattr(np.random, record["bit_generator"])()
        bitgen.state = record["state"]
        return np.random.Generator(bitgen)
    return np.random.default_rng(np.random.SeedSequence(record["entropy"], spawn_key=tuple(record["spawn_key"])))
