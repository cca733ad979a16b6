"""Language-model plumbing shared by the attribution methods: encoding, losses, LoRA training.

* :func:`encode` turns instruction/response pairs into right-padded ``input_ids`` with labels that
  mask the prompt (loss only on the response, as in supervised fine-tuning);
* :func:`per_example_loss` gives one loss per row (the quantity every method attributes);
* :class:`TinyLM` builds a tiny randomly initialised Llama with a word-level tokenizer fitted on the
  data, cheap enough to be retrained dozens of times on two CPU cores (the ground-truth engine);
* :func:`train_lora` is a minimal, deterministic LoRA training loop that keeps checkpoints (the
  LoRA tensors and learning rate at each saved step) for TracIn.

Everything works with any Hugging Face causal LM wrapped in a peft LoRA model (SmolLM2 included);
the tiny model only makes retraining cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

PROMPT_TEMPLATE = "Question: {instruction}\nAnswer:"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class Batch:
    """Right-padded token ids, attention mask and labels (``-100`` outside the response)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def index(self, idx: torch.Tensor | np.ndarray | slice) -> Batch:
        if isinstance(idx, np.ndarray):
            idx = torch.as_tensor(idx)
        return Batch(self.input_ids[idx], self.attention_mask[idx], self.labels[idx])


def encode(tokenizer, instructions: Sequence[str], responses: Sequence[str], *, max_length: int = 64) -> Batch:
    """Encode pairs as ``prompt + " " + response + eos``; labels cover the response and eos only."""
    prompts = [PROMPT_TEMPLATE.format(instruction=i) for i in instructions]
    eos = tokenizer.eos_token or ""
    full = [f"{p} {r}{eos}" for p, r in zip(prompts, responses, strict=True)]
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    f_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    n = len(full)
    width = min(max_length, max((len(x) for x in f_ids), default=1))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), -100, dtype=torch.long)
    for r, (p, f) in enumerate(zip(p_ids, f_ids, strict=True)):
        f = f[:width]
        ids[r, : len(f)] = torch.tensor(f, dtype=torch.long)
        mask[r, : len(f)] = 1
        start = min(len(p), len(f))
        labels[r, start: len(f)] = ids[r, start: len(f)]
    return Batch(ids, mask, labels)


