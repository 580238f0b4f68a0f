"""Images through the backends: PNG files (LocalVisBackend), TensorBoard image events; image layouts."""

import numpy as np
import pytest
import torch
from PIL import Image

from kiln.visualization.vis_backend import LocalVisBackend, TensorboardVisBackend, to_hwc_uint8


def _pattern() -> np.ndarray:
    image = np.zeros((6, 8, 3), dtype=np.uint8)
    image[:, :4, 0] = 255  # left half red
    image[3:, :, 2] = 128  # bottom half some blue
    return image


def test_to_hwc_uint8_layouts():
    image = _pattern()
    chw_float = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
    assert np.array_equal(to_hwc_uint8(chw_float), image)  # CHW float in [0, 1]
    assert np.array_equal(to_hwc_uint8(image.astype(np.float32)), image)  # HWC float in 0..255
    gray = to_hwc_uint8(np.full((4, 5), 0.5))
    assert gray.shape == (4, 5, 1) and gray.dtype == np.uint8 and int(gray[0, 0, 0]) == 128
    with pytest.raises(ValueError, match="channels"):
        to_hwc_uint8(np.zeros((5, 6, 7)))
    with pytest.raises(ValueError, match="image"):
        to_hwc_uint8(np.zeros((2, 3, 4, 5)))


def test_local_backend_saves_png_per_name_and_step(tmp_path):
    backend = LocalVisBackend(save_dir=tmp_path)
    image = _pattern()
    backend.add_image("sample", image, step=3)
    backend.add_image("sample", torch.from_numpy(image).permute(2, 0, 1), step=4)
    for step in (3, 4):
        path = tmp_path / "vis_image" / f"sample_{step}.png"
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), image)


def test_tensorboard_backend_writes_image_event(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    backend = TensorboardVisBackend(save_dir=tmp_path)
    backend.add_image("sample", _pattern(), step=7)
    backend.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    acc.Reload()
    events = acc.Images("sample")
    assert [e.step for e in events] == [7] and (events[0].width, events[0].height) == (8, 6)
