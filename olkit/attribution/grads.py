"""Per-example gradients of the LoRA parameters with :mod:`torch.func`, and random projections.

:func:`per_example_grads` evaluates ``grad(loss)`` for every row at once with
``vmap(grad(functional_call(...)))``: the base model's weights are shared, only the (small) LoRA
tensors are differentiated.  Gradients come back grouped by LoRA module (``lora_A`` and ``lora_B``
of one projection form one block), which is the granularity DataInf needs.  Models where
``vmap`` cannot trace the forward (quantized kernels, for instance) are served by
:func:`hooked_grads` instead: one batched backward, per-example gradients of each LoRA ``Linear``
from its captured inputs and output gradients (outer products summed over tokens) -- the same
values as a loop of :func:`torch.autograd.grad` calls, one per row, at a fraction of the cost.

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

from olkit.train.data import Batch
from olkit.train.qlora import load_lora_state, token_losses


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
                      use_vmap: bool = True, method: str = "auto") -> GradBlocks:
    """Gradients of each row's mean response-token loss w.r.t. the LoRA parameters.

    ``state`` (optional) loads a checkpoint's LoRA tensors first (TracIn).  Returns
    :class:`GradBlocks` grouped by LoRA module.  ``method``: ``"hooks"`` (one batched backward;
    per-example gradients of every LoRA ``Linear`` from its captured inputs and output gradients,
    see :func:`hooked_grads`; works on 4-bit bases), ``"vmap"`` (``torch.func``), ``"loop"`` (one
    backward per row, the reference) or ``"auto"`` (hooks when every trainable parameter is a
    LoRA ``Linear`` weight, else vmap with the loop as fallback).
    """
    if state is not None:
        load_lora_state(model, state)
    model.eval()
    trainable, frozen = _split_params(model)
    names = list(trainable)
    if method not in ("auto", "hooks", "vmap", "loop"):
        raise ValueError(f"method must be auto, hooks, vmap or loop, not {method!r}")
    linears = _linear_params(model, names)
    if method == "hooks" or (method == "auto" and linears is not None):
        if linears is None:
            raise ValueError("hooks need every trainable parameter to be the weight of an nn.Linear")
        if len(batch) == 0:
            return group_blocks({n: torch.zeros(0, trainable[n].numel()) for n in names})
        # rows sorted by length and each chunk cut to its longest row: less padding per backward
        lengths = batch.attention_mask.sum(1)
        order = torch.argsort(lengths, stable=True)
        parts = []
        for sl in _chunks(len(batch), chunk):
            idx = order[sl]
            width = max(1, int(lengths[idx].max()))
            b = batch.index(idx)
            parts.append(hooked_grads(model, Batch(b.input_ids[:, :width], b.attention_mask[:, :width],
                                                   b.labels[:, :width]), linears))
        inverse = torch.argsort(order)
        return group_blocks({n: torch.cat([p[n] for p in parts])[inverse] for n in names})
    if method == "loop":
        use_vmap = False

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


def _linear_params(model, names: list[str]) -> dict[str, torch.nn.Linear] | None:
    """``{param name: Linear}`` when every trainable parameter is the (bias-free) weight of a Linear."""
    mods = dict(model.named_modules())
    out = {}
    for n in names:
        owner, _, leaf = n.rpartition(".")
        mod = mods.get(owner)
        if leaf != "weight" or not isinstance(mod, torch.nn.Linear) or mod.bias is not None:
            return None
        out[n] = mod
    return out


def hooked_grads(model, b: Batch, linears: dict[str, torch.nn.Linear]) -> dict[str, torch.Tensor]:
    """Per-example weight gradients of ``linears`` from one backward pass over the whole batch.

    For ``y = x W^T`` the gradient of row ``r``'s loss is ``sum_t dL_r/dy[r, t] (x) x[r, t]``, and
    because rows never interact (right padding, causal attention; padding carries no label) the
    output gradient of the *summed* loss at row ``r`` is exactly ``dL_r/dy[r]``.  Forward hooks keep
    each LoRA ``Linear``'s input and register a tensor hook on its output; one ``backward`` of
    ``sum_r L_r`` then yields every row's gradient as an ``einsum`` of the two, instead of one
    backward per row.  Returns ``{name: (rows, out, in)}`` float32 tensors.
    """
    inputs: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}
    handles = []

    def fwd(name):
        def hook(module, args, output):
            inputs[name] = args[0].detach()
            output.register_hook(lambda g: grads.__setitem__(name, g.detach()))
        return hook

    for name, mod in linears.items():
        handles.append(mod.register_forward_hook(fwd(name)))
    try:
        with torch.enable_grad():
            logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
            token_losses(logits, b.labels).sum().backward(inputs=[m.weight for m in linears.values()])
    finally:
        for h in handles:
            h.remove()
        for m in linears.values():
            m.weight.grad = None
    out = {}
    for name in linears:
        x, g = inputs[name].float(), grads[name].float()
        x, g = x.reshape(len(b), -1, x.shape[-1]), g.reshape(len(b), -1, g.shape[-1])
        out[name] = torch.einsum("bto,bti->boi", g, x).reshape(len(b), -1)
    return out


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
