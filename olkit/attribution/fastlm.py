"""A tiny language model that retrains hundreds of times per second: the ground-truth engine.

Exact contributor Shapley values need every coalition of contributors retrained (``2^C`` runs) under
several training seeds, and item-level LDS needs >= 100 subset retrains per seed.  A Hugging Face
Llama, however small, costs ~0.3 s per retrain on one CPU core in Python overhead alone; this model
trains *many copies at once* as stacked tensors (one einsum per layer for all copies), so a
retrain costs milliseconds.

The model (word-level, frozen random base, LoRA on two projections; only LoRA trains, as in QLoRA):

* ``x_t = [e(w_t); c_t]`` with frozen random embeddings ``e`` and ``c_t`` the exponentially decayed
  mean of the previous tokens' embeddings (a causal bag of words, so the instruction conditions
  the answer);
* ``h_t = tanh(W0 x_t + s B0 A0 x_t)``, ``o_t = W1 h_t + s B1 A1 h_t``, logits ``o_t E^T`` (tied
  output embeddings), next-token cross entropy on response tokens.

After the frozen features the model is position-wise, so training only ever touches response
positions.  :class:`TaskLMModule` is the same model as an ``nn.Module`` (parameter names
``proj.lora_A.weight`` ...) so every gradient method (TracIn, DataInf, TRAK ...) attributes it like
any peft model; :func:`train_many` trains stacked copies, each on its own weighted rows and with its
own seed (LoRA init and mini-batch order).

Example
-------
>>> from olkit.attribution.task import make_task
>>> task = make_task(n_contributors=3, items_per_contributor=4, n_eval=4, seed=0)
>>> lm = TaskLM.fit(task.train, task.eval, seed=0)
>>> data = lm.features(task.train)
>>> W = batch_masks(np.ones((2, data.n), bool), steps=5, batch_size=4, seeds=[0, 1])
>>> run = train_many(lm, data, W, seeds=[0, 1], steps=5)
>>> lm.losses(run.params, lm.features(task.eval)).shape
(2, 4)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import polars as pl
import torch

from olkit.train.data import build_examples
from olkit.train.models import frame_texts, word_tokenizer
from olkit.train.qlora import Checkpoint

#: LoRA parameter names of :class:`TaskLMModule`, in order (stacked tensors use the same keys)
PARAMS = ("proj.lora_A.weight", "proj.lora_B.weight", "out.lora_A.weight", "out.lora_B.weight")


@dataclass
class Features:
    """Frozen features of the response positions of some rows: what training needs."""

    x: torch.Tensor  # (K, 2d) input features
    target: torch.Tensor  # (K,) next token
    row: torch.Tensor  # (K,) row index of each position
    n: int  # rows
    counts: torch.Tensor  # (n,) response positions per row (>= 1)


@dataclass
class TaskLM:
    """Tokenizer plus the frozen random base; builds features, stacked LoRA inits and modules."""

    tokenizer: object
    dim: int = 32
    rank: int = 8
    decay: float = 0.7
    max_length: int = 40
    seed: int = 0
    base: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def fit(cls, *frames: pl.DataFrame, **kwargs) -> TaskLM:
        """Fit the word tokenizer on the frames' text and draw the frozen base from ``seed``."""
        lm = cls(tokenizer=word_tokenizer(frame_texts(*frames)), **kwargs)
        gen = torch.Generator().manual_seed(10_007 + lm.seed)
        d, v = lm.dim, len(lm.tokenizer)
        lm.base = {
            "E": torch.randn(v, d, generator=gen) / math.sqrt(d) * 2.0,
            "W0": torch.randn(d, 2 * d, generator=gen) / math.sqrt(2 * d),
            "W1": torch.randn(d, d, generator=gen) / math.sqrt(d),
        }
        return lm

    @property
    def scale(self) -> float:
        return 2.0  # lora_alpha / r with alpha = 2r

    def _decay_matrix(self, t: int) -> torch.Tensor:
        i = torch.arange(t)
        lag = (i[:, None] - 1 - i[None, :]).float()
        m = torch.where(lag >= 0, self.decay ** lag.clamp(min=0), torch.zeros(()))
        return m / m.sum(1, keepdim=True).clamp(min=1.0)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """``(..., T, 2d)`` features of every position of token ids ``(..., T)``."""
        emb = self.base["E"][ids]
        ctx = self._decay_matrix(ids.shape[-1]) @ emb
        return torch.cat([emb, ctx], dim=-1)

    def features(self, frame: pl.DataFrame) -> Features:
        """Features and next-token targets of every response position of ``frame``'s rows."""
        b = build_examples(frame, self.tokenizer, max_length=self.max_length).batch()
        x = self.inputs(b.input_ids)[:, :-1]
        lab = b.labels[:, 1:]
        keep = lab != -100
        rows = torch.arange(lab.shape[0])[:, None].expand_as(lab)[keep]
        counts = torch.bincount(rows, minlength=lab.shape[0]).clamp(min=1)
        return Features(x=x[keep], target=lab[keep], row=rows, n=int(lab.shape[0]), counts=counts)

    def init(self, seeds: Sequence[int]) -> dict[str, torch.Tensor]:
        """Stacked LoRA initialisations, one per seed: ``A ~ U(-1/sqrt(in), 1/sqrt(in))``, ``B = 0``."""
        d, r = self.dim, self.rank
        a0, a1 = [], []
        for s in seeds:
            gen = torch.Generator().manual_seed(int(s) * 7919 + 17)
            a0.append((torch.rand(r, 2 * d, generator=gen) * 2 - 1) / math.sqrt(2 * d))
            a1.append((torch.rand(r, d, generator=gen) * 2 - 1) / math.sqrt(d))
        m = len(seeds)
        return {PARAMS[0]: torch.stack(a0), PARAMS[1]: torch.zeros(m, d, r),
                PARAMS[2]: torch.stack(a1), PARAMS[3]: torch.zeros(m, d, r)}

    def position_nll(self, params: dict[str, torch.Tensor], x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(M, K)`` next-token losses of stacked models ``params`` at positions ``x``.

        ``x`` is ``(K, 2d)`` (the same positions for every model) or ``(M, K, 2d)``; ``target``
        ``(K,)`` or ``(M, K)``.
        """
        s = self.scale
        a0, b0, a1, b1 = (params[k] for k in PARAMS)
        xa = torch.einsum("kf,mrf->mkr", x, a0) if x.dim() == 2 else torch.einsum("mkf,mrf->mkr", x, a0)
        z = x @ self.base["W0"].T + s * torch.einsum("mkr,mdr->mkd", xa, b0)
        h = torch.tanh(z)
        o = h @ self.base["W1"].T + s * torch.einsum("mkr,mdr->mkd", torch.einsum("mkd,mrd->mkr", h, a1), b1)
        logits = o @ self.base["E"].T
        tgt = target.expand(logits.shape[0], -1) if target.dim() == 1 else target
        return torch.logsumexp(logits, -1) - logits.gather(-1, tgt[..., None])[..., 0]

    def row_losses(self, params: dict[str, torch.Tensor], data: Features) -> torch.Tensor:
        """``(M, n)`` mean response-token loss of every row under every stacked model."""
        nll = self.position_nll(params, data.x, data.target)
        out = torch.zeros(nll.shape[0], data.n, dtype=nll.dtype).index_add_(1, data.row, nll)
        return out / data.counts

    @torch.no_grad()
    def losses(self, params: dict[str, torch.Tensor], data: Features, *, chunk: int = 256) -> np.ndarray:
        """:meth:`row_losses` without gradients, in chunks of models (float64 numpy)."""
        m = next(iter(params.values())).shape[0]
        parts = [self.row_losses({k: v[s:s + chunk] for k, v in params.items()}, data)
                 for s in range(0, m, chunk)]
        return torch.cat(parts).double().numpy()

    def module(self, state: dict[str, torch.Tensor] | None = None) -> TaskLMModule:
        """One model as an ``nn.Module`` (LoRA trainable), at ``state`` (unstacked) if given."""
        mod = TaskLMModule(self)
        if state is not None:
            mod.load(state)
        return mod


class _Lora(torch.nn.Module):
    def __init__(self, d_in: int, r: int, d_out: int) -> None:
        super().__init__()
        self.lora_A = torch.nn.Linear(d_in, r, bias=False)
        self.lora_B = torch.nn.Linear(r, d_out, bias=False)


class TaskLMModule(torch.nn.Module):
    """A single :class:`TaskLM` as a module: ``forward(input_ids) -> .logits`` (batch, T, vocab).

    Its only parameters are the LoRA tensors (names in :data:`PARAMS`), so
    :func:`olkit.attribution.grads.per_example_grads` works on it unchanged.
    """

    def __init__(self, lm: TaskLM) -> None:
        super().__init__()
        self.lm = lm
        d, r = lm.dim, lm.rank
        self.proj = _Lora(2 * d, r, d)
        self.out = _Lora(d, r, d)
        for k, v in lm.base.items():
            self.register_buffer(k, v, persistent=False)
        self.load({k: v[0] for k, v in lm.init([lm.seed]).items()})

    def load(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_) -> SimpleNamespace:
        del attention_mask  # right padding under a causal context: padding never reaches a scored position
        emb = self.E[input_ids]
        t = input_ids.shape[-1]
        i = torch.arange(t)
        lag = (i[:, None] - 1 - i[None, :]).to(emb.dtype)
        dm = torch.where(lag >= 0, self.lm.decay ** lag.clamp(min=0), torch.zeros((), dtype=emb.dtype))
        dm = dm / dm.sum(1, keepdim=True).clamp(min=1.0)
        x = torch.cat([emb, dm @ emb], dim=-1)
        s = self.lm.scale
        h = torch.tanh(x @ self.W0.T + s * self.proj.lora_B(self.proj.lora_A(x)))
        o = h @ self.W1.T + s * self.out.lora_B(self.out.lora_A(h))
        return SimpleNamespace(logits=o @ self.E.T)

    def generate(self, input_ids: torch.Tensor, attention_mask=None, max_new_tokens: int = 16,
                 eos_token_id: int | None = None, **_) -> torch.Tensor:
        """Greedy decoding (for :func:`olkit.train.adapters.generate_text`); stops at the tokenizer's eos."""
        if eos_token_id is None:
            eos_token_id = self.lm.tokenizer.eos_token_id
        ids = input_ids
        for _ in range(max_new_tokens):
            nxt = self.forward(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
            if eos_token_id is not None and bool((nxt == eos_token_id).all()):
                break
        return ids


# ---------------------------------------------------------------------------------------------
# training many copies at once
# ---------------------------------------------------------------------------------------------
def batch_masks(members: np.ndarray, *, steps: int, batch_size: int, seeds: Sequence[int]) -> torch.Tensor:
    """``(M, steps, n)`` float masks: which rows each model trains on at each step.

    ``members`` is ``(M, n)`` bool (the rows of each model's training set); model ``m`` visits its
    members in the order of a permutation drawn from ``seeds[m]`` (shared by every model with that
    seed, so coalitions differ only in who is present), ``batch_size`` rows per step, cycling
    through epochs.  Fully vectorised.
    """
    members = np.asarray(members, dtype=bool)
    m, n = members.shape
    seeds = np.asarray(list(seeds))
    if seeds.shape[0] != m:
        raise ValueError(f"{seeds.shape[0]} seeds for {m} models")
    perms = {int(s): np.random.default_rng(int(s) + 1_000_003).permutation(n) for s in np.unique(seeds)}
    order = np.stack([perms[int(s)] for s in seeds])  # (M, n) row at each position
    in_order = np.take_along_axis(members, order, axis=1)
    pos_sorted = np.cumsum(in_order, axis=1) - 1
    pos = np.empty_like(pos_sorted)
    np.put_along_axis(pos, order, pos_sorted, axis=1)  # position of each row in its model's order
    size = members.sum(1)  # (M,)
    t = np.arange(steps)
    rel = (pos[:, None, :] - t[None, :, None] * batch_size) % np.maximum(size, 1)[:, None, None]
    w = (rel < batch_size) & members[:, None, :]
    return torch.as_tensor(w, dtype=torch.float32)


@dataclass
class BatchedRun:
    """Final stacked LoRA params, per-step mean losses, checkpoints (for ``M == 1``) and seconds."""

    params: dict[str, torch.Tensor]
    losses: np.ndarray  # (steps, M)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    seconds: float = 0.0

    def state(self, m: int = 0) -> dict[str, torch.Tensor]:
        return {k: v[m].clone() for k, v in self.params.items()}


def train_many(lm: TaskLM, data: Features, weights: torch.Tensor, *, seeds: Sequence[int], steps: int = 20,
               lr: float = 2e-2, checkpoint_every: int = 0, chunk: int = 512) -> BatchedRun:
    """Train ``M`` copies (stacked) with AdamW; copy ``m`` trains on rows weighted by ``weights[m, t]``.

    Each copy's loss is the mean row loss over its step batch, and Adam is elementwise, so the
    stacked run is exactly ``M`` independent runs.  ``checkpoint_every`` records
    :class:`~olkit.train.qlora.Checkpoint` objects (LoRA state before each saved step, learning
    rate and Adam's preconditioner) of copy 0, in :class:`TaskLMModule` parameter names.
    """
    t0 = time.perf_counter()
    m = weights.shape[0]
    init = lm.init(seeds)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in PARAMS}
    losses = np.zeros((steps, m))
    checkpoints: list[Checkpoint] = []
    table = _row_table(data)
    for s in range(0, m, chunk):
        sl = slice(s, min(m, s + chunk))
        params = {k: v[sl].clone().requires_grad_(True) for k, v in init.items()}
        opt = torch.optim.AdamW(list(params.values()), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
        w = weights[sl]
        denom = w.sum(-1).clamp(min=1.0)  # (M, steps)
        for step in range(steps):
            if checkpoint_every and s == 0 and step % checkpoint_every == 0:
                checkpoints.append(_checkpoint(step, lr, params, opt))
            x, tgt, coef = _step_positions(data, w[:, step], denom[:, step], table)
            per_model = (lm.position_nll(params, x, tgt) * coef).sum(-1)
            opt.zero_grad(set_to_none=True)
            per_model.sum().backward()
            opt.step()
            losses[step, sl] = per_model.detach().numpy()
        if checkpoint_every and s == 0:
            checkpoints.append(_checkpoint(steps, lr, params, opt))
        for k in PARAMS:
            out[k].append(params[k].detach())
    return BatchedRun(params={k: torch.cat(v) for k, v in out.items()}, losses=losses, checkpoints=checkpoints,
                      seconds=time.perf_counter() - t0)


def _row_table(data: Features) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ``(n, L)`` position index of every row (pad = index ``K``, a zero feature row)."""
    k = data.row.shape[0]
    width = int(data.counts.max()) if k else 1
    start = torch.zeros(data.n, dtype=torch.long)
    start[1:] = torch.cumsum(torch.bincount(data.row, minlength=data.n), 0)[:-1]
    offset = torch.arange(k) - start[data.row]
    table = torch.full((data.n, width), k, dtype=torch.long)
    table[data.row, offset] = torch.arange(k)
    xpad = torch.cat([data.x, torch.zeros(1, data.x.shape[1])])
    tpad = torch.cat([data.target, torch.zeros(1, dtype=data.target.dtype)])
    return table, xpad, tpad, torch.cat([torch.ones(k), torch.zeros(1)])


def _step_positions(data: Features, w: torch.Tensor, denom: torch.Tensor, table) -> tuple:
    """Only the rows each model trains on this step: features ``(M, P, 2d)``, targets and loss weights."""
    rows_table, xpad, tpad, valid = table
    b = int((w > 0).sum(1).max()) or 1
    wt, rows = torch.topk(w, b, dim=1)  # (M, b)
    pos = rows_table[rows]  # (M, b, L)
    coef = (wt / denom[:, None] / data.counts[rows])[..., None] * valid[pos]  # (M, b, L)
    flat = pos.reshape(pos.shape[0], -1)
    return xpad[flat], tpad[flat], coef.reshape(pos.shape[0], -1)


def _checkpoint(step: int, lr: float, params: dict[str, torch.Tensor], opt: torch.optim.Optimizer) -> Checkpoint:
    state = {k: v[0].detach().clone() for k, v in params.items()}
    precond = None
    beta2, eps = opt.param_groups[0]["betas"][1], opt.param_groups[0]["eps"]
    sts = [opt.state.get(params[k], {}) for k in PARAMS]
    if all("exp_avg_sq" in st for st in sts):
        precond = {k: 1.0 / ((st["exp_avg_sq"][0] / (1 - beta2 ** float(st["step"]))).sqrt() + eps)
                   for k, st in zip(PARAMS, sts, strict=True)}
    return Checkpoint(step, lr, state, precond)
