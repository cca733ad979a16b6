"""QLoRA fine-tuning: a 4-bit NF4 base (bitsandbytes, double quantisation) + LoRA adapters (peft).

:func:`train` runs a small, explicit training loop (no ``Trainer``): seeded batch order and LoRA
init, gradient accumulation with token-weighted loss, warmup + cosine/linear schedule, gradient
clipping, adapter-only checkpoints every N steps (for TracIn), and a per-step history
(``loss, learning_rate, tokens_per_s, peak_rss_mb`` ...) as a polars frame.  The loss is computed
on response tokens only, and the vocabulary projection is applied only to those positions — this
is why the loop is faster than the generic ``Trainer`` recipe on a CPU.

Output folder (written under a temporary name and renamed when done, so a crash leaves nothing)::

    out/adapter_model.safetensors   adapter_config.json   olkit_manifest.json
    out/history.parquet             out/checkpoints/step-N/{adapter_model.safetensors, checkpoint.json}

Example
-------
>>> from olkit.train.models import load_base
>>> from olkit.train.data import split_and_select, build_examples
>>> from olkit.train.qlora import TrainConfig, train
>>> base = load_base("tiny-llama", quantization="nf4")                     # doctest: +SKIP
>>> split = split_and_select(frame, "accepted")                            # doctest: +SKIP
>>> ex = build_examples(split.train, base.tokenizer, max_length=128)      # doctest: +SKIP
>>> result = train(base, ex, TrainConfig(steps=20), out_dir="adapters/a1") # doctest: +SKIP
>>> result.history.select("step", "loss", "tokens_per_s")                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import resource
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
from pydantic import Field

from olkit.config import Section
from olkit.errors import OlkitError
from olkit.kit import AtomicDir, write_text_atomic
from olkit.train.data import EmptyTrainingSet, Examples
from olkit.train.models import DeviceError, LoadedBase, keep_trainable_4bit_layout, load_base

GPU_ONLY_OPTIMIZERS = ("paged_adamw", "paged_adamw_8bit", "adamw_8bit")
MANIFEST = "olkit_manifest.json"
HISTORY = "history.parquet"


class TrainConfig(Section):
    """Hyperparameters of one fine-tuning run (strict: unknown keys are errors)."""

    steps: int = Field(60, ge=1, description="optimizer steps")
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    learning_rate: float = Field(2e-4, gt=0, le=1.0)
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0)
    lora_r: int = Field(8, ge=1)
    lora_alpha: float = Field(16.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: the family preset (all linear projections)
    quantization: Literal["nf4", "fp4"] | None = "nf4"
    #: "auto": bf16 for a 4-bit base on hardware with native bf16, else fp32 (models.resolve_compute_dtype)
    compute_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    max_length: int = Field(256, ge=8)
    checkpoint_every: int = Field(0, ge=0, description="0: no intermediate checkpoints")
    seed: int = 0
    device: str = "auto"
    optimizer: Literal["adamw", "sgd", "paged_adamw", "paged_adamw_8bit", "adamw_8bit"] = "adamw"
    #: None: on for a 4-bit base (the QLoRA recipe trades ~25% compute for most activation
    #: memory), off for a full-precision base (plain LoRA).
    gradient_checkpointing: bool | None = None
    #: "tokens": every response token weighs the same (long answers count more); "examples": the
    #: mean of each example's mean response-token loss (what per-example attribution gradients take)
    loss_weighting: Literal["tokens", "examples"] = "tokens"
    #: also keep every checkpoint in memory (:attr:`TrainResult.checkpoints`: LoRA state, learning
    #: rate, Adam preconditioner), with or without an output folder (attribution reads them)
    keep_checkpoints: bool = False


@dataclass
class Checkpoint:
    """LoRA tensors after ``step`` optimizer steps, the learning rate of that step, and (Adam only)
    the per-parameter preconditioner ``1 / (sqrt(v_hat) + eps)`` at that point, so influence can
    follow the direction Adam actually moves (LESS, Xia et al. 2024)."""

    step: int
    lr: float
    state: dict[str, torch.Tensor]
    precond: dict[str, torch.Tensor] | None = None


@dataclass
class TrainResult:
    """What :func:`train` produced.  ``checkpoints`` is filled when ``config.keep_checkpoints``."""

    adapter_dir: Path | None
    history: pl.DataFrame
    manifest: dict[str, Any]
    model: Any  # the peft model (base with LoRA layers injected)
    stopped: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def lora_state(model: Any) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable (LoRA) parameters, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_lora_state(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Copy LoRA tensors into a model in place (names as in :func:`lora_state`)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def check_device_options(config: TrainConfig, device: torch.device) -> None:
    """GPU-only options without a GPU raise :class:`DeviceError`."""
    if config.optimizer in GPU_ONLY_OPTIMIZERS and device.type != "cuda":
        raise DeviceError(f"optimizer {config.optimizer!r} (bitsandbytes paged/8-bit) needs a CUDA GPU; "
                          f"this run is on {device.type}: use optimizer='adamw'")


def uses_gradient_checkpointing(config: TrainConfig, base: LoadedBase) -> bool:
    """The run's gradient checkpointing: the config's choice, or on exactly when the base is 4-bit."""
    if config.gradient_checkpointing is None:
        return base.quantization is not None
    return config.gradient_checkpointing


def _lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based)."""
    base = config.learning_rate
    if config.warmup_steps and step < config.warmup_steps:
        return base * (step + 1) / config.warmup_steps
    if config.lr_scheduler == "constant":
        return base
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    if config.lr_scheduler == "linear":
        return base * (1.0 - progress)
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


