"""``olkit train`` and ``olkit generate``.

Examples::

    olkit train --base smollm2-135m --policy policy.yaml --store ledger.duckdb --out adapters/a1 --steps 60
    olkit generate --adapter adapters/a1 "What does shutil.copytree do?"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from olkit.cli import UserError, emit

#: Default held-out set of ``olkit train`` (scored before and after training): bounded so that a
#: short run (``--steps 3``) is short; on SmolLM2 with 2 AVX2 cores each example costs ~1 CPU s per pass.
DEFAULT_MAX_EVAL = 16


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train", help="fine-tune LoRA/QLoRA adapters on the submissions a policy selects",
        description="Select training data from a store by the policy's training section (accepted by the "
                    "latest filter decisions, all, or reputation-weighted), fine-tune a QLoRA adapter on "
                    "the base model, save it with a manifest of the exact submission ids, and register it "
                    "in the store.")
    p.add_argument("--base", default="smollm2-135m",
                   help="registered model name, local folder or hub id (default: smollm2-135m)")
    p.add_argument("--store", required=True, help="the DuckDB ledger to read submissions/decisions from")
    p.add_argument("--out", required=True, help="adapter folder to write")
    p.add_argument("--policy", help="policy YAML/JSON (its 'training' section selects the data)")
    p.add_argument("--mode", choices=["accepted", "all", "reputation_weighted"],
                   help="override the policy's training mode")
    p.add_argument("--max-examples", type=int, help="cap the number of training examples")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--max-length", type=int, default=256, help="tokens per example (default 256)")
    p.add_argument("--quantization", choices=["nf4", "fp4", "none"], default="nf4",
                   help="4-bit base (QLoRA) or none (plain LoRA); default nf4")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--optimizer", default="adamw",
                   choices=["adamw", "sgd", "paged_adamw", "paged_adamw_8bit", "adamw_8bit"])
    p.add_argument("--checkpoint-every", type=int, default=0, help="adapter checkpoint every N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-eval", type=int, default=DEFAULT_MAX_EVAL,
                   help=f"held-out examples scored before and after training (default {DEFAULT_MAX_EVAL}; "
                        "0: none); each costs about a training example's forward pass, twice")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--no-register", action="store_true", help="do not record the adapter in the store")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars or phase lines (they go to stderr, also with --json)")
    p.set_defaults(func=_train)

    g = subparsers.add_parser("generate", help="generate a reply with a base model and an optional adapter",
                              description="Generate a reply to PROMPT (chat template applied).")
    g.add_argument("prompt")
    g.add_argument("--base", help="base model (default: the adapter manifest's base, else smollm2-135m)")
    g.add_argument("--adapter", help="adapter folder")
    g.add_argument("--max-new-tokens", type=int, default=96)
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=0.7)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quantization", choices=["nf4", "fp4", "none"], default="nf4")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_generate)


def _quant(q: str) -> str | None:
    return None if q == "none" else q


def _train(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from olkit.policy import Policy
    from olkit.store import Store
    from olkit.train.adapters import register_adapter
    from olkit.train.data import build_examples, split_and_select
    from olkit.train.models import load_base
    from olkit.train.qlora import TrainConfig, train

    store_path = Path(args.store)
    if not store_path.exists():
        raise UserError(f"{store_path}: no such store file")
    policy = Policy.load(args.policy) if args.policy else Policy()
    selection = policy.training
    if args.mode or args.max_examples:
        selection = selection.model_copy(update={k: v for k, v in
                                                 {"mode": args.mode, "max_examples": args.max_examples}.items() if v})
    try:
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                             learning_rate=args.lr, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
                             max_length=args.max_length, quantization=_quant(args.quantization),
                             device=args.device, optimizer=args.optimizer,
                             checkpoint_every=args.checkpoint_every, seed=args.seed)
    except ValueError as err:
        raise UserError(str(err).splitlines()[-1]) from None
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"{out}: exists and is not empty (use --overwrite)")
    phases = _Phases(enabled=not args.no_progress)
    with Store(store_path) as store:
        split = split_and_select(store, selection, seed=args.seed, max_eval=args.max_eval)
    phases.done("select data", f"{split.train.height} train / {split.eval.height} held-out items")
    base = load_base(args.base, quantization=config.quantization, device=config.device,
                     compute_dtype=config.compute_dtype)
    phases.done("load base", f"{args.base}, {config.quantization or 'full precision'}, {base.compute_dtype}")
    ex = build_examples(split.train, base.tokenizer, max_length=config.max_length, source=str(store_path))
    ev = build_examples(split.eval, base.tokenizer, max_length=config.max_length, source="held-out") \
        if split.eval.height else None
    phases.done("tokenise", f"{len(ex)} train / {len(ev) if ev else 0} held-out examples")
    result = train(base, ex, config, out, eval_examples=ev, overwrite=args.overwrite,
                   progress=phases.enabled,
                   manifest_extra={"selection": selection.model_dump(mode="json"),
                                   "policy_hash": policy.version_hash, "policy_name": policy.name,
                                   "store": str(store_path.resolve()), "data_stats": split.stats})
    phases.done("train + held-out loss before/after", f"{config.steps} steps")
    adapter_id = None
    if not args.no_register:
        with Store(store_path) as store:
            adapter_id = register_adapter(store, out, policy=policy)
    m = result.metrics
    emit({"adapter_dir": str(out), "adapter_id": adapter_id, "base": args.base,
          "mode": selection.mode, "n_train": len(result.manifest["submission_ids"]),
          "n_eval": len(ev) if ev else 0, "steps": m["steps"],
          "loss_first": round(m["loss_first"], 4), "loss_last": round(m["loss_last"], 4),
          "eval_loss_before": round(m.get("eval_loss_before", float("nan")), 4),
          "eval_loss_after": round(m.get("eval_loss_after", float("nan")), 4),
          "tokens_per_s": round(m["tokens_per_s_mean"], 1), "peak_rss_mb": round(m["peak_rss_mb"], 1),
          "policy_hash": policy.version_hash, "seconds": phases.seconds, "cpu_seconds": phases.cpu_seconds}, args.json)
    return 0


class _Phases:
    """Phase lines on stderr (``olkit train: load base 12.3 s (cpu 11.0 s; ...)``) and their wall
    times for the result (CPU seconds of this process too: on a shared machine wall time misleads)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._t, self._c = time.perf_counter(), time.process_time()

    def done(self, name: str, detail: str = "") -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[name], self.cpu_seconds[name] = round(now - self._t, 2), round(cpu - self._c, 2)
        self._t, self._c = now, cpu
        if self.enabled:
            print(f"olkit train: {name} {self.seconds[name]:.1f} s (cpu {self.cpu_seconds[name]:.1f} s"
                  + (f"; {detail})" if detail else ")"), file=sys.stderr, flush=True)


def _generate(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from olkit.train.adapters import AdapterBank, read_manifest

    base = args.base
    if args.adapter and not base:
        adapter = Path(args.adapter)
        base = read_manifest(adapter).get("base", {}).get("name") if (adapter / "olkit_manifest.json").exists() else None
    bank = AdapterBank(base or "smollm2-135m", quantization=_quant(args.quantization))
    if args.adapter:
        bank.add("adapter", args.adapter)
    text = bank.generate(args.prompt, adapter="adapter" if args.adapter else None,
                         max_new_tokens=args.max_new_tokens, do_sample=args.sample,
                         temperature=args.temperature, seed=args.seed)
    if args.json:
        emit({"base": base or "smollm2-135m", "adapter": args.adapter, "prompt": args.prompt, "reply": text}, True)
    else:
        print(text)
    return 0
