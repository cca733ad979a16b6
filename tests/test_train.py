"""Fine-tuning on the tiny model families: QLoRA trains, saves, reloads, generates; data, errors, CLI."""

from __future__ import annotations

import json
import threading

import numpy as np
import polars as pl
import pytest
import torch

from olkit.errors import InputError, OlkitError
from olkit.train.adapters import (
    AdapterBank,
    PromptTooLong,
    merge_and_export,
    read_manifest,
    register_adapter,
)
from olkit.train.data import EmptyTrainingSet, build_examples, split_and_select, with_submission_ids
from olkit.train.evaluate import heldout_loss
from olkit.train.models import TINY_MODELS, DeviceError, ModelNotFound, load_base
from olkit.train.qlora import TrainConfig, train

FAST = dict(learning_rate=1e-2, batch_size=4, max_length=96, lr_scheduler="constant")
#: the 4-bit family runs: lr 3e-3, not 1e-2 -- at 1e-2 tiny-deepseek's MoE routing makes the loss
#: spike on some seeds/CPUs (seen: 10.81 -> 10.99 on an AVX2 CPU); at 3e-3 the 8-step drop is
#: 0.15-0.25 nats on seeds 0-5 for every family, in fp32 and bf16 (the test asks for 0.05)
FAMILY = {**FAST, "learning_rate": 3e-3}


def qa_frame(n: int = 48) -> pl.DataFrame:
    """A small instruction dataset with ground truth: arithmetic answers, every 4th rejected."""
    i = np.arange(n)
    return pl.DataFrame({
        "submission_id": [f"s{k:03d}" for k in i],
        "contributor_id": [f"c{k % 6}" for k in i],
        "instruction": [f"What is {k} plus {k}?" for k in i],
        "response": [f"{k} plus {k} is {2 * k}." for k in i],
        "accepted": (i % 4 != 0).tolist(),
        "split": ["heldout" if k >= n - 8 else "train" for k in i],
        "label": ["genuine"] * n,
    })


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return qa_frame()


@pytest.fixture(scope="module")
def tokenizer():
    return load_base("tiny-llama", quantization=None).tokenizer


# -- the four families, end to end ------------------------------------------------------------
@pytest.mark.parametrize("name", TINY_MODELS)
def test_family_qlora_trains_saves_reloads_generates(name, frame, tmp_path, bf16_mode):
    base = load_base(name, quantization="nf4")
    assert base.memory_by_component()["linear_4bit"] > 0  # linear layers really are 4-bit
    split = split_and_select(frame, "accepted", seed=0)
    ex = build_examples(split.train, base.tokenizer, max_length=96)
    ev = build_examples(split.eval, base.tokenizer, max_length=96)
    out = tmp_path / name
    assert base.compute_dtype == (torch.float32 if bf16_mode == "bf16-off" else torch.bfloat16)
    res = train(base, ex, TrainConfig(steps=8, checkpoint_every=4, seed=0, **FAMILY), out,
                eval_examples=ev, progress=False)
    loss = res.history["loss"].to_numpy()
    assert loss[-3:].mean() < loss[:3].mean() - 0.05, loss
    assert res.metrics["eval_loss_after"] < res.metrics["eval_loss_before"]
    # adapter folder and manifest: exactly the ids the batches drew, all of them accepted train items
    m = read_manifest(out)
    assert (out / "adapter_model.safetensors").exists() and (out / "checkpoints/step-4/adapter_model.safetensors").exists()
    assert [c["step"] for c in m["checkpoints"]] == [4, 8]
    used = set(m["submission_ids"])
    assert used <= set(split.train_ids) and len(used) == m["n_examples"] == len(m["submission_ids"])
    accepted_train = set(frame.filter(pl.col("accepted") & (pl.col("split") == "train"))["submission_id"])
    assert used <= accepted_train and len(used) == min(len(accepted_train), 8 * 4)
    assert m["base"]["family"] == base.family and m["base"]["quantization"] == "nf4"
    # reload on a fresh 4-bit base: same held-out loss as the model that trained; and it generates
    trained_loss = heldout_loss(res.model, ev)["loss"]
    bank = AdapterBank(name)
    bank.add("a", out)
    assert bank.loss(ev, adapter="a")["loss"] == pytest.approx(trained_loss, rel=1e-4)
    assert bank.loss(ev)["loss"] == pytest.approx(res.metrics["eval_loss_before"], rel=1e-4)
    text = bank.generate("What is 3 plus 3?", adapter="a", max_new_tokens=6)
    assert isinstance(text, str)


