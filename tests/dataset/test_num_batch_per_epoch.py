"""``num_batch_per_epoch`` in a dataloader config: N batches per epoch, as MMEngine 0.10.7 does it.

(MMEngine slices the dataset to its first ``N * batch_size * world_size`` samples; the sampler
still shuffles inside them. It was silently ignored before: 6 iterations per epoch instead of 2.)
"""

import pytest
import torch

from kiln.dataset.dataloader import SlicedDataset, build_dataloader
from kiln.errors import ConfigError
from kiln.hooks import Hook


class Record(Hook):
    def __init__(self):
        self.iters = []  # (epoch, batch_idx, loss)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.iters.append((runner.epoch, batch_idx, float(outputs["loss"])))


def _loader_cfg(dataset, n=2):
    return dict(dataset=dataset, batch_size=4, num_batch_per_epoch=n,
                sampler=dict(type="DefaultSampler", shuffle=True), collate_fn=dict(type="default_collate"))


def test_two_batches_per_epoch_from_the_first_samples(make_runner, counting_dataset_cls):
    dataset, record = counting_dataset_cls(24), Record()
    runner = make_runner(train_dataloader=_loader_cfg(dataset), train_cfg=dict(by_epoch=True, max_epochs=3),
                         custom_hooks=[record], val_cfg=None, val_dataloader=None, val_evaluator=None)
    runner.train()
    assert [(e, b) for e, b, _ in record.iters] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert runner.iter == 6 and runner.max_iters == 6 and len(runner.train_dataloader) == 2
    assert set(dataset.loaded) == set(range(8))  # only the first 2 * 4 samples, shuffled each epoch
    assert dataset.loaded[:8] != dataset.loaded[8:16]


def test_resume_continues_the_same_two_batch_epochs(make_runner, tmp_path, counting_dataset_cls):
    whole = Record()
    common = dict(val_cfg=None, val_dataloader=None, val_evaluator=None)
    torch.manual_seed(0)  # the same initial weights in both runs (the model is built before the Runner)
    make_runner(train_dataloader=_loader_cfg(counting_dataset_cls(24)), train_cfg=dict(by_epoch=True, max_epochs=3),
                custom_hooks=[whole], work_dir=str(tmp_path / "a"), **common).train()
    torch.manual_seed(0)
    make_runner(train_dataloader=_loader_cfg(counting_dataset_cls(24)), train_cfg=dict(by_epoch=True, max_epochs=1),
                default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
                work_dir=str(tmp_path / "b"), **common).train()
    rest = Record()
    make_runner(train_dataloader=_loader_cfg(counting_dataset_cls(24)), train_cfg=dict(by_epoch=True, max_epochs=3),
                custom_hooks=[rest], work_dir=str(tmp_path / "c"), load_from=str(tmp_path / "b" / "epoch_1.pth"),
                resume=True, **common).train()
    assert rest.iters == whole.iters[2:]  # bitwise losses, epochs 2 and 3, two batches each


def test_sliced_dataset_keeps_attributes_and_bounds(counting_dataset_cls):
    dataset = counting_dataset_cls(24)
    dataset.metainfo = {"classes": ("neg", "pos")}
    loader = build_dataloader(dict(dataset=dataset, batch_size=3, num_batch_per_epoch=2))
    sliced = loader.dataset
    assert isinstance(sliced, SlicedDataset) and len(sliced) == 6 and len(loader) == 2
    assert sliced.metainfo == {"classes": ("neg", "pos")}
    assert torch.equal(sliced[-1][0], dataset.x[5])
    with pytest.raises(IndexError):
        sliced[6]
    # more batches asked for than the data has: all of it
    assert len(build_dataloader(dict(dataset=counting_dataset_cls(5), batch_size=2, num_batch_per_epoch=9))) == 3


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_value_is_a_config_error(value, counting_dataset_cls):
    with pytest.raises(ConfigError, match=r"train_dataloader\.num_batch_per_epoch: expected a positive int"):
        build_dataloader(dict(dataset=counting_dataset_cls(4), num_batch_per_epoch=value), path="train_dataloader")