def encode_frame(tokenizer, frame: pl.DataFrame, *, max_length: int = 64) -> Batch:
    """:func:`encode` on a frame's ``instruction`` and ``response`` columns."""
    return encode(tokenizer, frame["instruction"].fill_null("").to_list(),
                  frame["response"].fill_null("").to_list(), max_length=max_length)


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy over labelled positions, per row (works unbatched too)."""
    shift_logits = logits[..., :-1, :]
    shift_labels = labels[..., 1:]
    valid = shift_labels != -100
    safe = shift_labels.clamp(min=0)
    logp = torch.log_softmax(shift_logits.float(), dim=-1)
    nll = -torch.gather(logp, -1, safe.unsqueeze(-1)).squeeze(-1)
    nll = nll * valid
    return nll.sum(-1) / valid.sum(-1).clamp(min=1)


@torch.no_grad()
def per_example_loss(model, batch: Batch, *, chunk: int = 64) -> np.ndarray:
    """One mean response-token loss per row of ``batch`` (float64 numpy)."""
    out = []
    model.eval()
    for s in range(0, len(batch), chunk):
        b = batch.index(slice(s, s + chunk))
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        out.append(token_losses(logits, b.labels).double())
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def generate_answer(ctx, instruction: str, *, max_new_tokens: int = 48) -> str:
    """Greedy answer of ``ctx.model`` to one instruction, in the context's prompt format."""
    tok = ctx.tokenizer
    ids = tok(ctx.prompt(instruction), add_special_tokens=False, return_tensors="pt")
    ctx.model.eval()
    out = ctx.model.generate(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                             max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                             eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


# --------------------------------------------------------------------------------------------
# LoRA parameters and checkpoints
# --------------------------------------------------------------------------------------------
def lora_state(model) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable (LoRA) parameters, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_lora_state(model, state: dict[str, torch.Tensor]) -> None:
    """Copy LoRA tensors into a model in place (names as in :func:`lora_state`)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


@dataclass
class Checkpoint:
    """LoRA tensors at one training step, with the learning rate used right after it.

    ``precond`` (optional) holds Adam's per-parameter preconditioner ``1 / (sqrt(v_hat) + eps)`` at
    that step, so influence can follow the direction Adam actually moves (as in LESS, Xia et al. 2024).
    """

    step: int
    lr: float
    state: dict[str, torch.Tensor]
    precond: dict[str, torch.Tensor] | None = None


@dataclass
class TrainResult:
    """What :func:`train_lora` returns: final LoRA state, checkpoints and the loss curve."""

    state: dict[str, torch.Tensor]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def add_lora(model, *, rank: int = 8, alpha: float | None = None, targets: Sequence[str] = LORA_TARGETS,
             seed: int = 0):
    """Wrap a causal LM in a peft LoRA model (seeded init); returns the peft model."""
    from peft import LoraConfig, get_peft_model

    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=0.0,
                        target_modules=[t for t in targets if t in present], bias="none",
                        task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    return get_peft_model(model, config)


def train_lora(
    model,
    batch: Batch,
    *,
    steps: int = 30,
    lr: float = 3e-3,
    batch_size: int | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    checkpoint_every: int | None = None,
    weight_decay: float = 0.0,
    optimizer: str = "adamw",
    seed: int = 0,
    progress: bool = False,
) -> TrainResult:
    """Train the LoRA parameters of ``model`` in place (AdamW or SGD); deterministic for a seed.

    ``batch_size=None`` trains full-batch (the same data always gives the same trajectory, which
    makes retraining-based ground truth noise-free).  ``init_state`` resets LoRA weights first, so
    many subsets can be retrained from one fixed initialisation.  Checkpoints hold the LoRA state
    *before* each saved step together with that step's learning rate (TracIn's ``eta_t``).
    """
    import time

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    if init_state is not None:
        load_lora_state(model, init_state)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99))
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', not {optimizer!r}")
    gen = torch.Generator().manual_seed(seed)
    n = len(batch)
    result = TrainResult(state={})
    model.train()
    every = checkpoint_every or 0
    for step in tqdm(range(steps), disable=not progress, desc="lora", leave=False):
        if every and step % every == 0:
            result.checkpoints.append(Checkpoint(step, lr, lora_state(model), _adam_precond(model, opt)))
        if batch_size is None or batch_size >= n:
            b = batch
        else:
            b = batch.index(torch.randperm(n, generator=gen)[:batch_size])
        logits = model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        loss = token_losses(logits, b.labels).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.losses.append(float(loss.detach()))
    model.eval()
    result.state = lora_state(model)
    if every:
        result.checkpoints.append(Checkpoint(steps, lr, result.state, _adam_precond(model, opt)))
    result.seconds = time.perf_counter() - t0
    return result


def _adam_precond(model, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor] | None:
    """``1 / (sqrt(v_hat) + eps)`` per trainable parameter, or ``None`` before the first step."""
    if not isinstance(opt, torch.optim.Adam | torch.optim.AdamW):
        return None
    group = opt.param_groups[0]
    beta2, eps = group["betas"][1], group["eps"]
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        st = opt.state.get(p, {})
        if "exp_avg_sq" not in st:
            return None
        t = float(st["step"])
        v_hat = st["exp_avg_sq"] / (1 - beta2 ** t)
        out[name] = 1.0 / (v_hat.sqrt() + eps)
    return out


# --------------------------------------------------------------------------------------------
# The tiny model
# --------------------------------------------------------------------------------------------
def word_tokenizer(texts: Sequence[str]):
    """A word-level :class:`~transformers.PreTrainedTokenizerFast` fitted on ``texts``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<eos>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation()])
    trainer = trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1)
    prompts = [PROMPT_TEMPLATE.format(instruction="") + " Question Answer"]
    tok.train_from_iterator(list(texts) + prompts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   eos_token="<eos>")


