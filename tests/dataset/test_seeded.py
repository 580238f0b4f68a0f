"""SeededSamples: looks like the dataset it wraps, pickles as itself, and seeds each sample the same
under every worker start method (spawn and forkserver pickle the dataset into every worker)."""

import copy
import multiprocessing
import pickle
import random
import threading

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from kiln.dataset.dataloader import build_dataloader
from kiln.dataset.seeded import SeededSamples, sample_seed


class Augmented(Dataset):
    """Module-level (so spawn workers can unpickle it); every item draws from all three global RNGs,
    as random augmentations do, and says whether kiln's exit-with-parent watch runs in its worker."""

    metainfo = dict(classes=("a", "b"))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        watched = any(t.name == "kiln-exit-with-parent" for t in threading.enumerate())
        return (index, *_draws()), watched


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _seeded_draws(seed, epoch, index):
    value = sample_seed(seed, epoch, index)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    return _draws()


def test_looks_like_the_dataset_and_copies_as_itself():
    wrapper = SeededSamples(Augmented(), seed=3, sampler=None)
    assert isinstance(wrapper, Augmented) and isinstance(wrapper, SeededSamples)
    assert wrapper.metainfo == Augmented.metainfo
    for clone in (pickle.loads(pickle.dumps(wrapper)), copy.deepcopy(wrapper), copy.copy(wrapper)):
        assert type(clone) is SeededSamples and isinstance(clone, Augmented)
        assert clone.seed == 3 and type(clone.dataset) is Augmented


def _one_epoch(context):
    loader = build_dataloader(dict(dataset=Augmented(), batch_size=2, num_workers=2, num_batch_per_epoch=3,
                                   sampler=dict(type="DefaultSampler", shuffle=True),
                                   multiprocessing_context=context, collate_fn=dict(type="pseudo_collate")),
                              seed=7)
    loader.sampler.set_epoch(1)  # the epoch travels to the workers in the pickled sampler too
    samples, watched = [], set()
    for columns, flags in loader:  # pseudo_collate transposes: (indices, draws...), flags
        samples.extend(zip(*columns))
        watched.update(flags)
    return samples, watched


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_spawned_workers_load_the_samples_of_forked_ones(context):
    if not {"fork", context} <= set(multiprocessing.get_all_start_methods()):
        pytest.skip(f"needs the 'fork' and {context!r} start methods")
    forked, forked_watched = _one_epoch("fork")
    samples, watched = _one_epoch(context)
    assert len(samples) == 6 and samples == forked  # same indices, same per-sample random draws
    assert all(tuple(draws) == _seeded_draws(7, 1, index) for index, *draws in samples)  # per sample
    assert forked_watched == {True}
    # ExitWithParent starts in spawn workers; forkserver workers are the fork server's children
    assert watched == ({False} if context == "forkserver" else {True})
