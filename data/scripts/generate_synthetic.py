"""Generate the machine-written answers shipped in ``data/synthetic_answers.jsonl``.

Two batches, written once with the embedded SmolLM2-135M-Instruct and shipped, so the sample
datanet's ``synthetic`` items are real model output (not templates):

* ``sample``: answers to 400 stdlib-docstring questions (``data/stdlib_qa.parquet``), sampled at
  temperature 0.7 / top-p 0.9 — used by :func:`olkit.data.sample_stream`;
* ``external``: answers to 160 language-reference / Debian questions
  (``data/external_qa.parquet``) at temperature 1.0 / top-p 0.95 with a different seed — used by
  :func:`olkit.data.external_eval_set`.

Regenerate (about 10 minutes on 2 CPU cores)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python data/scripts/generate_synthetic.py

On a busy machine, run the two batches as two single-threaded processes and concatenate
(sample first)::

    for b in sample external; do nice -n 10 .venv/bin/python data/scripts/generate_synthetic.py \
        --only $b --threads 1 --out /tmp/syn-$b.jsonl & done; wait
    cat /tmp/syn-sample.jsonl /tmp/syn-external.jsonl > data/synthetic_answers.jsonl

Output is written atomically.  Sampling is seeded, but generated text can differ across
torch versions/CPUs; the shipped file is the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from olkit.data.corpus import (  # noqa: E402
    EXTERNAL_TEMPLATES,
    INSTRUCTION_TEMPLATES,
    external_qa,
    hash_unit,
    render_instructions,
    stdlib_qa,
)
from olkit.embedded import smollm2_path  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "synthetic_answers.jsonl"

BATCHES = {
    "sample": {"n": 400, "temperature": 0.7, "top_p": 0.9, "seed": 1234},
    "external": {"n": 160, "temperature": 1.0, "top_p": 0.95, "seed": 98765},
}


def prompts(batch: str, n: int, seed: int) -> pl.DataFrame:
    """The questions of one batch: the ``n`` with the smallest salted hash of their question id.

    Hash-based (not index-based) so that the choice is stable when the corpus changes a little.
    """
    qa, templates = (stdlib_qa(), INSTRUCTION_TEMPLATES) if batch == "sample" else \
        (external_qa(), EXTERNAL_TEMPLATES)
    rank = np.argsort(hash_unit(qa["question_id"], f"olkit-synthetic:{batch}:{seed}:"), kind="stable")
    rows = qa[np.sort(rank[: min(n, qa.height)])]
    rng = np.random.default_rng(seed)
    instr = render_instructions(rows, rng.integers(0, 5, rows.height), templates)
    return rows.select("question_id").with_columns(pl.Series("instruction", instr))


def tidy(text: str) -> str:
    """Collapse whitespace and cut a reply truncated by the token limit at its last full sentence."""
    text = re.sub(r"[ \t]+", " ", text).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    if ends and not text.endswith((".", "!", "?")) and ends[-1] > len(text) // 2:
        text = text[: ends[-1]]
    return text


def generate(batch: str, cfg: dict, *, batch_size: int, max_new_tokens: int, model, tok) -> list[dict]:
    frame = prompts(batch, cfg["n"], cfg["seed"])
    rows = frame.to_dicts()
    out = []
    for start in tqdm(range(0, len(rows), batch_size), desc=f"{batch} (T={cfg['temperature']})"):
        chunk = rows[start:start + batch_size]
        texts = [tok.apply_chat_template([{"role": "user", "content": r["instruction"]}],
                                         tokenize=False, add_generation_prompt=True) for r in chunk]
        enc = tok(texts, return_tensors="pt", padding=True)
        torch.manual_seed(cfg["seed"] + start)
        with torch.inference_mode():
            gen = model.generate(**enc, do_sample=True, temperature=cfg["temperature"],
                                 top_p=cfg["top_p"], max_new_tokens=max_new_tokens,
                                 pad_token_id=tok.pad_token_id)
        replies = tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        for i, (r, reply) in enumerate(zip(chunk, replies, strict=True)):
            out.append({
                "id": f"syn-{batch}-{start + i:04d}", "batch": batch,
                "question_id": r["question_id"], "instruction": r["instruction"],
                "response": tidy(reply), "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "temperature": cfg["temperature"], "top_p": cfg["top_p"],
                "max_new_tokens": max_new_tokens, "seed": cfg["seed"],
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--only", choices=sorted(BATCHES), help="generate one batch (for a test)")
    parser.add_argument("--limit", type=int, help="answers per batch (for a quick test)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (1 is faster on a busy machine: no spinning)")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    path = smollm2_path()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rows: list[dict] = []
    t0 = time.perf_counter()
    for batch, cfg in BATCHES.items():
        if args.only and batch != args.only:
            continue
        cfg = {**cfg, "n": min(cfg["n"], args.limit or cfg["n"])}
        rows += generate(batch, cfg, batch_size=args.batch_size,
                         max_new_tokens=args.max_new_tokens, model=model, tok=tok)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    print(f"wrote {len(rows)} answers to {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
