"""Benchmark: olkit's QLoRA loop vs the reference recipe (transformers Trainer + peft + bitsandbytes).

One model (SmolLM2-135M-Instruct, embedded), one data set (the sample datanet's training split,
chat-templated, loss on response tokens), same batch size, steps, LoRA rank/targets and learning
rate.  Every configuration runs in its **own subprocess** so peak RSS is that configuration's alone:

``olkit_qlora``        olkit.train.qlora.train with its QLoRA defaults (the path under test): NF4 +
                       double quantisation, compute dtype "auto" (bf16 on a CPU/GPU with native bf16,
                       as in the QLoRA paper), gradient checkpointing (on for a 4-bit base), vocabulary
                       projection on response tokens only, in checkpointed slices
``olkit_lora_fp32``    the same loop with its plain-LoRA defaults: full-precision fp32 base, no
                       checkpointing (plain LoRA in fp32: the memory target's denominator)
``olkit_lora_fp32_gc`` plain fp32 LoRA *with* gradient checkpointing (like-for-like, for information)
``olkit_qlora_fp32``   the QLoRA path with fp32 compute (what bf16 buys, for information)
``ref_qlora``          the reference recipe with default settings: ``BitsAndBytesConfig`` NF4 + double
                       quant, ``prepare_model_for_kbit_training`` (gradient checkpointing on, its
                       default), ``get_peft_model``, ``Trainer`` with default ``TrainingArguments``
                       apart from batch size / steps / learning rate / no saving or reporting
``ref_qlora_no_gc``    the same reference without gradient checkpointing (a stronger baseline)

Throughput counts every non-padding token that goes through the model, divided by the wall time
of the training steps (model loading excluded, identical for all).  Peak RSS is ``ru_maxrss`` of
the worker process (whole run, loading included) and, separately, the peak during training
(``VmHWM`` reset through ``/proc/self/clear_refs`` after loading).

Targets (issue 5): ``olkit_qlora`` tokens/s >= 1.0x ``ref_qlora``; ``olkit_qlora`` peak RSS
<= 0.6x ``olkit_lora_fp32``.  Results go to ``benchmarks/results/train.json``.

    .venv/bin/python benchmarks/train_bench.py            # full run (~5-10 min on 2 cores)
    .venv/bin/python benchmarks/train_bench.py --steps 4  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script folder)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: olkit modes -> (quantization, compute_dtype, gradient_checkpointing); None = the library default
OLKIT_MODES = {"olkit_qlora": ("nf4", "auto", None), "olkit_lora_fp32": (None, "auto", None),
               "olkit_lora_fp32_gc": (None, "auto", True), "olkit_qlora_fp32": ("nf4", "float32", None)}
MODES = (*OLKIT_MODES, "ref_qlora", "ref_qlora_no_gc")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _data(args, tokenizer):
    from olkit.data import sample_stream
    from olkit.train.data import build_examples, split_and_select

    frame = sample_stream(n_contributors=args.contributors, seed=0)
    split = split_and_select(frame, "all", seed=0)
    return build_examples(split.train, tokenizer, max_length=args.max_length)


def worker(mode: str, args) -> dict:
    import torch

    torch.manual_seed(0)
    from olkit.train.models import load_base

    quant, dtype, checkpointing = OLKIT_MODES.get(mode, ("nf4", "float32", True))
    t0 = time.perf_counter()
    if mode.startswith("olkit"):
        base = load_base("smollm2-135m", quantization=quant, device="cpu", compute_dtype=dtype)
        model, tokenizer = base.model, base.tokenizer
        components = base.memory_by_component()
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

        from olkit.embedded import smollm2_path

        path = str(smollm2_path())
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True))
        components = None
    load_s = time.perf_counter() - t0
    rss_after_load = _vm("VmRSS")
    ex = _data(args, tokenizer)
    peak_reset = _reset_peak()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    if mode.startswith("olkit"):
        from olkit.train.qlora import TrainConfig, train

        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=2e-4, lora_r=8,
                          lora_alpha=16, lora_dropout=0.0, max_length=args.max_length, quantization=quant,
                          seed=0, lr_scheduler="linear", compute_dtype=dtype,
                          gradient_checkpointing=checkpointing)
        res = train(base, ex, cfg, progress=False)
        settings = {"quantization": quant, "compute_dtype": str(base.compute_dtype).removeprefix("torch."),
                    "gradient_checkpointing": res.manifest["gradient_checkpointing"]}
        h = res.history
        tokens, seconds = int(h["tokens"].sum()), float(h["step_time_s"].sum())
        losses = h["loss"].to_list()
    else:
        from datasets import Dataset
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=(mode == "ref_qlora"))
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets,
                                                 task_type="CAUSAL_LM"))
        rows = []
        for ids, plen in zip(ex.input_ids, ex.prompt_lengths, strict=True):
            ids = ids.tolist()
            rows.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                         "labels": [-100] * int(plen) + ids[int(plen):]})
        ds = Dataset.from_list(rows)
        base_collate = DataCollatorForSeq2Seq(tokenizer, padding=True)
        counted = {"tokens": 0}

        def collate(features):
            batch = base_collate(features)
            counted["tokens"] += int(batch["attention_mask"].sum())
            return batch

        step_times: list[float] = []
        losses = []

        class Timer(TrainerCallback):
            def on_step_begin(self, a, state, control, **kw):
                self.t = time.perf_counter()

            def on_step_end(self, a, state, control, **kw):
                step_times.append(time.perf_counter() - self.t)

            def on_log(self, a, state, control, logs=None, **kw):
                if logs and "loss" in logs:
                    losses.append(float(logs["loss"]))

        targs = TrainingArguments(output_dir=str(Path(args.tmp) / mode), per_device_train_batch_size=args.batch_size,
                                  max_steps=args.steps, learning_rate=2e-4, logging_steps=1, save_strategy="no",
                                  report_to=[], seed=0, disable_tqdm=True, use_cpu=True)
        trainer = Trainer(model=model, args=targs, train_dataset=ds, data_collator=collate, callbacks=[Timer()])
        t1 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t1
        tokens = counted["tokens"]
        # the collator runs inside the timed loop for both; step callbacks miss data loading, so use wall time
        seconds = wall
        settings = {"quantization": "nf4", "compute_dtype": "float32",
                    "gradient_checkpointing": mode == "ref_qlora"}
    return {"mode": mode, "steps": args.steps, "batch_size": args.batch_size, "tokens": tokens,
            "train_seconds": seconds, "tokens_per_s": tokens / seconds, "load_seconds": load_s,
            "peak_rss_mb": _rss_mb(), "peak_rss_training_mb": _vm("VmHWM") if peak_reset else None,
            "rss_after_load_mb": rss_after_load, "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "loss_mean": sum(losses) / len(losses) if losses else None, "settings": settings,
            "model_bytes_by_component": components, "n_examples": len(ex), "torch_threads": _threads()}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--contributors", type=int, default=60)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument("--parallel", action="store_true",
                    help="run the workers at the same time (fairer tokens/s on a machine shared with other "
                         "jobs: every worker sees the same contention; peak RSS is per process either way)")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default="/tmp/olkit-train-bench")
    ap.add_argument("--out", default=str(RESULTS / "train.json"))
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return 0
    runs = {}
    procs = {}
    for mode in args.modes:
        cmd = [sys.executable, __file__, "--worker", mode, "--steps", str(args.steps), "--batch-size",
               str(args.batch_size), "--max-length", str(args.max_length), "--contributors",
               str(args.contributors), "--tmp", args.tmp]
        print(f"[train_bench] {mode} ...", flush=True)
        procs[mode] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not args.parallel:
            procs[mode].wait()
    for mode, proc in procs.items():
        stdout, stderr = proc.communicate()
        line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{mode} failed")
        runs[mode] = json.loads(line[len("RESULT "):])
        r = runs[mode]
        print(f"[train_bench] {mode}:", flush=True)
        print(f"  {r['tokens_per_s']:.0f} tokens/s, peak RSS {r['peak_rss_mb']:.0f} MiB "
              f"(training {r['peak_rss_training_mb'] or float('nan'):.0f} MiB), loss {r['loss_first']:.3f} -> "
              f"{r['loss_last']:.3f}", flush=True)
    out: dict = {"benchmark": "train", "model": "smollm2-135m (SmolLM2-135M-Instruct)",
                 "data": f"sample_stream(n_contributors={args.contributors}, seed=0), split=train, all labels",
                 "steps": args.steps, "parallel_workers": args.parallel, "batch_size": args.batch_size, "max_length": args.max_length,
                 "machine": machine_info("torch", "transformers", "peft", "bitsandbytes"),
                 "runs": runs, "targets": {}}
    if {"olkit_qlora", "ref_qlora"} <= runs.keys():
        ratio = runs["olkit_qlora"]["tokens_per_s"] / runs["ref_qlora"]["tokens_per_s"]
        out["targets"]["tokens_per_s_vs_reference"] = {"value": ratio, "target": ">= 1.0", "pass": ratio >= 1.0}
    if {"olkit_qlora", "ref_qlora_no_gc"} <= runs.keys():
        ratio = runs["olkit_qlora"]["tokens_per_s"] / runs["ref_qlora_no_gc"]["tokens_per_s"]
        out["targets"]["tokens_per_s_vs_reference_no_gc"] = {"value": ratio, "target": "info", "pass": ratio >= 1.0}
    if {"olkit_qlora", "olkit_lora_fp32"} <= runs.keys():
        q, f = runs["olkit_qlora"], runs["olkit_lora_fp32"]
        ratio = q["peak_rss_mb"] / f["peak_rss_mb"]
        out["targets"]["qlora_peak_rss_vs_lora_fp32"] = {"value": ratio, "target": "<= 0.6", "pass": ratio <= 0.6}
        if q["peak_rss_training_mb"] and f["peak_rss_training_mb"]:
            out["targets"]["qlora_training_peak_rss_vs_lora_fp32"] = {
                "value": q["peak_rss_training_mb"] / f["peak_rss_training_mb"], "target": "info"}
        qc, fc = q["model_bytes_by_component"], f["model_bytes_by_component"]
        out["targets"]["model_weights_bytes_vs_lora_fp32"] = {
            "value": sum(qc.values()) / sum(fc.values()), "target": "info",
            "qlora": qc, "lora_fp32": fc,
            "linear_layers_only": (qc["linear_4bit"] + qc["linear_full"]) / (fc["linear_4bit"] + fc["linear_full"])}
    for other, key in (("olkit_lora_fp32_gc", "qlora_peak_rss_vs_lora_fp32_with_checkpointing"),
                       ("olkit_qlora_fp32", "qlora_fp32_compute_peak_rss_vs_lora_fp32")):
        if {"olkit_qlora", other, "olkit_lora_fp32"} <= runs.keys():
            num, den = (("olkit_qlora", other) if other.startswith("olkit_lora")
                        else (other, "olkit_lora_fp32"))
            out["targets"][key] = {"value": runs[num]["peak_rss_mb"] / runs[den]["peak_rss_mb"], "target": "info"}
    if {"olkit_qlora_fp32", "ref_qlora"} <= runs.keys():
        out["targets"]["qlora_fp32_compute_tokens_per_s_vs_reference"] = {
            "value": runs["olkit_qlora_fp32"]["tokens_per_s"] / runs["ref_qlora"]["tokens_per_s"], "target": "info"}
    checks = {name: t["pass"] for name, t in out["targets"].items() if t.get("target") != "info"}
    status = write_result(out, checks, args.out)
    print(json.dumps(out["targets"], indent=2))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
