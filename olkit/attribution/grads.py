"""Per-example gradients of the LoRA parameters with :mod:`torch.func`, and random projections.

:func:`per_example_grads` evaluates ``grad(loss)`` for every row at once with
``vmap(grad(functional_call(...)))``: the base model's weights are shared, only the (small) LoRA
tensors are differentiated.  Gradients come back grouped by LoRA module (``lora_A`` and ``lora_B``
of one projection form one block), which is the granularity DataInf needs.  LoRA models (4-bit
bases included, which ``vmap`` cannot trace) are served by :func:`hooked_grads`: rows in
length-sorted padded batches, one backward per batch, and each LoRA ``Linear``'s per-example
gradient computed inside the backward from its captured input and output gradient (outer
products summed over tokens) -- the same values as a loop of :func:`torch.autograd.grad` calls,
one per row.  Two things make it cheap on a 4-bit base: :func:`dequantized` turns every
bitsandbytes ``Linear4bit`` into a plain matmul with its weight dequantised *once* (the loop
dequantises every weight twice per row, forward and backward), and the loss projects only the
response positions through the (49k-word) output head instead of every position.

:class:`Projector` implements the TRAK-style random projection block by block: the Rademacher
matrix of each block is regenerated from a seed, so memory is ``O(block size x k)`` and never
grows with the total number of parameters.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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


#: Padded tokens per batched backward of the hooks path: bounds its activation memory (~1.2 MB a
#: token for SmolLM2-135M in fp32, so ~2.5 GB) whatever ``chunk`` asks for.
MAX_BATCH_TOKENS = 2048


def length_buckets(lengths: np.ndarray, max_rows: int, *, overhead: int = 16,
                   max_tokens: int | None = None) -> list[slice]:
    """Split rows sorted by ascending ``lengths`` into consecutive batches of at most ``max_rows``
    (and at most ``max_tokens`` padded tokens, unless one row alone is longer) that minimise the
    padded tokens (``rows x longest`` per batch) plus ``overhead`` tokens per batch (the fixed cost
    of one more forward + backward), by dynamic programming.

    Example
    -------
    >>> length_buckets(np.array([10, 10, 11, 40, 41]), 4)
    [slice(0, 3, None), slice(3, 5, None)]
    >>> length_buckets(np.array([10, 10, 11, 40, 41]), 4, max_tokens=60)
    [slice(0, 3, None), slice(3, 4, None), slice(4, 5, None)]
    """
    n = len(lengths)
    best = np.full(n + 1, np.inf)
    best[0], cut = 0.0, np.zeros(n + 1, dtype=int)
    for j in range(1, n + 1):
        i = np.arange(max(0, j - max_rows), j)
        padded = (j - i) * float(lengths[j - 1])
        cost = best[i] + padded + overhead
        if max_tokens is not None:
            cost[(padded > max_tokens) & (j - i > 1)] = np.inf
        k = int(np.argmin(cost))
        best[j], cut[j] = cost[k], i[k]
    out, j = [], n
    while j > 0:
        out.append(slice(int(cut[j]), j))
        j = int(cut[j])
    return out[::-1]


def per_example_grads(model, batch: Batch, *, chunk: int = 16, state: dict[str, torch.Tensor] | None = None,
                      use_vmap: bool = True, method: str = "auto") -> GradBlocks:
    """Gradients of each row's mean response-token loss w.r.t. the LoRA parameters.

    ``state`` (optional) loads a checkpoint's LoRA tensors first (TracIn).  Returns
    :class:`GradBlocks` grouped by LoRA module.  ``method``: ``"hooks"`` (rows in length-sorted
    batches of ``chunk``, one backward per batch, per-example gradients of every LoRA ``Linear``
    from its captured inputs and output gradients, see :func:`hooked_grads`; a 4-bit base is
    dequantised once per call, see :func:`dequantized`), ``"vmap"`` (``torch.func``), ``"loop"``
    (one forward + backward per row through the model as it is, the reference) or ``"auto"``
    (hooks when every trainable parameter is a LoRA ``Linear`` weight, else vmap with the loop as
    fallback).  Memory of the hooks path: one batch's activations plus ``(rows, LoRA params)``.

    Example
    -------
    >>> from olkit.attribution.fastlm import TaskLM
    >>> from olkit.attribution.task import make_task
    >>> from olkit.train.data import build_examples
    >>> task = make_task(n_contributors=2, items_per_contributor=3, n_eval=1, seed=0)
    >>> lm = TaskLM.fit(task.train, seed=0)
    >>> batch = build_examples(task.train, lm.tokenizer, max_length=lm.max_length).batch()
    >>> g = per_example_grads(lm.module(), batch, method="hooks")
    >>> ref = per_example_grads(lm.module(), batch, method="loop")
    >>> g.n, bool(torch.allclose(g.flat(), ref.flat(), rtol=1e-4, atol=1e-7))
    (6, True)
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
        # rows sorted by length, cut into batches that pad least, each cut to its longest row
        lengths = batch.attention_mask.sum(1)
        order = torch.argsort(lengths, stable=True)
        out = {n: torch.empty(len(batch), trainable[n].numel()) for n in names}
        with dequantized(model):
            for sl in length_buckets(lengths[order].numpy(), max(1, chunk), max_tokens=MAX_BATCH_TOKENS):
                idx = order[sl]
                width = max(1, int(lengths[idx].max()))
                b = batch.index(idx)
                part = hooked_grads(model, Batch(b.input_ids[:, :width], b.attention_mask[:, :width],
                                                 b.labels[:, :width]), linears)
                for n in names:
                    out[n][idx] = part[n]
        return group_blocks(out)
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
    ``sum_r L_r`` (:func:`summed_row_loss`) then yields every row's gradient as an ``einsum`` of
    the two, taken inside the backward as soon as the output gradient exists (so output gradients
    are never stored).  For a LoRA pair ``y = s B A x`` this is ``grad_B[r] = s sum_t g_t (A x_t)^T``
    and ``grad_A[r] = s sum_t (B^T g_t) x_t^T``.  Returns ``{name: (rows, out * in)}`` float32.
    """
    inputs: dict[str, torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    handles = []
    rows = len(b)

    def grad_hook(name):
        def hook(g):
            x = inputs.pop(name)
            g = g.detach().float().reshape(rows, -1, g.shape[-1])
            out[name] = torch.einsum("bto,bti->boi", g, x.reshape(rows, -1, x.shape[-1])).reshape(rows, -1)
        return hook

    def fwd(name):
        def hook(module, args, output):
            inputs[name] = args[0].detach().float()
            output.register_hook(grad_hook(name))
        return hook

    for name, mod in linears.items():
        handles.append(mod.register_forward_hook(fwd(name)))
    try:
        with torch.enable_grad():
            summed_row_loss(model, b).backward(inputs=[m.weight for m in linears.values()])
    finally:
        for h in handles:
            h.remove()
        for m in linears.values():
            m.weight.grad = None
    for name, mod in linears.items():  # a Linear the loss never reached has zero gradient
        if name not in out:
            out[name] = torch.zeros(rows, mod.weight.numel())
    return out


def summed_row_loss(model, b: Batch) -> torch.Tensor:
    """``sum_r L_r``, each row's mean response-token loss (as :func:`~olkit.train.qlora.token_losses`).

    On a Hugging Face causal LM the output head runs on the labelled (response) positions only:
    the backbone's last hidden states at those positions go through ``lm_head``, so the
    ``(rows, T, vocab)`` logits of every position are never built.  Other models (no separable
    head, or logit soft-capping) score full logits.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    prefix = getattr(inner, "base_model_prefix", None)
    backbone = getattr(inner, prefix, None) if isinstance(prefix, str) else None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    config = getattr(inner, "config", None)
    if backbone is None or head is None or getattr(config, "final_logit_softcapping", None):
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        return token_losses(logits, b.labels).sum()
    hidden = backbone(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
    labels = b.labels[:, 1:]
    keep = labels != -100
    weight = (1.0 / keep.sum(1).clamp(min=1).float())[:, None].expand(labels.shape)[keep]
    nll = torch.nn.functional.cross_entropy(head(hidden[:, :-1][keep]).float(), labels[keep], reduction="none")
    return (nll * weight).sum()


@contextmanager
def dequantized(model) -> Iterator[int]:
    """Within the block, every bitsandbytes 4-bit ``Linear`` of ``model`` computes with its weight
    dequantised once (lazily, at its first forward) into a plain compute-dtype tensor.

    ``Linear4bit`` dequantises its NF4 weight on every forward *and* again in every backward; a
    per-example gradient pass over many rows pays that for each batch.  The dequantised values
    are the ones ``Linear4bit`` computes each time (same kernel, same compute dtype) and the
    matmul is the same ``F.linear``, so results are unchanged.  Memory: the base's weights at
    compute precision (~0.4 GB for SmolLM2-135M in fp32), released on exit.  Re-entrant (an inner
    block reuses the outer one's weights); layers in bitsandbytes' packed CPU inference layout are
    left as they are.  Yields how many layers it replaced (0 when there is nothing 4-bit).

    Example
    -------
    >>> with dequantized(torch.nn.Linear(2, 2)) as n:
    ...     n
    0
    """
    if "bitsandbytes" not in sys.modules:  # never imported: the model cannot hold 4-bit layers
        yield 0
        return
    import bitsandbytes as bnb
    from bitsandbytes.nn.modules import fix_4bit_weight_quant_state_from_module

    patched = []
    for mod in model.modules():
        if not isinstance(mod, bnb.nn.Linear4bit) or "forward" in mod.__dict__:
            continue
        state = getattr(mod.weight, "quant_state", None) or getattr(mod, "quant_state", None)
        if state is None or getattr(state, "packing_format_for_cpu", False):
            continue
        mod.forward = _dense_forward(mod, fix_4bit_weight_quant_state_from_module)
        patched.append(mod)
    try:
        yield len(patched)
    finally:
        for mod in patched:
            del mod.forward


def _dequantize_4bit(weight, dtype: torch.dtype) -> torch.Tensor:
    """The ``(out, in)`` weight exactly as bitsandbytes' ``gemm_4bit`` dequantises it for a matmul in
    ``dtype`` (nested absmax first, then the 4-bit codes straight to ``dtype``)."""
    qs = weight.quant_state
    absmax = qs.absmax
    if qs.nested:
        absmax = torch.ops.bitsandbytes.dequantize_blockwise.default(
            qs.absmax, qs.state2.absmax, qs.state2.code, qs.state2.blocksize, torch.float32) + qs.offset
    return torch.ops.bitsandbytes.dequantize_4bit.default(weight.data.view(-1, 1), absmax, qs.blocksize,
                                                          qs.quant_type, qs.shape, dtype)


def _dense_forward(mod, fix_state):
    weights: dict[torch.dtype, torch.Tensor] = {}

    def forward(x: torch.Tensor) -> torch.Tensor:
        # the dtype logic of Linear4bit.forward, then its matmul with a dequantised-once weight
        fix_state(mod)
        if not mod.compute_type_is_set:
            mod.set_compute_type(x)
            mod.compute_type_is_set = True
        dtype = mod.compute_dtype or x.dtype
        w = weights.get(dtype)
        if w is None:
            w = weights[dtype] = _dequantize_4bit(mod.weight, dtype)
        bias = None if mod.bias is None else mod.bias.to(dtype)
        return torch.nn.functional.linear(x.to(dtype), w, bias).to(x.dtype)

    return forward


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
