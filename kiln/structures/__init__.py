"""Data elements: the containers samples, predictions and annotations travel in (MMEngine's
``mmengine.structures``)."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "base_data_element": ["BaseDataElement"],
    "instance_data": ["InstanceData"],
    "label_data": ["LabelData"],
    "pixel_data": ["PixelData"],
})
