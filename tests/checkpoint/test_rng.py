"""RNG snapshots: every generator continues exactly; the snapshot is weights_only-loadable."""

import random

import numpy as np
import torch

from kiln.checkpoint.rng import preserved_rng, rng_state, set_rng_state


def _draws():
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_restore_continues_every_generator(tmp_path):
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = rng_state()
    torch.save(state, tmp_path / "rng.pth")
    expected = _draws()
    set_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True))
    assert _draws() == expected


def test_preserved_rng_leaves_state_unchanged():
    state = rng_state()
    with preserved_rng():
        _draws()
    after = rng_state()
    assert torch.equal(after["torch"], state["torch"])
    assert torch.equal(after["numpy"][1], state["numpy"][1]) and after["numpy"][2:] == state["numpy"][2:]
    assert after["python"][2] == state["python"][2] and torch.equal(after["python"][1], state["python"][1])