def attach_lora(base: LoadedBase, config: TrainConfig, adapter_name: str = "default") -> Any:
    """Wrap ``base.model`` with fresh LoRA adapters (seeded init); returns the peft model."""
    from peft import LoraConfig, PeftModel, get_peft_model

    targets = list(config.target_modules) if config.target_modules else base.lora_targets
    names = {n.rsplit(".", 1)[-1] for n, _ in base.model.named_modules()}
    missing = [t for t in targets if t not in names]
    if len(missing) == len(targets):
        raise OlkitError(f"none of the LoRA targets {targets} exist in {base.name} "
                         f"({base.family}); pass target_modules=")
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=[t for t in targets if t in names], bias="none", task_type="CAUSAL_LM")
    torch.manual_seed(config.seed)
    model = base.model
    keep_trainable_4bit_layout(model)
    if isinstance(model, PeftModel):
        model.add_adapter(adapter_name, lora)
        model.set_adapter(adapter_name)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        if uses_gradient_checkpointing(config, base):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        model = get_peft_model(model, lora, adapter_name=adapter_name)
    return model


#: Logits per slice of the chunked vocabulary projection (see :func:`response_loss`): 128 response
#: tokens of a 49k vocabulary; a small vocabulary gets longer slices (one, for a word-level base).
LOSS_CHUNK_LOGITS = 128 * 49_152


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    if weights is None:
        return torch.nn.functional.cross_entropy(head(hidden).float(), labels, reduction="sum")
    return (torch.nn.functional.cross_entropy(head(hidden).float(), labels, reduction="none") * weights).sum()


