"""Per-example gradients of the LoRA parameters with :mod:`torch.func`, and random projections.

:func:`per_example_grads` evaluates ``grad(loss)`` for every row at once with
``vmap(grad(functional_call(...)))``: the base model's weights are shared, only the (small) LoRA
tensors are differentiated.  Gradients come back grouped by LoRA module (``lora_A`` and ``lora_B``
of one projection form one block), which is the granularity DataInf needs.  Models where
``vmap`` cannot trace the forward (quantized kernels, for instance) fall back to a loop of
:func:`torch.autograd.grad` calls with identical results.

:class:`Projector` implements the TRAK-style random projection block by block: the Rademacher
matrix of each block is regenerated from a seed, so memory is ``O(block size x k)`` and never
grows with the total number of parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from olkit.attribution.lm import Batch, load_lora_state, token_losses


@dataclass
class GradBlocks:
    """Per-example gradients: ``blocks[name]`` is an ``(n_rows, d_block)`` float32 tensor."""

    blocks: dict[str, torch.Tensor]

    @property
    def n(self) -> int:
        return int(next(iter(self.blocks.values())).shape[0]) if self.blocks else 0

    @property
    def dim(self) -> int:
        return int(sum(b.shape[1] for b in self.blocks.values()))

    def flat(self) -> torch.Tensor:
        """All blocks side by side: ``(n_rows, total_dim)``."""
        return torch.cat(list(self.blocks.values()), dim=1)


def lora_module_name(param_name: str) -> str:
    """``...q_proj.lora_A.default.weight`` -> ``...q_proj`` (the block a parameter belongs to)."""
    for tag in (".lora_A.", ".lora_B.", ".lora_embedding_A.", ".lora_embedding_B."):
        if tag in param_name:
            return param_name.split(tag)[0]
    return param_name


def _split_params(model) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    frozen.update({n: b for n, b in model.named_buffers()})
    if not trainable:
        raise ValueError("the model has no trainable (LoRA) parameters")
    return trainable, frozen


def _chunks(n: int, size: int) -> Iterator[slice]:
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def per_example_grads(model, batch: Batch, *, chunk: int = 16, state: dict[str, torch.Tensor] | None = None,
                      use_vmap: bool = True) -> GradBlocks:
    """Gradients of each row's mean response-token loss w.r.t. the LoRA parameters.

    ``state`` (optional) loads a checkpoint's LoRA tensors first (TracIn).  Returns
    :class:`GradBlocks` grouped by LoRA module.
    """
    if state is not None:
        load_lora_state(model, state)
    model.eval()
    trainable, frozen = _split_params(model)
    names = list(trainable)

    def loss_one(params, ids, mask, labels):
        # Rows are right-padded and padding carries no label, so under causal attention the mask
        # changes nothing that is scored; leaving it out keeps the model's mask construction free
        # of data-dependent branches that vmap cannot trace.
        del mask
        out = functional_call(model, (params, frozen), args=(), kwargs={"input_ids": ids[None]})
        return token_losses(out.logits, labels[None])[0]

    per_param: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    if len(batch) == 0:
        return group_blocks({n: torch.zeros(0, trainable[n].numel()) for n in names})
    vgrad = vmap(grad(loss_one), in_dims=(None, 0, 0, 0), randomness="same")
    for sl in _chunks(len(batch), chunk):
        b = batch.index(sl)
        grads = None
        if use_vmap:
            try:
                grads = vgrad(trainable, b.input_ids, b.attention_mask, b.labels)
            except Exception as err:  # noqa: BLE001 - tracing limits of a model's forward
                warnings.warn(f"vmap failed ({type(err).__name__}: {err}); using a per-example loop",
                              stacklevel=2)
                use_vmap = False
        if grads is None:
            grads = _loop_grads(model, b, names)
        for n in names:
            per_param[n].append(grads[n].detach().reshape(len(b), -1).float())
    return group_blocks({n: torch.cat(v) for n, v in per_param.items()})


def group_blocks(per_param: dict[str, torch.Tensor]) -> GradBlocks:
    """Group ``(n, ...)`` per-parameter tensors into per-LoRA-module blocks, in parameter order."""
    blocks: dict[str, list[torch.Tensor]] = {}
    for n, t in per_param.items():
        blocks.setdefault(lora_module_name(n), []).append(t.reshape(t.shape[0], -1).float())
    return GradBlocks({k: torch.cat(v, dim=1) for k, v in blocks.items()})


def precondition(grads: GradBlocks, precond: dict[str, torch.Tensor]) -> GradBlocks:
    """Multiply gradients elementwise by a per-parameter preconditioner (e.g. Adam's)."""
    p = group_blocks({n: v[None] for n, v in precond.items()})
    return GradBlocks({k: g * p.blocks[k] for k, g in grads.blocks.items()})


def _loop_grads(model, b: Batch, names: list[str]) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for r in range(len(b)):
        with torch.enable_grad():
            logits = model(input_ids=b.input_ids[r: r + 1], attention_mask=b.attention_mask[r: r + 1]).logits
            loss = token_losses(logits, b.labels[r: r + 1])[0]
            gs = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
        for n, g in zip(names, gs, strict=True):
            out[n].append(torch.zeros_like(params[n]) if g is None else g)
    return {n: torch.stack(v) for n, v in out.items()}


class Projector:
    """TRAK-style Rademacher projection ``g -> P^T g / sqrt(k)``, generated block by block.

    Example
    -------
    >>> g = GradBlocks({"a": torch.randn(5, 1000), "b": torch.randn(5, 300)})
    >>> Projector(k=64, seed=0).project(g).shape
    torch.Size([5, 64])
    """

    def __init__(self, k: int = 256, *, seed: int = 0, max_rows: int = 65536) -> None:
        self.k, self.seed, self.max_rows = int(k), int(seed), int(max_rows)

    def _matrix(self, block: int, start: int, rows: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + block * 7919 + start)
        signs = torch.randint(0, 2, (rows, self.k), generator=gen, dtype=torch.int8)
        return (signs.float() * 2 - 1) / np.sqrt(self.k)

    def project(self, grads: GradBlocks) -> torch.Tensor:
        """``(n_rows, k)`` projected features; only one slab of ``P`` is in memory at a time."""
        out = torch.zeros(grads.n, self.k)
        for b, name in enumerate(sorted(grads.blocks)):
            g = grads.blocks[name]
            for start in range(0, g.shape[1], self.max_rows):
                stop = min(g.shape[1], start + self.max_rows)
                out += g[:, start:stop] @ self._matrix(b, start, stop - start)
        return out
