"""NaiveVisualizationHook: every interval-th val/test batch's images reach the visualizer as PNGs."""

import numpy as np
import pytest
import torch
from PIL import Image

from kiln.errors import ConfigError
from kiln.hooks import NaiveVisualizationHook
from kiln.visualization import Visualizer


class _Runner:
    def __init__(self, visualizer):
        self.visualizer, self.iter = visualizer, 7


class _Sample:
    def __init__(self, img_path):
        self.img_path = img_path


def _images(n):
    return torch.stack([torch.full((3, 4, 5), 40 * (i + 1), dtype=torch.uint8) for i in range(n)])


def test_dict_batch_images_saved_under_their_file_names(tmp_path):
    vis = Visualizer(name="naive-h2", save_dir=str(tmp_path), vis_backends=[dict(type="LocalVisBackend")])
    hook, runner = NaiveVisualizationHook(interval=2), _Runner(vis)
    batch = dict(inputs=list(_images(2)), data_samples=[_Sample("/data/cat.jpg"), _Sample("/data/dog.png")])
    hook.after_test_iter(runner, 0, batch, outputs=["p0", "p1"])  # not due (interval 2)
    hook.after_test_iter(runner, 1, batch, outputs=["p0", "p1"])
    folder = tmp_path / "vis_data" / "vis_image"
    assert sorted(p.name for p in folder.iterdir()) == ["cat_7.png", "dog_7.png"]
    pixels = np.asarray(Image.open(folder / "dog_7.png"))
    assert pixels.shape == (4, 5, 3) and (pixels == 80).all()


def test_tensor_batch_and_samples_reach_add_datasample(tmp_path):
    calls = []

    class Recording(Visualizer):
        def add_datasample(self, name, image, data_sample=None, pred_sample=None, draw_gt=True,
                           draw_pred=True, step=0, **kwargs):
            calls.append((name, tuple(image.shape), data_sample, pred_sample, draw_gt, draw_pred, step))

    hook = NaiveVisualizationHook(draw_gt=False)
    hook.after_val_iter(_Runner(Recording(name="naive-rec-h2")), 3, (_images(2), torch.tensor([0, 1])),
                        outputs=["a", "b"])
    assert calls == [("val_3_0", (3, 4, 5), None, "a", False, True, 7),
                     ("val_3_1", (3, 4, 5), None, "b", False, True, 7)]


def test_unrecognised_batch_warns_once(tmp_path, capsys):
    hook, runner = NaiveVisualizationHook(), _Runner(Visualizer(name="naive-none-h2"))
    hook.after_test_iter(runner, 0, {"features": torch.zeros(2, 8)})
    hook.after_test_iter(runner, 1, {"features": torch.zeros(2, 8)})
    assert capsys.readouterr().out.count("nothing is drawn") == 1
    with pytest.raises(ConfigError, match="interval"):
        NaiveVisualizationHook(interval=0)