def test_deepseek_preset_targets_mla_projections():
    base = load_base("tiny-deepseek", quantization="nf4")
    from olkit.train.qlora import attach_lora

    model = attach_lora(base, TrainConfig())
    targets = set(model.peft_config["default"].target_modules)
    assert {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj"} <= targets
    lora_names = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert any("kv_a_proj_with_mqa" in n for n in lora_names)
    # transformers 5 fuses routed experts into 3-D parameters; peft adapts them as target_parameters
    assert any(n.endswith("mlp.experts.lora_A") for n in lora_names)
    assert set(model.peft_config["default"].target_parameters) == {"gate_up_proj", "down_proj"}


# -- reproducibility, stop flag, accumulation ------------------------------------------------
def test_same_seed_same_losses_and_stop_flag(frame, tokenizer):
    ex = build_examples(split_and_select(frame, "all").train, tokenizer, max_length=96)
    cfg = TrainConfig(steps=3, seed=7, quantization=None, **FAST)
    a = train("tiny-qwen2", ex, cfg, progress=False).history["loss"].to_list()
    b = train("tiny-qwen2", ex, cfg, progress=False).history["loss"].to_list()
    c = train("tiny-qwen2", ex, cfg.model_copy(update={"seed": 8}), progress=False).history["loss"].to_list()
    assert a == b and a != c
    stop = threading.Event()
    seen = []

    def cb(row):
        seen.append(row["step"])
        if row["step"] == 2:
            stop.set()

    res = train("tiny-qwen2", ex, cfg.model_copy(update={"steps": 10}), callbacks=[cb], stop_event=stop,
                progress=False)
    assert res.stopped and seen == [1, 2] and res.history.height == 2
    row = res.history.row(0, named=True)
    assert row["tokens_per_s"] > 0 and row["peak_rss_mb"] > 100 and row["learning_rate"] == pytest.approx(1e-2)


def test_grad_accumulation_matches_big_batch(frame, tokenizer):
    """2 micro-batches of 2 with token-weighted loss == one batch of 4 (same examples, SGD)."""
    ex = build_examples(split_and_select(frame, "all").train, tokenizer, max_length=96)
    base = dict(steps=1, seed=3, quantization=None, optimizer="sgd", lora_dropout=0.0, max_grad_norm=None,
                learning_rate=1.0, max_length=96)
    big = train("tiny-llama", ex, TrainConfig(batch_size=4, **base), progress=False)
    acc = train("tiny-llama", ex, TrainConfig(batch_size=2, grad_accum=2, **base), progress=False)
    assert big.history["loss"][0] == pytest.approx(acc.history["loss"][0], rel=1e-5)
    sd_big = {k: v for k, v in big.model.state_dict().items() if "lora_B" in k}
    sd_acc = {k: v for k, v in acc.model.state_dict().items() if "lora_B" in k}
    for k in sd_big:
        torch.testing.assert_close(sd_big[k], sd_acc[k], rtol=1e-4, atol=1e-6)


# -- data -------------------------------------------------------------------------------------
def test_examples_mask_prompt_exactly(frame, tokenizer):
    ex = build_examples(frame.head(3), tokenizer, max_length=128)
    batch = ex.collate([0, 1, 2])
    for row in range(3):
        labels = batch["labels"][row]
        target = tokenizer.decode(labels[labels != -100])
        assert target == f"{row} plus {row} is {2 * row}.<|im_end|>\n"
        assert int((labels == -100).sum()) == ex.prompt_lengths[row] + (batch["input_ids"].shape[1] - len(ex.input_ids[row]))
    assert (batch["attention_mask"].sum(1).numpy() == ex.lengths).all()


def test_overflow_policies(frame, tokenizer):
    head = frame.head(2)
    long = head.with_columns(pl.Series("response", [" ".join([r] * 50) for r in head["response"]]))
    ex = build_examples(long, tokenizer, max_length=64)
    assert ex.stats["n_truncated"] == 2 and ex.lengths.max() == 64
    with pytest.raises(InputError, match="line 0, field .response.: example is"):
        build_examples(long, tokenizer, max_length=64, on_overflow="error")
    assert build_examples(long.vstack(frame.head(1)), tokenizer, max_length=64, on_overflow="drop").stats["n_dropped"] == 2


def test_clean_heldout_split_on_sample_datanet():
    from olkit.data import sample_stream

    f = with_submission_ids(sample_stream(n_contributors=30, seed=3))
    # decisions that accept everything except spam
    dec = f.select("submission_id", (pl.col("label") != "spam").alias("accepted"))
    split = split_and_select(f, "all", decisions=dec, seed=0)
    assert split.eval.height > 0 and (split.eval["label"] == "genuine").all()
    assert (split.eval["split"] == "heldout").all() and (split.train["split"] == "train").all()
    norm = lambda s: s.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()  # noqa: E731
    tr_keys = set(norm(split.train["instruction"]) + "|" + norm(split.train["response"]))
    ev_keys = set(norm(split.eval["instruction"]) + "|" + norm(split.eval["response"]))
    assert not tr_keys & ev_keys
    acc = split_and_select(f, "accepted", decisions=dec, seed=0)
    assert (acc.train["label"] != "spam").all() and acc.train.height < split.train.height
    r1 = split_and_select(f, "reputation_weighted", decisions=dec, seed=1)
    r2 = split_and_select(f, "reputation_weighted", decisions=dec, seed=1)
    assert r1.train_ids == r2.train_ids and 0 < r1.train.height < split.train.height
    # spammers' items survive reputation weighting less often than experts'
    share = lambda s, a: (s.train["archetype"] == a).mean()  # noqa: E731
    assert share(r1, "spammer") < share(split, "spammer")
    capped = split_and_select(f, {"mode": "all", "max_examples": 10}, seed=0)
    assert capped.train.height == 10


# -- clear errors -----------------------------------------------------------------------------
def test_clear_errors(frame, tokenizer):
    with pytest.raises(ModelNotFound, match="unknown model 'gpt-17'.*smollm2-135m"):
        load_base("gpt-17")
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE"):
        load_base("someone/not-downloaded-model")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            load_base("tiny-llama", device="cuda")
        ex = build_examples(frame.head(4), tokenizer, max_length=64)
        with pytest.raises(DeviceError, match="paged_adamw_8bit.*needs a CUDA GPU"):
            train("tiny-llama", ex, TrainConfig(steps=1, optimizer="paged_adamw_8bit", quantization=None),
                  progress=False)
    nobody = frame.with_columns(pl.lit(False).alias("accepted"))
    with pytest.raises(EmptyTrainingSet, match="no training examples left"):
        split_and_select(nobody, "accepted")
    with pytest.raises(InputError, match="needs filter decisions"):
        split_and_select(frame.drop("accepted"), "accepted")
    bank = AdapterBank(load_base("tiny-llama", quantization=None))
    with pytest.raises(PromptTooLong, match="exceeds the model's context of 512"):
        bank.generate("word " * 600)
    with pytest.raises(OlkitError, match="unknown adapter"):
        bank.generate("hi", adapter="nope")


# -- merge, registry, CLI ---------------------------------------------------------------------
def test_merge_and_export_matches_adapter(frame, tokenizer, tmp_path):
    ex = build_examples(split_and_select(frame, "all").train, tokenizer, max_length=96)
    res = train("tiny-mistral", ex, TrainConfig(steps=3, quantization=None, **FAST), tmp_path / "ad", progress=False)
    merged_dir = merge_and_export(tmp_path / "ad", tmp_path / "merged")
    merged = load_base(str(merged_dir), quantization=None)
    assert merged.family == "mistral" and read_manifest(merged_dir)["merged_from"].endswith("ad")
    batch = ex.collate([0, 1])
    with torch.no_grad():
        a = res.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = merged.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_cli_train_registers_adapter_and_generate(tmp_path, capsys):
    from olkit.cli import main
    from olkit.ingest import ingest
    from olkit.store import Store

    f = qa_frame(32).drop("submission_id", "accepted")
    db = tmp_path / "ledger.duckdb"
    with Store(db) as store:
        ingest(f, store, progress=False)
        subs = store.submissions()
        store.add_decisions(subs.select("submission_id", (pl.int_range(pl.len()) % 3 != 0).alias("accepted")))
        accepted = set(store.latest_decisions().filter("accepted")["submission_id"])
    out = tmp_path / "adapter"
    code = main(["train", "--base", "tiny-llama", "--store", str(db), "--out", str(out), "--steps", "2",
                 "--batch-size", "2", "--max-length", "64", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    # progress goes to stderr also under --json: one line per phase, with its time
    assert "olkit train: load base" in captured.err and "olkit train: tokenise" in captured.err
    assert set(result["seconds"]) == set(result["cpu_seconds"]) and "train + held-out loss before/after" in result["seconds"]
    manifest = read_manifest(out)
    assert set(manifest["submission_ids"]) <= accepted and result["n_train"] == len(manifest["submission_ids"]) == 4
    with Store(db) as store:
        table = store.table("adapters")
        assert table.height == 1 and sorted(table["submission_ids"][0]) == sorted(manifest["submission_ids"])
        assert store.verify().ok
    assert main(["train", "--base", "tiny-llama", "--store", str(db), "--out", str(out)]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    assert main(["train", "--base", "nope", "--store", str(db), "--out", str(tmp_path / "x"), "--steps", "1"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["generate", "--adapter", str(out), "--max-new-tokens", "4", "--json", "What is 1 plus 1?"]) == 0
    reply = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert reply["base"] == "tiny-llama" and isinstance(reply["reply"], str)


def test_register_adapter_records_exact_ids(frame, tokenizer, tmp_path):
    from olkit.ingest import ingest
    from olkit.store import Store

    ex = build_examples(frame.head(6), tokenizer, max_length=64)
    train("tiny-llama", ex, TrainConfig(steps=1, batch_size=6, quantization=None), tmp_path / "a", progress=False)
    with Store(tmp_path / "l.duckdb") as store:
        ingest(frame.drop("submission_id", "accepted").head(1), store, progress=False)
        aid = register_adapter(store, tmp_path / "a")
        row = store.table("adapters").row(0, named=True)
    assert row["adapter_id"] == aid and sorted(row["submission_ids"]) == [f"s{k:03d}" for k in range(6)]
    assert row["n_examples"] == 6


# -- memory: the QLoRA recipe's defaults -------------------------------------------------------
def test_qlora_defaults_checkpoint_and_use_native_bf16(frame, bf16_mode):
    from olkit.train.models import resolve_compute_dtype

    quant = load_base("tiny-qwen2", quantization="nf4")
    plain = load_base("tiny-qwen2", quantization=None)
    bf16 = torch.float32 if bf16_mode == "bf16-off" else torch.bfloat16
    assert quant.compute_dtype == bf16 and plain.compute_dtype == torch.float32
    assert quant.model.get_input_embeddings().weight.dtype == bf16  # tied embedding held in compute dtype
    assert resolve_compute_dtype("float32", "nf4", torch.device("cpu")) == torch.float32
    with pytest.raises(OlkitError, match="compute_dtype"):
        resolve_compute_dtype("int8", "nf4", torch.device("cpu"))
    ex = build_examples(frame, quant.tokenizer, max_length=64)
    cfg = dict(steps=2, batch_size=2, max_length=64)
    runs = {"nf4": train(quant, ex, TrainConfig(**cfg), progress=False),
            "plain": train(plain, ex, TrainConfig(quantization=None, **cfg), progress=False)}
    assert runs["nf4"].manifest["gradient_checkpointing"] is True
    assert runs["plain"].manifest["gradient_checkpointing"] is False
    assert runs["nf4"].manifest["base"]["compute_dtype"] == str(bf16).removeprefix("torch.")
    off = train(load_base("tiny-qwen2", quantization="nf4"), ex,
                TrainConfig(gradient_checkpointing=False, **cfg), progress=False)
    assert off.manifest["gradient_checkpointing"] is False
    # the LoRA weights themselves stay fp32 whatever the compute dtype (AdamW needs the precision)
    lora = [p for n, p in runs["nf4"].model.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.float32 for p in lora)


def test_4bit_load_lets_the_checkpoint_file_go():
    """Unquantised tensors are copied off the memory-mapped file, so its pages leave RSS."""
    import gc
    from pathlib import Path

    base = load_base("tiny-mistral", quantization="nf4")
    gc.collect()
    weights = str(Path(base.source_dir) / "model.safetensors")
    assert weights not in Path("/proc/self/maps").read_text()
    # a full-precision base legitimately keeps its weights mapped (they are the weights)
    plain = load_base("tiny-mistral", quantization=None)
    assert weights in Path("/proc/self/maps").read_text()
    del plain


def test_chunked_response_loss_equals_the_full_projection():
    from olkit.train.qlora import attach_lora, response_loss

    base = load_base("tiny-llama", quantization=None)
    model = attach_lora(base, TrainConfig(quantization=None))
    ex = build_examples(qa_frame(8), base.tokenizer, max_length=64)
    batch = ex.collate(range(4))
    grads = {}
    for chunk in (3, 10_000):
        model.zero_grad(set_to_none=True)
        loss, n = response_loss(model, batch, chunk_tokens=chunk)
        loss.backward()
        grads[chunk] = (float(loss.detach()), n, [p.grad.clone() for p in model.parameters() if p.requires_grad])
    (l3, n3, g3), (lf, nf, gf) = grads[3], grads[10_000]
    assert n3 == nf > 3 and l3 == pytest.approx(lf, rel=1e-5)
    assert any(float(b.abs().max()) > 0.01 for b in gf)  # lora_B gets real gradients at step 0
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(g3, gf, strict=True))