def response_loss(model: Any, batch: dict[str, torch.Tensor],
                  chunk_tokens: int | None = None,
                  row_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy on response tokens, and how many there are.

    ``row_weights`` (one per row) weighs every token of a row (``loss_weighting="examples"``).

    The lm_head runs only on response positions, ``chunk_tokens`` rows at a time (default: as many
    as :data:`LOSS_CHUNK_LOGITS` logits allow, 128 for SmolLM2's vocabulary); under autograd
    each slice is checkpointed, so backward recomputes its logits instead of keeping them.  With a
    49k vocabulary the full logits of a batch (and their softmax and gradient) would otherwise be
    the largest tensors of a step, and their changing sizes fragment the CPU heap.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    n = int(keep.sum())
    weights = None
    if row_weights is not None:
        weights = row_weights.to(labels.device, torch.float32)[:, None].expand(labels.shape)[keep]
    backbone = getattr(inner, inner.base_model_prefix, None)
    head = inner.get_output_embeddings()
    if backbone is None or head is None or getattr(inner.config, "final_logit_softcapping", None):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll = torch.nn.functional.cross_entropy(logits[:, :-1][keep].float(), labels[keep], reduction="none")
        return (nll.sum() if weights is None else (nll * weights).sum()), n
    hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    sel, target = hidden[:, :-1][keep], labels[keep]
    if chunk_tokens is None:
        chunk_tokens = max(1, LOSS_CHUNK_LOGITS // max(1, int(getattr(head, "out_features", 0) or 1)))

    def w(i: int) -> torch.Tensor | None:
        return None if weights is None else weights[i:i + chunk_tokens]

    if not torch.is_grad_enabled() or not sel.requires_grad:
        parts = [_chunk_loss(head, sel[i:i + chunk_tokens], target[i:i + chunk_tokens], w(i))
                 for i in range(0, n, chunk_tokens)]
    else:
        from torch.utils.checkpoint import checkpoint

        parts = [checkpoint(_chunk_loss, head, sel[i:i + chunk_tokens], target[i:i + chunk_tokens], w(i),
                            use_reentrant=False) for i in range(0, n, chunk_tokens)]
    return (torch.stack(parts).sum() if parts else sel.sum() * 0.0), n


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy over labelled positions, per row (works unbatched too): the
    per-example loss of ``loss_weighting="examples"`` from full logits."""
    shift_logits = logits[..., :-1, :]
    shift_labels = labels[..., 1:]
    valid = shift_labels != -100
    safe = shift_labels.clamp(min=0)
    logp = torch.log_softmax(shift_logits.float(), dim=-1)
    nll = -torch.gather(logp, -1, safe.unsqueeze(-1)).squeeze(-1)
    nll = nll * valid
    return nll.sum(-1) / valid.sum(-1).clamp(min=1)


@torch.no_grad()
def per_example_loss(model: Any, batch: Any, *, chunk: int = 64) -> np.ndarray:
    """One mean response-token loss per row of a :class:`~olkit.train.data.Batch` (float64 numpy)."""
    out = []
    model.eval()
    for s in range(0, len(batch), chunk):
        b = batch.index(slice(s, s + chunk))
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        out.append(token_losses(logits, b.labels).double())
    return torch.cat(out).numpy() if out else np.zeros(0)


def _make_optimizer(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    import bitsandbytes as bnb

    cls = {"paged_adamw": bnb.optim.PagedAdamW, "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
           "adamw_8bit": bnb.optim.AdamW8bit}[config.optimizer]
    return cls(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def _batch_plan(n: int, config: TrainConfig) -> np.ndarray:
    """Example indices for every micro-batch: shuffled epochs, seeded. Shape (steps, accum, batch)."""
    rng = np.random.default_rng(config.seed)
    need = config.steps * config.grad_accum * config.batch_size
    order = np.concatenate([rng.permutation(n) for _ in range(-(-need // n))])[:need]
    return order.reshape(config.steps, config.grad_accum, config.batch_size)


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``olkit_manifest.json`` atomically."""
    return write_text_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, default=str))


@torch.inference_mode()
def heldout_loss(model: Any, examples: Examples, batch_size: int = 8, *, progress: bool = False,
                 desc: str = "held-out loss") -> dict[str, float]:
    """Token-weighted mean response loss and perplexity of ``model`` on ``examples``.

    Examples are batched by length (little padding, masked); the result does not depend on batch
    size.  ``progress``: a bar over the batches (stderr).
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort(examples.lengths, kind="stable")
    total, n_tok = 0.0, 0
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not progress,
                      leave=False):
        batch = {k: v.to(device) for k, v in examples.collate(order[start:start + batch_size]).items()}
        loss_sum, n = response_loss(model, batch)
        total += float(loss_sum)
        n_tok += n
    if was_training:
        model.train()
    loss = total / max(n_tok, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "n_tokens": float(n_tok)}


def train(
    base: LoadedBase | str,
    examples: Examples,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    eval_examples: Examples | None = None,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    stop_event: threading.Event | None = None,
    manifest_extra: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    init_adapter: str | Path | None = None,
    model: Any = None,
    init_state: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Fine-tune LoRA adapters on ``examples``; save them to ``out_dir`` (if given) with a manifest.

    ``base`` is a :class:`LoadedBase` or a model name (loaded with ``config.quantization``).
    Each step calls every callback with the step's history row (a dict); setting ``stop_event``
    ends training after the current step (the adapter is still saved, ``stopped=True``).
    ``eval_examples`` adds held-out loss before/after to the manifest metrics.
    The manifest lists exactly the ``submission_ids`` of the examples the run saw.
    ``init_adapter`` (an adapter folder of the same base and LoRA shape) warm-starts the LoRA
    weights from it instead of the seeded fresh init (continual training, one adapter per round).
    ``model`` (the peft model of an earlier ``train``/:func:`attach_lora` on this base) trains those
    LoRA layers again instead of attaching new ones, and ``init_state`` (a :func:`lora_state`)
    resets them first: many subsets retrained from one initialisation, as attribution's ground
    truth does.  A ``tiny-word`` base is copied into the adapter folder's ``base/``.
    """
    from tqdm.auto import tqdm


    config = config or TrainConfig()
    if len(examples) == 0:
        raise EmptyTrainingSet("no training examples")
    if isinstance(base, str):
        base = load_base(base, quantization=config.quantization, device=config.device,
                         compute_dtype=config.compute_dtype)
    check_device_options(config, base.device)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OlkitError(f"{out}: adapter folder exists and is not empty (pass overwrite=True)")
    staging = AtomicDir(out, overwrite=True) if out is not None else None
    work = staging.tmp if staging is not None else None
    try:
        metrics: dict[str, Any] = {}
        if eval_examples is not None:
            metrics["eval_loss_before"] = heldout_loss(base.model, eval_examples, progress=progress,
                                                       desc="held-out loss before")["loss"]
        if model is None:
            model = attach_lora(base, config)
        if init_state is not None:
            load_lora_state(model, init_state)
        if init_adapter is not None:
            from peft.utils import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(model, load_file(str(Path(init_adapter) / "adapter_model.safetensors")))
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = _make_optimizer(params, config)
        plan = _batch_plan(len(examples), config)
        lengths = examples.lengths
        rows: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        kept: list[Checkpoint] = []
        by_example = config.loss_weighting == "examples"
        seen: set[int] = set()
        stopped = False
        t_start = time.perf_counter()
        bar = tqdm(range(config.steps), desc=f"train {base.name}", disable=not progress, leave=False)
        for step in bar:
            t0 = time.perf_counter()
            lr = _lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batches = [examples.collate(mb) for mb in plan[step]]
            n_resp = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
            n_rows = sum(int(b["labels"].shape[0]) for b in batches)
            total = 0.0
            for b in batches:
                b = {k: v.to(base.device) for k, v in b.items()}
                if by_example:  # each row's mean token loss, averaged over the step's rows
                    per_row = (b["labels"][:, 1:] != -100).sum(1).clamp(min=1)
                    loss_sum, _ = response_loss(model, b, row_weights=1.0 / (per_row * n_rows))
                    loss_sum.backward()
                    total += float(loss_sum.detach())
                else:
                    loss_sum, _ = response_loss(model, b)
                    (loss_sum / max(n_resp, 1)).backward()
                    total += float(loss_sum.detach()) / max(n_resp, 1)
            grad_norm = (float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
                         if config.max_grad_norm else float("nan"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seen.update(int(i) for i in plan[step].ravel())
            dt = time.perf_counter() - t0
            n_tok = int(lengths[plan[step].ravel()].sum())
            row = {"step": step + 1, "loss": total, "learning_rate": lr,
                   "grad_norm": grad_norm, "tokens": n_tok, "response_tokens": n_resp,
                   "step_time_s": dt, "tokens_per_s": n_tok / dt if dt > 0 else float("nan"),
                   "peak_rss_mb": peak_rss_mb(), "elapsed_s": time.perf_counter() - t_start}
            if base.device.type == "cuda":
                row["peak_gpu_mb"] = torch.cuda.max_memory_allocated(base.device) / 2**20
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
                _checkpoint(model, optimizer, step + 1, lr, row["loss"], work, checkpoints,
                            kept if config.keep_checkpoints else None)
            for cb in callbacks:
                cb(row)
            if stop_event is not None and stop_event.is_set():
                stopped = True
                break
        bar.close()
        model.eval()
        history = pl.DataFrame(rows)
        _checkpoint(model, optimizer, len(rows), rows[-1]["learning_rate"], rows[-1]["loss"], work, checkpoints,
                    kept if config.keep_checkpoints else None)
        if eval_examples is not None:
            metrics["eval_loss_after"] = heldout_loss(model, eval_examples, progress=progress,
                                                      desc="held-out loss after")["loss"]
        metrics.update(loss_first=rows[0]["loss"], loss_last=rows[-1]["loss"], steps=len(rows),
                       tokens_per_s_mean=float(history["tokens_per_s"][1:].mean() or history["tokens_per_s"][0]),
                       peak_rss_mb=rows[-1]["peak_rss_mb"], train_time_s=rows[-1]["elapsed_s"])
        used = sorted(seen)
        manifest = {
            "format": "olkit-adapter/1",
            "created_at": datetime.now(UTC).isoformat(),
            "base": {"name": base.name, "family": base.family, "source": base.source_dir,
                     "model_type": base.model.config.model_type, "quantization": base.quantization,
                     "compute_dtype": str(base.compute_dtype).removeprefix("torch.")},
            "gradient_checkpointing": uses_gradient_checkpointing(config, base),
            "submission_ids": [examples.submission_ids[i] for i in used],
            "n_examples": len(used),
            # which examples (indices into the training examples' submission_ids) each step saw
            "step_submission_ids": [[examples.submission_ids[int(i)] for i in plan[k].ravel()]
                                    for k in range(len(rows))],
            "n_examples_available": len(examples),
            "config": config.model_dump(mode="json"),
            "seed": config.seed,
            "lora": {"r": config.lora_r, "alpha": config.lora_alpha,
                     "target_modules": sorted(model.peft_config["default"].target_modules or []),
                     "target_parameters": sorted(model.peft_config["default"].target_parameters or []),
                     "trainable_parameters": int(sum(p.numel() for p in params))},
            "metrics": metrics,
            "stopped_early": stopped,
            "checkpoints": [{k: v for k, v in c.items()} for c in checkpoints],
            "versions": _versions(),
            "init_adapter": str(init_adapter) if init_adapter is not None else None,
            **(manifest_extra or {}),
        }
        result = TrainResult(adapter_dir=None, history=history, manifest=manifest, model=model,
                             stopped=stopped, metrics=metrics, checkpoints=kept)
        if staging is not None and work is not None:
            if base.spec.kind == "word":  # built from data, not from a name: the folder carries it
                import shutil

                shutil.copytree(base.source_dir, work / WORD_BASE_DIR)
                manifest["base"]["source"] = WORD_BASE_DIR
            model.save_pretrained(work)
            history.write_parquet(work / HISTORY)
            write_manifest(work, manifest)
            result.adapter_dir = staging.commit()
        return result
    except BaseException:
        if staging is not None:
            staging.discard()
        raise


#: Adam's preconditioner ``1 / (sqrt(v_hat) + eps)`` per LoRA parameter, saved with each checkpoint
#: (what Adam-aware attribution needs; ``olkit.attribution`` reads it under the same name)
ADAM_PRECOND_FILE = "olkit_adam_precond.safetensors"


#: Where an adapter of a ``tiny-word`` base keeps a copy of that base (model + tokenizer).
WORD_BASE_DIR = "base"


def _checkpoint(model: Any, optimizer: torch.optim.Optimizer, step: int, lr: float, loss: float,
                work: Path | None, saved: list[dict[str, Any]], kept: list[Checkpoint] | None) -> None:
    """Save the checkpoint after ``step`` into ``work`` (if any; its info goes to ``saved``) and keep
    it in memory (if ``kept`` is a list)."""
    if work is None and kept is None:
        return
    precond = _adam_preconditioner(model, optimizer)
    if work is not None:
        saved.append(_save_checkpoint(model, work, step, lr, loss, precond))
    if kept is not None:
        kept.append(Checkpoint(step, lr, lora_state(model), precond))


def _save_checkpoint(model: Any, work: Path, step: int, lr: float, loss: float,
                     precond: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    rel = Path("checkpoints") / f"step-{step}"
    model.save_pretrained(work / rel)
    info = {"step": step, "learning_rate": lr, "loss": loss, "path": str(rel)}
    if precond is not None:
        from safetensors.torch import save_file

        save_file(precond, str(work / rel / ADAM_PRECOND_FILE))
        info["adam_precond"] = ADAM_PRECOND_FILE
    (work / rel / "checkpoint.json").write_text(json.dumps(info, indent=2))
    return info


def _adam_preconditioner(model: Any, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor] | None:
    """``1 / (sqrt(v_hat) + eps)`` of every trainable parameter (by name), or None (not Adam / no step yet)."""
    if not isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        return None
    group = optimizer.param_groups[0]
    beta2, eps = group["betas"][1], group["eps"]
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        st = optimizer.state.get(p, {})
        if "exp_avg_sq" not in st:
            return None
        v_hat = st["exp_avg_sq"] / (1 - beta2 ** float(st["step"]))
        out[name] = (1.0 / (v_hat.sqrt() + eps)).float().contiguous().cpu()
    return out


def _versions() -> dict[str, str]:
    import bitsandbytes
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "bitsandbytes": bitsandbytes.__version__}
