"""The ``tiny-word`` base and the trainer options attribution needs: in-memory checkpoints with
Adam's state, per-example loss weighting, retraining one LoRA model from a fixed initialisation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from olkit.errors import OlkitError
from olkit.train.data import build_examples, render_prompt
from olkit.train.models import ModelNotFound, frame_texts, load_base, model_dir, resolve
from olkit.train.qlora import (
    TrainConfig,
    attach_lora,
    lora_state,
    per_example_loss,
    token_losses,
    train,
)

WORD = dict(quantization=None, compute_dtype="float32", device="cpu", learning_rate=3e-3, max_length=48,
            lr_scheduler="constant", max_grad_norm=None, gradient_checkpointing=False)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    i = np.arange(12)
    return pl.DataFrame({
        "submission_id": [f"s{k:02d}" for k in i],
        "contributor_id": [f"c{k % 3}" for k in i],
        "instruction": [f"what colour is thing {k} ?" for k in i],
        # answers of very different lengths: token and example weighting differ on them
        "response": [" ".join(["red"] * (1 + 5 * (k % 3))) + f" thing {k} ." for k in i],
    })


@pytest.fixture
def base(frame):
    """A fresh model per test (each test attaches its own LoRA layers)."""
    return load_base("tiny-word", quantization=None, vocab=frame_texts(frame))


def test_tiny_word_is_a_registered_base_with_the_shared_prompt_format(base, frame):
    assert resolve("tiny-word").kind == "word" and base.family == "llama" and base.quantization is None
    # the one prompt path (render_prompt / build_examples) uses the base's chat template
    assert render_prompt(base.tokenizer, "why ?") == "Question: why ?\nAnswer:"
    ex = build_examples(frame, base.tokenizer, max_length=48)
    ids = ex.input_ids[0]
    prompt = base.tokenizer.decode(ids[: ex.prompt_lengths[0]])
    answer = base.tokenizer.decode(ids[ex.prompt_lengths[0]:])
    assert prompt.startswith("Question") and prompt.endswith("Answer :")
    assert answer.startswith("red") and answer.endswith("<eos>")
    assert base.tokenizer.unk_token_id not in set(np.concatenate(ex.input_ids).tolist())
    # the same texts and seed give the same model; another seed another one
    again = load_base("tiny-word", quantization=None, vocab=frame_texts(frame))
    torch.testing.assert_close(dict(again.model.named_parameters())["model.embed_tokens.weight"],
                               dict(base.model.named_parameters())["model.embed_tokens.weight"])
    with pytest.raises(OlkitError, match="vocab="):
        load_base("tiny-word", quantization=None)
    with pytest.raises(OlkitError, match="quantization=None"):
        load_base("tiny-word", vocab=frame_texts(frame))
    with pytest.raises(ModelNotFound, match="word_base"):
        model_dir(resolve("tiny-word"))


def test_checkpoints_in_memory_match_the_saved_ones(frame, tmp_path):
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    base = load_base("tiny-word", quantization=None, vocab=frame_texts(frame))
    ex = build_examples(frame, base.tokenizer, max_length=48)
    cfg = TrainConfig(steps=6, batch_size=4, checkpoint_every=2, keep_checkpoints=True, **WORD)
    res = train(base, ex, cfg, tmp_path / "a", progress=False)
    assert [c.step for c in res.checkpoints] == [c["step"] for c in res.manifest["checkpoints"]] == [2, 4, 6]
    assert all(c.lr == pytest.approx(3e-3) and c.precond is not None for c in res.checkpoints)
    final = lora_state(res.model)
    for ck in res.checkpoints:
        folder = tmp_path / "a" / "checkpoints" / f"step-{ck.step}"
        saved = load_file(str(folder / "olkit_adam_precond.safetensors"))
        assert saved.keys() == ck.precond.keys()
        for k in saved:
            torch.testing.assert_close(saved[k], ck.precond[k])
        set_peft_model_state_dict(res.model, load_file(str(folder / "adapter_model.safetensors")))
        for k, v in lora_state(res.model).items():
            torch.testing.assert_close(v, ck.state[k])
    for k, v in res.checkpoints[-1].state.items():
        torch.testing.assert_close(v, final[k])
    # the step states differ (training moved them) and the base travels with the adapter
    assert any(not torch.equal(res.checkpoints[0].state[k], final[k]) for k in final)
    assert (tmp_path / "a" / "base" / "config.json").exists() and res.manifest["base"]["source"] == "base"
    # which rows each step saw: 4 per step, every row seen over the 6 steps
    steps = res.manifest["step_submission_ids"]
    assert len(steps) == 6 and all(len(s) == 4 for s in steps)
    assert set().union(*map(set, steps)) == set(frame["submission_id"])
    # without keep_checkpoints nothing is held in memory
    plain = train(base, ex, TrainConfig(steps=2, batch_size=4, checkpoint_every=1, **WORD), progress=False,
                  model=res.model)
    assert plain.checkpoints == []


def test_example_weighting_is_the_mean_of_row_means(base, frame):
    ex = build_examples(frame, base.tokenizer, max_length=48)
    model = attach_lora(base, TrainConfig(seed=3, **WORD))
    init = lora_state(model)
    batch = ex.batch()
    rows = per_example_loss(model, batch)
    lengths = (batch.labels[:, 1:] != -100).sum(1).numpy()
    assert len(set(lengths.tolist())) == 3  # the frame's answers differ in length
    full = dict(steps=1, batch_size=len(ex), seed=3, **WORD)
    by_example = train(base, ex, TrainConfig(loss_weighting="examples", **full), model=model, init_state=init,
                       progress=False)
    by_token = train(base, ex, TrainConfig(**full), model=model, init_state=init, progress=False)
    # the first step's loss is taken at the initial weights
    assert by_example.history["loss"][0] == pytest.approx(rows.mean(), rel=1e-5)
    assert by_token.history["loss"][0] == pytest.approx((rows * lengths).sum() / lengths.sum(), rel=1e-5)
    assert abs(rows.mean() - (rows * lengths).sum() / lengths.sum()) > 1e-3
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    np.testing.assert_allclose(token_losses(logits, batch.labels).numpy(), per_example_loss(model, batch), rtol=1e-6)


def test_retraining_from_a_fixed_init_repeats_exactly(base, frame):
    ex = build_examples(frame, base.tokenizer, max_length=48)
    cfg = TrainConfig(steps=4, batch_size=6, seed=1, loss_weighting="examples", **WORD)
    model = attach_lora(base, cfg)
    init = lora_state(model)
    first = lora_state(train(base, ex, cfg, model=model, init_state=init, progress=False).model)
    other = train(base, ex.subset(range(6)), cfg.model_copy(update={"batch_size": 6}), model=model,
                  init_state=init, progress=False)
    assert other.manifest["submission_ids"] == frame["submission_id"].head(6).to_list()
    again = lora_state(train(base, ex, cfg, model=model, init_state=init, progress=False).model)
    for k in first:
        torch.testing.assert_close(first[k], again[k], rtol=0, atol=0)
    assert any(not torch.equal(first[k], init[k]) for k in init)