def frame_texts(*frames: pl.DataFrame) -> list[str]:
    """Every instruction and response of ``frames`` (what a word tokenizer is fitted on)."""
    texts: list[str] = []
    for f in frames:
        texts += f["instruction"].fill_null("").to_list() + f["response"].fill_null("").to_list()
    return texts


@dataclass
class TinyLM:
    """A tiny randomly initialised Llama (+ word tokenizer) for cheap, repeatable retraining.

    Example
    -------
    >>> from olkit.attribution.task import make_task
    >>> task = make_task(n_contributors=4, items_per_contributor=4, n_eval=4, seed=0)
    >>> lm = TinyLM.fit_tokenizer(task.train, task.eval, seed=0)
    >>> model = lm.lora_model()
    >>> batch = encode_frame(lm.tokenizer, task.train)
    >>> per_example_loss(model, batch).shape
    (16,)
    """

    tokenizer: object
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    rank: int = 8
    embed_std: float = 1.0
    seed: int = 0

    @classmethod
    def fit_tokenizer(cls, *frames: pl.DataFrame, **kwargs) -> TinyLM:
        return cls(tokenizer=word_tokenizer(frame_texts(*frames)), **kwargs)

    def base_model(self):
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            vocab_size=len(self.tokenizer), hidden_size=self.hidden, intermediate_size=2 * self.hidden,
            num_hidden_layers=self.layers, num_attention_heads=self.heads,
            num_key_value_heads=self.heads, max_position_embeddings=256, tie_word_embeddings=True,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
            bos_token_id=self.tokenizer.eos_token_id,
        )
        config._attn_implementation = "eager"
        torch.manual_seed(self.seed)
        model = LlamaForCausalLM(config)
        # tied embeddings at scale 1/sqrt(hidden): initial logits of order one, so the loss starts
        # near log(vocab) and a few LoRA steps move it substantially
        with torch.no_grad():
            model.model.embed_tokens.weight.normal_(0.0, self.embed_std / self.hidden ** 0.5)
        return model.eval()

    def lora_model(self):
        return add_lora(self.base_model(), rank=self.rank, seed=self.seed)


def save_adapter(model, out_dir: str | Path, *, tokenizer=None, base_model=None, manifest: dict | None = None,
                 checkpoints: Sequence[Checkpoint] = (), train: pl.DataFrame | None = None) -> Path:
    """Write an adapter folder in the training contract's layout, atomically.

    ``adapter_model.safetensors`` + ``adapter_config.json`` (peft), ``olkit_manifest.json``,
    ``checkpoints/step-N/`` (peft adapter of the LoRA state, ``checkpoint.json`` with step and
    learning rate, and Adam's preconditioner when known) and, for models that are not on disk
    elsewhere (the tiny model), ``base/`` with the base model and tokenizer; ``train`` is saved as
    ``olkit_train.parquet`` so the folder is self-contained for ``olkit attribute``.
    """

    from safetensors.torch import save_file

    from olkit.kit import atomic_dir

    out = Path(out_dir)
    with atomic_dir(out, overwrite=True) as tmp:
        current = lora_state(model)
        model.save_pretrained(tmp)
        for ck in checkpoints:
            folder = tmp / "checkpoints" / f"step-{ck.step}"
            load_lora_state(model, ck.state)
            model.save_pretrained(folder)
            (folder / "checkpoint.json").write_text(json.dumps({"step": ck.step, "learning_rate": ck.lr}))
            if ck.precond is not None:
                save_file({k: v.contiguous() for k, v in ck.precond.items()}, str(folder / PRECOND_FILE))
        load_lora_state(model, current)
        if base_model is not None:
            base_model.save_pretrained(tmp / "base")
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp / "base" if base_model is not None else tmp)
        if train is not None:
            train.write_parquet(tmp / TRAIN_FILE)
        body = {"format": "olkit-adapter/1", **(manifest or {})}
        if train is not None and "submission_ids" not in body:
            body["submission_ids"] = train["submission_id"].to_list()
        (tmp / "olkit_manifest.json").write_text(json.dumps(body, indent=2, default=str))
    return out


PRECOND_FILE = "olkit_adam_precond.safetensors"
TRAIN_FILE = "olkit_train.parquet"
