"""Validation loss next to the metrics (MMEngine 0.10.7's mechanism), early stopping and save_best on it.

A model reports its validation loss by ending ``val_step``'s output list with a data element whose
only field is ``loss``. The ValLoop takes it off (the evaluator never sees it), averages each loss
over the validation iterations and adds ``loss`` and ``val_loss`` to the metrics: they are logged,
written to ``vis_data/scalars.json``, and usable by ``EarlyStoppingHook``/``CheckpointHook``.

    python examples/val_loss.py [work_dir]
"""

import sys

import torch
import torch.nn.functional as F
from torch import nn

from kiln.evaluator import BaseMetric
from kiln.model import BaseModel
from kiln.runner import Runner
from kiln.structures import BaseDataElement


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x, y, mode="tensor"):
        logits = self.fc(x)
        return dict(loss=F.cross_entropy(logits, y)) if mode == "loss" else logits

    def val_step(self, data):
        x, y = self.data_preprocessor(data, False)
        logits = self(x, y)
        loss = BaseDataElement(loss=dict(loss=F.cross_entropy(logits, y)))
        return [logits, y, loss]  # predictions for the evaluator first, the loss element LAST


class Accuracy(BaseMetric):
    def process(self, data_batch, data_samples):
        logits, y = data_samples
        self.results.append(((logits.argmax(1) == y).sum().item(), len(y)))

    def compute_metrics(self, results):
        return dict(accuracy=100 * sum(c for c, _ in results) / sum(n for _, n in results))


def dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return list(zip(x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()))


def main(work_dir="work_dirs/val_loss"):
    loader = dict(batch_size=16, sampler=dict(type="DefaultSampler", shuffle=True),
                  collate_fn=dict(type="default_collate"))
    runner = Runner(
        model=Net(), work_dir=work_dir,
        train_dataloader=dict(dataset=dataset(128, 0), **loader),
        val_dataloader=dict(dataset=dataset(32, 1), **loader),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.5)),
        train_cfg=dict(by_epoch=True, max_epochs=30), val_cfg=dict(), val_evaluator=dict(type=Accuracy),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=100, save_best="val_loss")),
        custom_hooks=[dict(type="EarlyStoppingHook", monitor="val_loss", patience=2, min_delta=0.005)],
        randomness=dict(seed=0))
    runner.train()  # log: "Epoch(val) [k][2/2]  accuracy: ...  loss: ...  val_loss: ..."
    return runner


if __name__ == "__main__":
    main(*sys.argv[1:])
