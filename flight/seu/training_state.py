"""The state of a training job that the scrubber protects: parameters and optimizer state, by name.

Names say the class of each tensor, so a detection reads as what it hit: ``param.blocks.0.attn.weight``
or ``optim.blocks.0.attn.weight.exp_avg_sq``. Tied weights are one tensor and are listed once.
"""

from __future__ import annotations

import torch

PARAM = "param."
OPTIM = "optim."


def training_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    names: dict[int, str] = {}
    for name, parameter in model.named_parameters():  # named_parameters already skips a tied duplicate
        tensors[PARAM + name] = parameter.data
        names[id(parameter)] = name
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIM}{names[id(parameter)]}.{key}"] = value
    return tensors


def tensor_class(name: str) -> str:
    """``param`` or ``optim``: what an upset in this tensor hit."""
    return name.split(".", 1)[0]
