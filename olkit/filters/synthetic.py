"""Synthetic (machine-generated) text detection with the embedded SmolLM2.

Machine-generated text is *unsurprising* to a language model: its tokens sit high in the model's
ranking, its per-token log-probabilities are high and even, and it beats the model's own expected
log-probability by more than human text does.  Three parts:

* :class:`LMFeatureExtractor` runs SmolLM2-135M-Instruct (``olkit.embedded.smollm2_path()``) over
  the response *given the instruction* (chat template, batched forward passes under
  ``torch.inference_mode``, truncated to a few hundred tokens) and turns per-token log-probability,
  rank and entropy into a handful of per-item features (:data:`FEATURES`): mean/std log-prob,
  perplexity, mean log-rank, top-1/top-10 hit rates, mean entropy, the log-likelihood/log-rank
  ratio (DetectLLM LRR) and the analytic sampling-discrepancy curvature of Fast-DetectGPT.
  Features are cached on disk by a hash of the content and the extractor settings, so each item
  is scored by the LM once, ever.
* :class:`SyntheticTextClassifier` is a standardised logistic regression on those features with
  Platt calibration fitted on out-of-fold scores, ``fit``/``predict_proba`` like an sklearn
  estimator, saved as a small JSON of coefficients (``data/models/synthetic_detector.json``).
* :class:`SyntheticFilter` plugs both into the filter contract: ``score`` gives
  ``synthetic.prob`` (calibrated probability the response is machine-generated) plus the raw
  features, and ``synthetic.human_fpr``; ``decide`` rejects with ``synthetic.machine_generated``
  when that false-positive rate on human text is at most ``policy.synthetic.target_fpr``.

The shipped default is refitted with ``scripts/refit_synthetic_detector.py``.

Example
-------
>>> import polars as pl
>>> from olkit.filters.synthetic import SyntheticFilter
>>> from olkit.filters.config import FilterPolicy
>>> batch = pl.DataFrame({"submission_id": ["a"], "instruction": ["Name a fruit."],
...                       "response": ["An apple is a fruit."]})
>>> f = SyntheticFilter()
>>> scores = f.score(batch)            # runs SmolLM2 once (cached on disk)
>>> f.decide(scores, FilterPolicy()).columns
['submission_id', 'passed', 'score', 'reason_code', 'reason_codes']
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from olkit.errors import InputError
from olkit.filters.base import Filter, rule_decisions
from olkit.filters.calibrated import CalibratedLogistic
from olkit.filters.config import FilterPolicy
from olkit.filters.fpr import HumanFprCalibration
from olkit.filters.metrics import auroc  # noqa: F401  (re-exported: notebook 02 imports it from here)
from olkit.filters.score_cache import PartCache
from olkit.kit import auto_bf16

#: Per-item features computed by :class:`LMFeatureExtractor` (column order of the feature matrix).
FEATURES: tuple[str, ...] = (
    "mean_logprob",     # mean log p(token | prefix) over response tokens
    "std_logprob",      # spread of the per-token log-probs (human text is burstier)
    "log_ppl",          # log perplexity of the response given the instruction (= -mean_logprob)
    "mean_log_rank",    # mean log(rank of the observed token), rank 1 = the model's top choice
    "top1_rate",        # share of tokens that are the model's top-1 choice
    "top10_rate",       # share of tokens in the model's top 10
    "mean_entropy",     # mean entropy of the next-token distribution (nats)
    "lrr",              # DetectLLM log-likelihood / log-rank ratio
    "curvature",        # Fast-DetectGPT analytic sampling discrepancy (z-score of the log-lik)
    "logprob_gap",      # mean (log p(token) + entropy): log-lik above the model's expectation
    "log_n_tokens",     # log(1 + number of response tokens scored)
    # -- v2: length-free, robust and local versions of the curvature (zero-shot, no generator fit)
    "norm_curvature",   # curvature / sqrt(n tokens): the per-token discrepancy, free of length
    "robust_curvature", # sum of per-token z = gap / sd clipped to [-2, 2], over sqrt(n): a few
                        # surprising content words (copied names, numbers) cannot dominate it
    "gap_pos_rate",     # share of tokens more likely than the model expects (log p + entropy > 0)
    "entropy_ratio",    # log_ppl / mean_entropy: observed over expected loss (one-model Binoculars)
    "curvature_tail",   # curvature of the second half of the scored tokens (a machine continuation)
    "curvature_max_window",  # max over 16-token windows (stride 8) of the windowed curvature
)

#: The features of the first version (what ``benchmarks/baselines/synthetic_detector_v1.json`` uses).
FEATURES_V1: tuple[str, ...] = FEATURES[:11]

#: The features the shipped detector's logistic uses: to be set to the candidate
#: ``benchmarks/synthetic_bench.py --select-only`` chooses on machine fold 0 (until then, the
#: FEATURE_VERSION 1 features the shipped model was fitted on).
DETECTOR_FEATURES: tuple[str, ...] = FEATURES_V1

#: Version of the feature definitions; part of the disk-cache key.
FEATURE_VERSION = 2

#: How the response is conditioned on the instruction: ``"chat_template"`` = the tokenizer's own
#: chat template (for SmolLM2 that includes its default system prompt, the distribution its chat
#: output is sampled from); ``"plain"`` = bare ``<|im_start|>user ... <|im_start|>assistant`` turns
#: (FEATURE_VERSION 1).
PROMPTS: tuple[str, ...] = ("chat_template", "plain")

#: The extractor settings of models saved before they recorded theirs (FEATURE_VERSION 1).
LEGACY_EXTRACTOR_SETTINGS: dict[str, Any] = {"prompt": "plain", "max_response_tokens": 64, "max_instruction_tokens": 48}

#: Window of :data:`FEATURES` ``curvature_max_window`` (tokens; the stride is half of it).
WINDOW_TOKENS = 16

DEFAULT_MODEL_FILE = "synthetic_detector.json"


# --------------------------------------------------------------------------------------------
# LM features
# --------------------------------------------------------------------------------------------

def bf16_enabled() -> bool:
    """Whether LM scoring runs in bfloat16: :func:`olkit.kit.auto_bf16` on the CPU (native bf16 and
    not ``OLKIT_BF16=0``)."""
    return auto_bf16()


def resolve_dtype(dtype: str) -> str:
    """``"auto"`` -> ``"bfloat16"`` where :func:`bf16_enabled`, else ``"float32"``; others unchanged."""
    if dtype == "auto":
        return "bfloat16" if bf16_enabled() else "float32"
    if dtype not in ("float32", "bfloat16"):
        raise InputError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}", field="dtype")
    return dtype


#: Forward passes run by :func:`_load_lm` models since import (for tests that count model work).
LM_CALLS = {"batches": 0, "items": 0}


@cache
def _load_lm(path: str, dtype: str = "float32"):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model.eval()
    return tokenizer, model


@dataclass
class LMFeatureExtractor:
    """Per-token log-prob / rank / entropy features of responses, from a causal LM.

    Parameters
    ----------
    model_path:
        A transformers causal-LM folder (default: the embedded SmolLM2-135M-Instruct).
    max_response_tokens, max_instruction_tokens:
        Truncation: the first ``max_response_tokens`` response tokens are scored, conditioned on
        the first ``max_instruction_tokens`` instruction tokens.
    prompt:
        How the response is conditioned on the instruction, one of :data:`PROMPTS`.
    batch_size, max_batch_tokens:
        At most ``batch_size`` items and ``max_batch_tokens`` (padded) tokens per forward pass;
        items are sorted by length and cut into buckets of similar length, so padding stays small
        (the attention mask hides it; results do not depend on the batch an item lands in).
    dtype:
        ``"auto"`` (bfloat16 where the CPU computes it natively, unless ``OLKIT_BF16=0``),
        ``"float32"`` or ``"bfloat16"``.  Part of the cache key.
    cache:
        Keep features on disk under ``<olkit cache>/lm_features/<settings hash>/`` keyed by a
        content hash (``True`` by default; ``False`` for none, or a folder).
    also_spans:
        Shorter response spans (tokens) whose features are computed in the same forward passes
        (the LM is causal: the first N tokens' statistics do not depend on later ones) and written
        to the caches of extractors with ``max_response_tokens=N``; for measuring features against
        the scored length at the cost of one pass.  Not part of the cache key.
    """

    model_path: str | Path | None = None
    max_response_tokens: int = 64
    max_instruction_tokens: int = 48
    prompt: str = "plain"
    batch_size: int = 64
    max_batch_tokens: int = 4096
    dtype: str = "auto"
    cache: bool | str | Path = True
    show_progress: bool = True
    max_cache_parts: int = 64
    also_spans: tuple[int, ...] = ()
    n_computed: int = field(default=0, init=False)
    n_cached: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.prompt not in PROMPTS:
            raise InputError(f"prompt must be one of {PROMPTS}, got {self.prompt!r}", field="prompt")
        if self.max_response_tokens < 1 or self.max_instruction_tokens < 0:
            raise InputError("max_response_tokens must be >= 1 and max_instruction_tokens >= 0",
                             field="max_response_tokens")

    # -- identity / cache ---------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The settings that change the features (stored with a fitted detector, see
        :meth:`SyntheticFilter.extractor`)."""
        return {"prompt": self.prompt, "max_response_tokens": self.max_response_tokens,
                "max_instruction_tokens": self.max_instruction_tokens}

    @property
    def resolved_model_path(self) -> Path:
        if self.model_path is None:
            from olkit.embedded import smollm2_path

            return smollm2_path()
        return Path(self.model_path)

    @property
    def settings_key(self) -> str:
        name = "smollm2-135m-instruct" if self.model_path is None else Path(self.model_path).name
        raw = f"{name}|{self.max_response_tokens}|{self.max_instruction_tokens}|v{FEATURE_VERSION}|{self.prompt}"
        if resolve_dtype(self.dtype) != "float32":  # float32 keeps the key it always had
            raw += f"|{resolve_dtype(self.dtype)}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def cache_dir(self) -> Path | None:
        if self.cache is False:
            return None
        if self.cache is True:
            from olkit.embedded import cache_dir

            root = cache_dir() / "lm_features"
        else:
            root = Path(self.cache)
        return root / self.settings_key

    @staticmethod
    def item_keys(instructions: Sequence[str], responses: Sequence[str]) -> list[str]:
        """Content hash of each (instruction, response) pair."""
        return [hashlib.blake2b(f"{i}\x1f{r}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
                for i, r in zip(instructions, responses, strict=True)]

    def _read_cache(self, keys: list[str]) -> pl.DataFrame | None:
        folder = self.cache_dir
        return None if folder is None else PartCache(folder, max_parts=self.max_cache_parts).read(keys)

    def _write_cache(self, frame: pl.DataFrame) -> None:
        folder = self.cache_dir
        if folder is not None:
            PartCache(folder, max_parts=self.max_cache_parts).write(frame)

    # -- public -------------------------------------------------------------------------------
    def transform(self, instructions: Sequence[str | None], responses: Sequence[str | None]) -> pl.DataFrame:
        """A frame with one row per item and the :data:`FEATURES` columns (``Float64``).

        Items whose response is empty (or scores no token) get nulls.
        """
        instructions = ["" if x is None else str(x) for x in instructions]
        responses = ["" if x is None else str(x) for x in responses]
        if len(instructions) != len(responses):
            raise InputError("instructions and responses differ in length", field="response")
        keys = self.item_keys(instructions, responses)
        if not keys:
            return pl.DataFrame(schema={f: pl.Float64 for f in FEATURES})
        order = pl.DataFrame({"key": keys, "_i": np.arange(len(keys))}, schema={"key": pl.String, "_i": pl.Int64})
        cached = self._read_cache(keys)
        have = set() if cached is None else set(cached.get_column("key").to_list())
        todo: dict[str, int] = {}
        for i, (k, r) in enumerate(zip(keys, responses, strict=True)):
            if k not in have and k not in todo and r.strip():
                todo[k] = i
        self.n_cached += len(keys) - len(todo)
        parts = [] if cached is None else [cached]
        if todo:
            idx = list(todo.values())
            spans = self._compute([instructions[i] for i in idx], [responses[i] for i in idx])
            new = pl.DataFrame({"key": list(todo)}).hstack(spans.pop(self.max_response_tokens))
            self._write_cache(new)
            for span, feats in spans.items():
                replace(self, max_response_tokens=span, also_spans=())._write_cache(
                    pl.DataFrame({"key": list(todo)}).hstack(feats))
            self.n_computed += len(todo)
            parts.append(new)
        schema = {"key": pl.String, **{f: pl.Float64 for f in FEATURES}}
        table = pl.concat([p.select(list(schema)).cast(schema) for p in parts]) if parts \
            else pl.DataFrame(schema=schema)
        return order.join(table, on="key", how="left").sort("_i").select(list(FEATURES))

    # -- the forward passes -------------------------------------------------------------------
    def _tokenize(self, tokenizer, instructions: list[str], responses: list[str]) -> list[tuple[list[int], int]]:
        # Cut characters first so megabyte strings never reach the tokenizer whole.
        instr_ids = tokenizer([s[: self.max_instruction_tokens * 16] for s in instructions],
                              add_special_tokens=False)["input_ids"]
        resp_ids = tokenizer([s[: self.max_response_tokens * 16] for s in responses],
                             add_special_tokens=False)["input_ids"]
        head, mid = self._prompt_parts(tokenizer)
        out = []
        for ins, res in zip(instr_ids, resp_ids, strict=True):
            prefix = head + ins[: self.max_instruction_tokens] + mid
            out.append((prefix + res[: self.max_response_tokens], len(prefix)))
        return out

    def _prompt_parts(self, tokenizer) -> tuple[list[int], list[int]]:
        """Token ids before and after the instruction in the conditioning prompt."""
        if self.prompt == "plain":
            head, mid = "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
        else:  # the tokenizer's own template, split around a placeholder instruction
            mark = "\x00INSTRUCTION\x00"
            text = tokenizer.apply_chat_template([{"role": "user", "content": mark}], tokenize=False,
                                                 add_generation_prompt=True)
            head, _, mid = text.partition(mark)
        return (tokenizer(head, add_special_tokens=False)["input_ids"],
                tokenizer(mid, add_special_tokens=False)["input_ids"])

    def _compute(self, instructions: list[str], responses: list[str]) -> dict[int, pl.DataFrame]:
        """Features of every item at ``max_response_tokens`` and each of ``also_spans``."""
        import torch

        tokenizer, model = _load_lm(str(self.resolved_model_path), resolve_dtype(self.dtype))
        seqs = self._tokenize(tokenizer, instructions, responses)
        n = len(seqs)
        spans = sorted({self.max_response_tokens, *(int(s) for s in self.also_spans
                                                    if 0 < int(s) < self.max_response_tokens)})
        out = {s: np.full((n, len(FEATURES)), np.nan, dtype=np.float64) for s in spans}
        lengths = np.array([len(s) for s, _ in seqs], dtype=np.int64)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        batches = length_buckets(lengths, self.batch_size, self.max_batch_tokens)
        bar = tqdm(total=n, desc="SmolLM2 features", unit="item",
                   disable=not self.show_progress or n < 2 * self.batch_size)
        with torch.inference_mode():
            for rows in batches:
                items = [seqs[i] for i in rows]
                width = max(len(s) for s, _ in items)
                ids = torch.full((len(items), width), pad, dtype=torch.long)
                att = torch.zeros((len(items), width), dtype=torch.long)
                target = torch.zeros((len(items), width), dtype=torch.bool)
                for j, (s, start) in enumerate(items):
                    ids[j, : len(s)] = torch.tensor(s, dtype=torch.long)
                    att[j, : len(s)] = 1
                    target[j, start: len(s)] = True
                for span, feats in zip(spans, self._batch_features(model, ids, att, target, spans), strict=True):
                    out[span][rows] = feats
                LM_CALLS["batches"] += 1
                LM_CALLS["items"] += len(rows)
                bar.update(len(rows))
        bar.close()
        return {s: pl.DataFrame(v, schema=list(FEATURES), orient="row").fill_nan(None) for s, v in out.items()}

    @staticmethod
    def _batch_features(model, ids, att, target, spans: Sequence[int]) -> list[np.ndarray]:
        import torch

        hidden = model.model(input_ids=ids, attention_mask=att).last_hidden_state  # (B, L, H)
        # hidden state at position p predicts the token at p + 1
        pred_mask = target[:, 1:]
        h = hidden[:, :-1][pred_mask]                       # (T, H)
        tok = ids[:, 1:][pred_mask]                         # (T,)
        seg = torch.arange(ids.shape[0]).unsqueeze(1).expand_as(pred_mask)[pred_mask]
        lp_list, rank_list, ent_list, var_list = [], [], [], []
        for lo in range(0, h.shape[0], 1024):               # bounded memory for the vocab axis
            # one vocabulary-wide buffer, updated in place: logits -> log-probs -> p*logp -> p*logp^2
            z = model.lm_head(h[lo: lo + 1024]).float()
            t = tok[lo: lo + 1024]
            z_tok = z.gather(1, t.unsqueeze(1))
            rank = (z > z_tok).sum(1) + 1
            z.sub_(torch.logsumexp(z, dim=-1, keepdim=True))
            lp_tok = z.gather(1, t.unsqueeze(1)).squeeze(1)
            pz = z.exp().mul_(z)
            mean_lp = pz.sum(1)                              # = -entropy
            var_lp = pz.mul_(z).sum(1) - mean_lp.square()
            lp_list.append(lp_tok)
            rank_list.append(rank)
            ent_list.append(-mean_lp)
            var_list.append(var_lp.clamp_min(0))
        b = ids.shape[0]
        if not lp_list:
            return [np.full((b, len(FEATURES)), np.nan) for _ in spans]
        pos = (pred_mask.cumsum(1) - 1)[pred_mask]           # position of each token in its response
        stats = (torch.cat(lp_list), torch.cat(rank_list), torch.cat(ent_list), torch.cat(var_list), seg, pos)
        out = []
        for span in spans:
            keep = pos < span
            out.append(token_features(*(x[keep] for x in stats), b))
        return out


def token_features(lp, rank, ent, var, seg, pos, n_items: int):
    """Per-item :data:`FEATURES` from per-token statistics (torch tensors, one row per scored token).

    ``lp`` log p(token), ``rank`` its rank (1 = top choice), ``ent`` the entropy and ``var`` the
    variance of log p under the model's next-token distribution, ``seg`` the item each token belongs
    to and ``pos`` its position in that item's response.  Returns an ``(n_items, len(FEATURES))``
    float64 array, NaN rows for items without tokens.
    """
    import torch

    lp, ent, var = lp.double(), ent.double(), var.double().clamp_min(0)
    lrank = rank.double().log()
    seg, pos = seg.long(), pos.long()
    b = n_items

    def seg_sum(x, index=seg, size=b):
        return torch.zeros(size, dtype=torch.float64).index_add_(0, index, x)

    cnt = seg_sum(torch.ones_like(lp))
    safe = cnt.clamp_min(1)
    mean_lp = seg_sum(lp) / safe
    std_lp = (seg_sum(lp.square()) / safe - mean_lp.square()).clamp_min(0).sqrt()
    mean_lrank = seg_sum(lrank) / safe
    top1 = seg_sum((lrank == 0).double()) / safe
    top10 = seg_sum((lrank <= math.log(10)).double()) / safe
    mean_ent = seg_sum(ent) / safe
    lrr = -mean_lp / mean_lrank.clamp_min(1e-3)
    gap = lp + ent
    gap_sum = seg_sum(gap)
    curvature = gap_sum / seg_sum(var).clamp_min(1e-6).sqrt()
    # v2
    norm_curv = curvature / safe.sqrt()
    z_tok = (gap / var.clamp_min(1e-6).sqrt()).clamp(-2.0, 2.0)
    robust = seg_sum(z_tok) / safe.sqrt()
    pos_rate = seg_sum((gap > 0).double()) / safe
    ent_ratio = -mean_lp / mean_ent.clamp_min(1e-3)
    tail = (pos >= (cnt[seg].long() // 2)).double()
    curv_tail = seg_sum(gap * tail) / seg_sum(var * tail).clamp_min(1e-6).sqrt()
    # windows of WINDOW_TOKENS tokens at a stride of half that: pairs of consecutive half-blocks
    half = WINDOW_TOKENS // 2
    n_blocks = int(pos.max().item()) // half + 2
    flat = seg * n_blocks + pos // half
    g_b = seg_sum(gap, flat, b * n_blocks).view(b, n_blocks)
    v_b = seg_sum(var, flat, b * n_blocks).view(b, n_blocks)
    c_b = seg_sum(torch.ones_like(gap), flat, b * n_blocks).view(b, n_blocks)
    g_w, v_w, c_w = (x[:, :-1] + x[:, 1:] for x in (g_b, v_b, c_b))
    z_w = (g_w / v_w.clamp_min(1e-6).sqrt()).masked_fill(c_w < WINDOW_TOKENS, -math.inf)
    max_win = z_w.max(dim=1).values
    max_win = torch.where(torch.isfinite(max_win), max_win, curvature)  # shorter than one window
    cols = [mean_lp, std_lp, -mean_lp, mean_lrank, top1, top10, mean_ent, lrr, curvature,
            gap_sum / safe, (cnt + 1).log(), norm_curv, robust, pos_rate, ent_ratio, curv_tail, max_win]
    res = torch.stack(cols, dim=1).numpy()
    res[cnt.numpy() == 0] = np.nan
    return res


def length_buckets(lengths: np.ndarray, max_items: int, max_tokens: int) -> list[np.ndarray]:
    """Indices cut into batches of similar length: sorted by length, each batch at most
    ``max_items`` items and ``max_tokens`` padded tokens (a longer single item gets its own batch).

    >>> [b.tolist() for b in length_buckets(np.array([5, 50, 6, 49]), max_items=8, max_tokens=100)]
    [[0, 2], [3, 1]]
    """
    order = np.argsort(lengths, kind="stable")
    out: list[np.ndarray] = []
    start = 0
    for i in range(len(order)):
        width = int(lengths[order[i]])
        if i > start and ((i - start + 1) * width > max_tokens or i - start >= max_items):
            out.append(order[start:i])
            start = i
    if start < len(order):
        out.append(order[start:])
    return out


# --------------------------------------------------------------------------------------------
# Calibrated classifier
# --------------------------------------------------------------------------------------------

class SyntheticTextClassifier(CalibratedLogistic):
    """:class:`CalibratedLogistic` over the LM :data:`FEATURES` (1 = machine-generated), plus the
    scores of human text of several genres that set the threshold for a target false-positive rate.

    ``human_calibration`` maps a genre (source) to the sorted decision values of its human items,
    each computed by a model that did not see that genre (:func:`fit_detector_by_fpr`).
    :meth:`human_fpr` then says, for any score, the largest share of one genre's human text that
    scores at least as high: the false-positive rate a threshold at that score would have on the
    worst genre.  A policy's ``target_fpr`` is compared with it at decide time.
    """

    kind: ClassVar[str] = "olkit.synthetic_text_classifier"

    def __init__(self, features: Sequence[str] = FEATURES, *, C: float = 1.0, cv: int = 5,
                 seed: int = 0) -> None:
        super().__init__(features, C=C, cv=cv, seed=seed)
        self.human_calibration: dict[str, np.ndarray] = {}

    def calibrate_fpr(self, scores_by_source: dict[str, Sequence[float]]) -> SyntheticTextClassifier:
        """Store human decision values per source (NaNs dropped); returns ``self``."""
        self.human_calibration = HumanFprCalibration(scores_by_source, flag="high").scores
        return self

    def human_fpr(self, decision: np.ndarray) -> np.ndarray:
        """Max over calibration sources of the share of its human items scoring >= ``decision``
        (:meth:`olkit.filters.fpr.HumanFprCalibration.human_fpr`, high scores flagged)."""
        if not self.human_calibration:
            raise InputError("this synthetic-text model has no human calibration scores: refit it with "
                             "scripts/refit_synthetic_detector.py", field="human_calibration")
        return HumanFprCalibration(self.human_calibration, flag="high").human_fpr(decision)

    def threshold_for(self, target_fpr: float) -> float:
        """The smallest human calibration score whose :meth:`human_fpr` is at most ``target_fpr``
        (every decision value at or above it is rejected at that rate)."""
        cands = np.unique(np.concatenate(list(self.human_calibration.values())))
        ok = cands[self.human_fpr(cands) <= target_fpr]
        return float(np.nextafter(cands.max(), np.inf)) if len(ok) == 0 else float(ok.min())

    def to_dict(self) -> dict[str, Any]:
        out = {**super().to_dict(), "feature_version": FEATURE_VERSION}
        if self.human_calibration:
            out["human_calibration"] = {k: [float(f"{x:.6g}") for x in v] for k, v in self.human_calibration.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> SyntheticTextClassifier:
        clf = super().from_dict(data, source=source)
        cal = data.get("human_calibration") or {}
        try:
            clf.human_calibration = {str(k): np.sort(np.asarray(v, dtype=np.float64)) for k, v in cal.items()}
        except (TypeError, ValueError, AttributeError) as err:
            raise InputError(f"bad human_calibration: {err!r}", file=source, field="human_calibration") from None
        if any(len(v) == 0 for v in clf.human_calibration.values()):
            raise InputError("a human_calibration source has no scores", file=source, field="human_calibration")
        return clf


def default_model_path(name: str = DEFAULT_MODEL_FILE) -> Path:
    """Where the shipped fitted models live (``data/models/``)."""
    from olkit.paths import data_dir

    return data_dir() / "models" / name


@cache
def default_classifier() -> SyntheticTextClassifier:
    """The shipped fitted detector."""
    return SyntheticTextClassifier.load(default_model_path())


# --------------------------------------------------------------------------------------------
# The filter
# --------------------------------------------------------------------------------------------

class SyntheticFilter(Filter):
    """Reject responses the LM-feature classifier calls machine-generated.

    Scores: ``synthetic.prob`` (calibrated probability), ``synthetic.human_fpr`` (the share of the
    worst calibration genre's human text that scores at least as high, see
    :meth:`SyntheticTextClassifier.human_fpr`), ``synthetic.log_ppl`` and ``synthetic.curvature``
    (for inspection).  Decision: reject with ``synthetic.machine_generated`` when
    ``human_fpr <= policy.synthetic.target_fpr``; items that could not be scored (empty response)
    pass (the format filters deal with those).
    """

    name: ClassVar[str] = "synthetic"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "synthetic.machine_generated"

    def __init__(self, classifier: SyntheticTextClassifier | str | Path | None = None,
                 extractor: LMFeatureExtractor | None = None) -> None:
        if isinstance(classifier, str | Path):
            classifier = SyntheticTextClassifier.load(classifier)
        self._classifier = classifier
        self._extractor = extractor

    @property
    def extractor(self) -> LMFeatureExtractor:
        """The feature extractor: the one given, else one with the settings the classifier was
        fitted with (``metadata["extractor"]``).  A given extractor whose settings differ from the
        classifier's is an :class:`~olkit.errors.InputError` (its features would mean other things).
        A model without recorded settings was fitted with :data:`LEGACY_EXTRACTOR_SETTINGS`."""
        fitted = self.classifier.metadata.get("extractor") or LEGACY_EXTRACTOR_SETTINGS
        if self._extractor is None:
            self._extractor = LMFeatureExtractor(**fitted)
        elif {k: fitted.get(k) for k in self._extractor.settings()} != self._extractor.settings():
            raise InputError(f"the extractor's settings {self._extractor.settings()} differ from the ones "
                             f"the synthetic-text classifier was fitted with {fitted}", field="extractor")
        return self._extractor

    @property
    def classifier(self) -> SyntheticTextClassifier:
        if self._classifier is None:
            self._classifier = default_classifier()
        return self._classifier

    def features(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The raw LM features of a batch (``response``, or ``text`` for documents)."""
        n = batch.height
        instr = batch.get_column("instruction").to_list() if "instruction" in batch.columns else [None] * n
        resp = batch.get_column("response").to_list() if "response" in batch.columns else [None] * n
        if "text" in batch.columns:
            text = batch.get_column("text").to_list()
            resp = [r if r else t for r, t in zip(resp, text, strict=True)]
        return self.extractor.transform(instr, resp)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        feats = self.features(batch)
        clf = self.classifier
        prob = clf.predict_proba(feats) if feats.height else np.zeros(0)
        decision = np.where(np.isfinite(prob), clf.decision_function(feats), np.nan) if feats.height else prob
        return pl.DataFrame({
            "submission_id": batch.get_column("submission_id"),
            "synthetic.prob": pl.Series(prob, dtype=pl.Float64).fill_nan(None),
            "synthetic.human_fpr": pl.Series(clf.human_fpr(decision), dtype=pl.Float64).fill_nan(None),
            "synthetic.log_ppl": feats.get_column("log_ppl"),
            "synthetic.curvature": feats.get_column("curvature"),
        })

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.synthetic
        fpr = pl.col("synthetic.human_fpr")
        return rule_decisions(scores, [(self.reason_code, fpr <= p.target_fpr)], pl.col("synthetic.prob"),
                              enabled=p.enabled)


# --------------------------------------------------------------------------------------------
# Refit the shipped default
# --------------------------------------------------------------------------------------------

def training_frame(frame: pl.DataFrame, *, human_labels: Sequence[str] = ("genuine",),
                   synthetic_label: str = "synthetic") -> pl.DataFrame:
    """Rows usable to fit the detector: human-written (``genuine``) vs ``synthetic``, non-empty."""
    return frame.filter(pl.col("label").is_in([*human_labels, synthetic_label])
                        & (pl.col("response").fill_null("").str.strip_chars() != ""))


def fit_detector(frame: pl.DataFrame, *, extractor: LMFeatureExtractor | None = None, seed: int = 0,
                 C: float = 1.0) -> SyntheticTextClassifier:
    """Fit a :class:`SyntheticTextClassifier` on a labelled frame (``label == "synthetic"`` = 1)."""
    data = training_frame(frame)
    extractor = extractor or LMFeatureExtractor()
    feats = extractor.transform(data.get_column("instruction").to_list(), data.get_column("response").to_list())
    y = (data.get_column("label") == "synthetic").to_numpy()
    return SyntheticTextClassifier(seed=seed, C=C).fit(feats, y)


def fit_features_by_fpr(human: np.ndarray, sources: Sequence[str], machine: np.ndarray, *,
                        extra_human: np.ndarray | None = None, seed: int = 0, C: float = 1.0,
                        features: Sequence[str] = FEATURES) -> SyntheticTextClassifier:
    """Fit on feature matrices and calibrate the human false-positive rate leave-source-out.

    ``human`` rows (one genre per row in ``sources``) and ``extra_human`` rows are label 0,
    ``machine`` rows label 1.  The classifier is fitted on all rows; the human calibration scores
    of each source come from a fit *without that source's rows*, so :meth:`~SyntheticTextClassifier.
    human_fpr` estimates the rate on a genre the model has not seen (an in-sample score would be
    optimistic).  ``extra_human`` (e.g. the sample datanet's genuine answers) trains but does not
    calibrate.  The matrices' columns are ``features`` (default all :data:`FEATURES`).
    """
    human = np.asarray(human, dtype=np.float64)
    machine = np.asarray(machine, dtype=np.float64)
    src = np.asarray([str(s) for s in sources])
    if len(src) != len(human):
        raise InputError(f"{len(src)} sources for {len(human)} human rows", field="source")
    extra = np.zeros((0, human.shape[1])) if extra_human is None else np.asarray(extra_human, dtype=np.float64)

    def fit(mask: np.ndarray) -> SyntheticTextClassifier:
        X = np.vstack([human[mask], extra, machine])
        y = np.r_[np.zeros(int(mask.sum()) + len(extra)), np.ones(len(machine))]
        return SyntheticTextClassifier(features, seed=seed, C=C).fit(X, y)

    names = sorted(set(src.tolist()))
    cal = {}
    for name in names:
        inside = src == name
        cal[name] = fit(~inside).decision_function(human[inside]) if len(names) > 1 else \
            fit(np.ones(len(src), bool)).decision_function(human[inside])
    clf = fit(np.ones(len(src), bool)).calibrate_fpr(cal)
    clf.metadata.update(calibration="leave-source-out", human_sources={n: int((src == n).sum()) for n in names},
                        n_machine=int(len(machine)), n_extra_human=int(len(extra)))
    return clf


def fit_detector_by_fpr(human: pl.DataFrame, machine: pl.DataFrame, *, extra_human: pl.DataFrame | None = None,
                        extractor: LMFeatureExtractor | None = None, seed: int = 0, C: float = 1.0,
                        features: Sequence[str] = FEATURES) -> SyntheticTextClassifier:
    """:func:`fit_features_by_fpr` on frames with ``instruction``/``response`` (``human`` also
    ``source``), LM features from ``extractor``; the extractor's settings go into the model's
    metadata so :class:`SyntheticFilter` scores with the same ones."""
    extractor = extractor or LMFeatureExtractor()
    if "source" not in human.columns:
        raise InputError("human text needs a 'source' column (its genre) to calibrate on", field="source")

    def feats(frame: pl.DataFrame) -> np.ndarray:
        return extractor.transform(frame["instruction"].to_list(),
                                   frame["response"].to_list()).select(list(features)).to_numpy()

    hx = feats(human)
    ok = np.isfinite(hx).all(axis=1)
    mx = feats(machine)
    ex = None if extra_human is None else feats(extra_human)
    clf = fit_features_by_fpr(hx[ok], human["source"].to_numpy()[ok], mx[np.isfinite(mx).all(axis=1)],
                              extra_human=None if ex is None else ex[np.isfinite(ex).all(axis=1)],
                              seed=seed, C=C, features=features)
    clf.metadata["extractor"] = extractor.settings()
    return clf
