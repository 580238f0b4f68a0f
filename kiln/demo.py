"""``make demo``: train a small CNN on scikit-learn's 8x8 handwritten digits through the Runner.

The dataset ships inside scikit-learn (no download). The run validates after every epoch, writes
its log, scalars, curves and checkpoints under ``work_dirs/demo/``, and prints the final accuracy.

    python -m kiln.demo [--epochs 10] [--work-dir work_dirs/demo]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from kiln.evaluator import BaseMetric
from kiln.model import BaseModel

__all__ = ["DigitsCNN", "DigitsDataset", "Accuracy", "main"]


class DigitsDataset(Dataset):
    """The 1797 8x8 digit images as ``(1x8x8 float tensor in [0, 1], label)``; a seeded 80/20 split."""

    def __init__(self, train: bool, val_fraction: float = 0.2, seed: int = 0) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        n_val = int(len(labels) * val_fraction)
        keep = order[n_val:] if train else order[:n_val]
        self.images, self.labels = images[keep], labels[keep]
        self.metainfo = dict(classes=[str(i) for i in range(10)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


class DigitsCNN(BaseModel):
    """Two 3x3 conv layers, a max-pool and two linear layers (~140k parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, imgs: torch.Tensor, labels: torch.Tensor, mode: str = "tensor"):
        logits = self.head(self.features(imgs))
        if mode == "loss":
            return {"loss": F.cross_entropy(logits, labels)}
        if mode == "predict":
            return logits, labels
        return logits


class Accuracy(BaseMetric):
    """Top-1 accuracy in percent (the seed tutorial's metric)."""

    default_prefix = None

    def process(self, data_batch, data_samples) -> None:
        score, gt = data_samples
        self.results.append({"batch_size": len(gt), "correct": (score.argmax(dim=1) == gt).sum().cpu()})

    def compute_metrics(self, results) -> dict[str, float]:
        total_correct = sum(item["correct"] for item in results)
        total_size = sum(item["batch_size"] for item in results)
        return dict(accuracy=float(100 * total_correct / total_size))


def main(argv: list[str] | None = None) -> float:
    from kiln.runner import Runner

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work-dir", default="work_dirs/demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    runner = Runner(
        model=dict(type=DigitsCNN),  # built after the Runner seeds the RNGs: reproducible init
        work_dir=args.work_dir,
        train_dataloader=dict(dataset=DigitsDataset(train=True, seed=args.seed), batch_size=32,
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=2e-3)),
        param_scheduler=dict(type="CosineAnnealingLR", T_max=args.epochs, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=args.epochs, val_interval=1),
        val_dataloader=dict(dataset=DigitsDataset(train=False, seed=args.seed), batch_size=128,
                            collate_fn=dict(type="default_collate")),
        val_cfg=dict(),
        val_evaluator=dict(type=Accuracy),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=args.epochs, max_keep_ckpts=1)),
        randomness=dict(seed=args.seed),
        experiment_name="digits_demo",
    )
    runner.train()
    accuracy = float(runner.message_hub.get_scalar("val/accuracy").current())
    seconds = time.perf_counter() - start
    print(f"\nkiln demo: final validation accuracy {accuracy:.2f}% on {len(runner.val_dataloader.dataset)} "
          f"held-out digits after {args.epochs} epochs ({seconds:.1f} s, {torch.get_num_threads()} threads). "
          f"Logs: {runner.log_dir}")
    return accuracy


if __name__ == "__main__":
    main()
