"""Turn a sharded (DCP) checkpoint directory into ONE file with the full model state dict.

For inference, fine-tuning elsewhere, or publishing: the output is a kiln checkpoint
(``{'meta': ..., 'state_dict': ...}`` via ``torch.save``) or a ``.safetensors`` file (weights,
``meta`` as JSON metadata), so ``load_from`` and ``init_cfg=dict(type='Pretrained', ...)`` read
it like any other checkpoint. The file is written atomically. Consolidation needs the whole
model in this process's memory; it runs without a process group (one process, any machine).

Example:
    >>> from kiln.checkpoint.consolidate import consolidate
    >>> consolidate('work_dirs/run/iter_1000', 'model.safetensors')  # doctest: +SKIP
    '/abs/model.safetensors'

Command line: ``python -m kiln.checkpoint consolidate DCP_DIR OUT.pth|OUT.safetensors``.
"""

from __future__ import annotations

import os

from kiln.checkpoint.dcp import is_dcp_checkpoint, read_weights_checkpoint
from kiln.checkpoint.saving import save_checkpoint
from kiln.errors import CheckpointError

__all__ = ["consolidate"]

_FORMATS = {".pth": "pth", ".pt": "pth", ".safetensors": "safetensors"}


def consolidate(src_dir: str, dst: str) -> str:
    """Write the full model state dict of the DCP checkpoint ``src_dir`` to the file ``dst``.

    Args:
        src_dir: A DCP checkpoint directory (e.g. ``work_dir/iter_10``).
        dst: The output file; ``.safetensors`` writes safetensors, ``.pth``/``.pt`` ``torch.save``.

    Returns:
        The absolute path written.

    Raises:
        CheckpointError: ``src_dir`` is not a DCP checkpoint, or ``dst`` has another extension.
    """
    ext = os.path.splitext(dst)[1].lower()
    if ext not in _FORMATS:
        raise CheckpointError(f"consolidate: the output {dst!r} must end in .pth, .pt or .safetensors")
    if not is_dcp_checkpoint(src_dir):
        raise CheckpointError(f"consolidate: {src_dir} is not a DCP checkpoint directory (no .metadata in it)")
    checkpoint = read_weights_checkpoint(src_dir)
    checkpoint["meta"]["consolidated_from"] = os.path.abspath(src_dir)
    return save_checkpoint(checkpoint, dst, save_format=_FORMATS[ext])
