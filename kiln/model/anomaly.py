"""Find parameters that did not take part in computing the loss.

DDP fails with "Expected to have finished reduction in the prior iteration" when a parameter gets
no gradient; this names the culprits, so that the user can fix the model (or set
``find_unused_parameters=True``) knowingly.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from kiln.logging import print_log

__all__ = ["detect_anomalous_params"]


def _graph_leaves(loss: torch.Tensor) -> set[int]:
    """``id``s of the leaf tensors that ``loss``'s autograd graph accumulates gradients into."""
    seen_nodes: set[int] = set()
    leaves: set[int] = set()
    if loss.grad_fn is None:
        if loss.requires_grad:  # the loss is itself a leaf
            leaves.add(id(loss))
        return leaves
    stack = [loss.grad_fn]
    while stack:  # iterative DFS: deep graphs would overflow Python's recursion limit
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        variable = getattr(node, "variable", None)  # AccumulateGrad nodes hold their leaf
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def detect_anomalous_params(loss: torch.Tensor, model: nn.Module) -> list[str]:
    """Log (ERROR) and return the names of trainable parameters not in ``loss``'s graph.

    Only the graph's structure is walked (no tensors are read), so it works before or after
    ``backward`` and costs no device sync.
    """
    leaves = _graph_leaves(loss)
    missing = []
    for name, param in model.named_parameters():
        if param.requires_grad and id(param) not in leaves:
            missing.append(name)
            print_log(f"{name} with shape {param.size()} is not in the computational graph \n",
                      logger="current", level=logging.ERROR)
    return missing
