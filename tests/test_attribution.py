"""Attribution: exactness of each method's maths, retraining ground truth, CLI, adapters, widget."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import polars as pl
import pytest
import torch

from olkit.attribution.base import Attribution
from olkit.attribution.evaluate import (
    Setup,
    auc,
    bad_data_auc,
    ground_truth,
    harm_scores,
    lds,
    train_config,
)
from olkit.attribution.grads import GradBlocks, Projector, per_example_grads
from olkit.attribution.methods import (
    DataInf,
    TracIn,
    datainf_layer,
    knn_shapley_values,
    make_method,
)
from olkit.attribution.spans import SpanIndex, attribute_output, suffix_array
from olkit.attribution.task import make_task
from olkit.errors import InputError
from olkit.train.qlora import lora_state, token_losses

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    """A trained tiny LoRA model on a 6-contributor task (shared by the cheap tests)."""
    task = make_task(n_contributors=6, items_per_contributor=6, n_eval=8, seed=0)
    setup = Setup.from_task(task, train_config(steps=12, checkpoint_every=4), seed=0)
    ctx = setup.train_full()
    return task, setup, ctx


# ----------------------------------------------------------------------------------------------
# exactness of the maths
# ----------------------------------------------------------------------------------------------
def _knn_utility(order_sim, util, subset, k):
    if not subset:
        return 0.0
    nearest = sorted(subset, key=lambda i: -order_sim[i])[:k]
    return sum(util[i] for i in nearest) / k


def test_knn_shapley_equals_brute_force_shapley():
    rng = np.random.default_rng(0)
    n, k = 6, 2
    sim, util = rng.normal(size=(2, n)), rng.normal(size=(2, n))
    fast = knn_shapley_values(sim, util, k)
    for j in range(2):
        exact = np.zeros(n)
        for perm in itertools.permutations(range(n)):
            seen: list[int] = []
            for i in perm:
                before = _knn_utility(sim[j], util[j], seen, k)
                seen.append(i)
                exact[i] += _knn_utility(sim[j], util[j], seen, k) - before
        np.testing.assert_allclose(fast[j], exact / math.factorial(n), atol=1e-12)
        # efficiency: the values add up to the utility of the full set
        assert fast[j].sum() == pytest.approx(_knn_utility(sim[j], util[j], list(range(n)), k))


def test_datainf_layer_equals_explicit_inverse():
    rng = np.random.default_rng(1)
    g = torch.tensor(rng.normal(size=(5, 7)))
    v = torch.tensor(rng.normal(size=(3, 7)))
    lam = 0.1 * float((g * g).sum(1).mean())
    h_inv = sum(torch.linalg.inv(torch.outer(gk, gk) + lam * torch.eye(7, dtype=torch.float64)) for gk in g) / 5
    np.testing.assert_allclose(datainf_layer(g, v, 0.1).numpy(), (v @ h_inv @ g.T).T.numpy(), rtol=1e-8)


def test_projector_is_seeded_and_preserves_inner_products():
    rng = np.random.default_rng(2)
    g = GradBlocks({"a": torch.tensor(rng.normal(size=(4, 3000)), dtype=torch.float32),
                    "b": torch.tensor(rng.normal(size=(4, 500)), dtype=torch.float32)})
    p1 = Projector(k=2048, seed=0, max_rows=1000).project(g)
    assert torch.equal(p1, Projector(k=2048, seed=0, max_rows=1000).project(g))
    assert not torch.equal(p1, Projector(k=2048, seed=1, max_rows=1000).project(g))
    full = g.flat() @ g.flat().T
    approx = p1 @ p1.T
    rel = (approx - full).abs() / full.diagonal().sqrt().outer(full.diagonal().sqrt())
    assert float(rel.max()) < 0.15  # Johnson-Lindenstrauss at k=2048


def test_per_example_grads_vmap_equals_autograd(small):
    task, setup, ctx = small
    batch = setup.train_examples.batch(range(6))
    fast = per_example_grads(ctx.model, batch, chunk=4)
    slow = per_example_grads(ctx.model, batch, use_vmap=False)
    torch.testing.assert_close(fast.flat(), slow.flat(), atol=1e-5, rtol=1e-4)
    # the per-example gradients sum to the gradient of the summed loss
    ctx.model.zero_grad()
    logits = ctx.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    token_losses(logits, batch.labels).sum().backward()
    total = torch.cat([p.grad.reshape(-1) for p in ctx.model.parameters() if p.requires_grad])
    ctx.model.zero_grad()
    # blocks are grouped per module; compare norms (ordering of parameters within blocks differs)
    assert float(fast.flat().sum(0).norm()) == pytest.approx(float(total.norm()), rel=1e-4)
    assert fast.dim == sum(v.numel() for v in lora_state(ctx.model).values())


def test_suffix_array_matches_sorting():
    rng = np.random.default_rng(3)
    for _ in range(30):
        x = rng.integers(0, 4, size=int(rng.integers(1, 50)))
        assert suffix_array(x).tolist() == sorted(range(len(x)), key=lambda i: x[i:].tolist())


def test_span_index_finds_copied_answer_and_all_sources():
    task = make_task(n_contributors=5, items_per_contributor=6, n_eval=2, n_duplicates=2, seed=4)
    answer = task.train.filter(pl.col("label") == "duplicate")["response"][0]
    output = f"Sure! {answer} Anything else?"
    spans = SpanIndex(task.train).find(output, min_words=4)
    assert spans.height >= 2
    longest = spans.filter(pl.col("n_words") == spans["n_words"].max())
    copied = " ".join(w for w in answer.lower().replace(".", " .").split())
    assert longest["text"][0] == copied
    holders = set(task.train.filter(pl.col("response") == answer)["submission_id"])
    assert set(longest["submission_id"]) == holders and longest["n_sources"][0] == len(holders)
    att = attribute_output(task.train, output)
    top = att.items().head(len(holders))
    assert set(top["submission_id"]) == holders and (top["score"] > 0).all()
    assert SpanIndex(task.train).find("nothing here matches at all", min_words=4).height == 0


def test_span_on_generated_output_from_memorising_model():
    """A model fine-tuned until it memorises generates a training answer; spans find its source."""
    from olkit.attribution.base import ModelContext
    from olkit.train.data import build_examples
    from olkit.train.models import frame_texts, word_base

    task = make_task(n_contributors=1, items_per_contributor=3, n_eval=1, spam_fraction=0,
                     wrong_fraction=0, seed=5)
    base = word_base(frame_texts(task.train), seed=0)
    model = base.model
    batch = build_examples(task.train, base.tokenizer, max_length=64).batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        loss = token_losses(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                            batch.labels).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ctx = ModelContext(model=model, tokenizer=base.tokenizer)
    output = ctx.generate(task.train["instruction"][1], max_new_tokens=30)
    spans = SpanIndex(task.train).find(output, min_words=4)
    assert spans.height >= 1, output
    assert spans.sort("n_words", descending=True)["submission_id"][0] == task.train["submission_id"][1]


# ----------------------------------------------------------------------------------------------
# results and metrics
# ----------------------------------------------------------------------------------------------
def test_attribution_result_views():
    a = Attribution("m", np.array([[1.0, -2.0], [3.0, 0.5], [0.0, 0.0]]), ["s1", "s2", "s3"], ["e1", "e2"],
                    ["x", "y", "x"], content_hashes=["h1", "h2", "h3"])
    assert a.to_frame().height == 6 and set(a.to_frame().columns) >= {"eval_id", "score", "content_hash"}
    assert a.items()["submission_id"].to_list() == ["s2", "s3", "s1"]
    assert dict(a.by_contributor().select("contributor_id", "score").rows()) == {"y": 3.5, "x": -1.0}
    assert a.top(0, 1)["submission_id"].to_list() == ["s2"]
    with pytest.raises(ValueError, match="shape"):
        Attribution("m", np.zeros((2, 2)), ["a"], ["e1", "e2"], ["x"])


def test_metrics_on_known_answers():
    subsets = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=bool)
    scores = np.array([[1.0], [2.0], [4.0]])
    actual = -(subsets @ scores)  # losses exactly as a linear datamodel predicts
    assert lds(scores, subsets, actual) == pytest.approx(1.0)
    assert lds(-scores, subsets, actual) == pytest.approx(-1.0)
    assert auc(np.array([0.1, 0.9, 0.8, 0.2]), np.array([0, 1, 1, 0])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5
    # harm counts negative influence only, each eval column standardised
    s = np.array([[1.0, 1.0], [-1.0, 3.0], [0.5, -0.5]])
    z = s / s.std(axis=0)
    np.testing.assert_allclose(harm_scores(s), [0.0, -z[1, 0], -z[2, 1]])


def test_methods_reject_bad_frames(small):
    task, _, ctx = small
    with pytest.raises(InputError, match="response"):
        DataInf().attribute(ctx, task.train, task.eval.drop("response"))
    broken = task.train.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None)
                                     .otherwise(pl.col("instruction")).alias("instruction"))
    with pytest.raises(InputError, match="line 4"):
        TracIn().attribute(ctx, broken, task.eval)
    with pytest.raises(ValueError, match="unknown attribution method"):
        make_method("oracle")


# ----------------------------------------------------------------------------------------------
# against retraining
# ----------------------------------------------------------------------------------------------
def test_gradient_attribution_predicts_retraining():
    """LDS on a small CPU setup: gradient attribution predicts retrained losses; spam is found.

    (The comparison with the embedding baseline over several seeds and larger sizes is the job of
    ``benchmarks/attribution_bench.py``; here a random-score control must score far lower.)
    """
    task = make_task(n_contributors=5, items_per_contributor=8, n_eval=8, seed=0)
    setup = Setup.from_task(task, seed=0)
    gt = ground_truth(setup, n_subsets=12, loco=False, seed=0)
    assert (gt.init_losses - gt.full_losses).mean() > 0.5  # training really moves the eval loss
    ctx = setup.train_full()
    results = {name: make_method(name).attribute(ctx, task.train, task.eval) for name in ("tracin_adam", "datainf")}
    score = {name: lds(a.scores, gt.subsets, gt.subset_losses) for name, a in results.items()}
    control = lds(np.random.default_rng(0).normal(size=results["datainf"].scores.shape), gt.subsets,
                  gt.subset_losses)
    best = max(score, key=score.get)
    assert score[best] >= 0.3 and score[best] > control + 0.2, (score, control)
    labels = task.train["label"].to_numpy()
    keep = labels != "wrong_answer"
    spam_auc = auc(-results[best].item_scores()[keep], (labels == "spam")[keep])
    assert spam_auc >= 0.8, spam_auc
    assert 0.0 <= bad_data_auc(results[best], task.bad_mask) <= 1.0
    # the same seed gives the same ground truth
    again = ground_truth(setup, n_subsets=2, loco=False, seed=0)
    np.testing.assert_allclose(again.subset_losses, gt.subset_losses[:2], rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# adapters, CLI, widget
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adapter(small, tmp_path_factory):
    task, setup, _ = small
    folder = setup.save_adapter(tmp_path_factory.mktemp("adapter") / "tiny")
    eval_file = folder.parent / "eval.jsonl"
    task.eval.write_ndjson(eval_file)
    return folder, eval_file


def test_saved_adapter_reproduces_in_memory_scores(small, adapter):
    from olkit.attribution.adapters import load_context

    task, setup, ctx = small
    folder, _ = adapter
    loaded, frame = load_context(folder)
    assert frame["submission_id"].to_list() == task.train["submission_id"].to_list()
    assert [c.step for c in loaded.checkpoints] == [c.step for c in ctx.checkpoints]
    assert all((c.precond is None) == (d.precond is None) for c, d in zip(loaded.checkpoints, ctx.checkpoints, strict=True))
    a = TracIn(adam=True).attribute(ctx, task.train, task.eval)
    b = TracIn(adam=True).attribute(loaded, frame, task.eval)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-6)


def test_cli_attribute_then_reward(adapter, tmp_path, capsys):
    from olkit.cli import main

    folder, eval_file = adapter
    out = tmp_path / "att.parquet"
    assert main(["attribute", "--adapter", str(folder), "--method", "datainf", "--eval", str(eval_file),
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    att = pl.read_parquet(out)
    assert att.height == summary["n_train"] * summary["n_eval"] == 36 * 8
    assert {"submission_id", "contributor_id", "content_hash", "eval_id", "score"} <= set(att.columns)
    pay = tmp_path / "pay.parquet"
    assert main(["reward", "--attribution", str(out), "--budget", "500", "--out", str(pay), "--json"]) == 0
    payouts = pl.read_parquet(pay)
    assert payouts["payout"].sum() == pytest.approx(500.0)
    assert (payouts["payout"] >= 0).all()
    # bad input: one line naming the file, exit code 2, nothing written
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "q"}\n')
    assert main(["attribute", "--adapter", str(folder), "--method", "span", "--eval", str(bad),
                 "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "response" in err
    assert not (tmp_path / "x.parquet").exists()


def test_attribution_explorer_drives_without_browser(small):
    from olkit.widgets.attribution_explorer import AttributionExplorer

    task, _, ctx = small
    ex = AttributionExplorer(ctx, task.train, task.eval, methods=("datainf", "span"), budget=100.0, k=3,
                             max_new_tokens=8)
    assert all(a.eval_ids == ["answer"] for a in ex.attributions.values())
    assert isinstance(ex.answer_text, str) and "model answer" in ex.answer.value
    assert set(ex.top_items["method"]) == {"datainf", "span"}
    assert ex.top_items.filter(pl.col("method") == "datainf").height == 3
    assert len(ex.figure.data) == 2
    assert ex.payouts["payout"].sum() == pytest.approx(100.0)
    first = ex.top_contributors
    ex.prompt.value = ex.prompt.options[2]
    assert ex.answer.value and ex.current_prompt == task.eval["instruction"][1]
    assert not ex.top_contributors.equals(first)
    ex.custom.value = task.train["instruction"][0]
    ex.run()
    assert ex.current_prompt == task.train["instruction"][0]
    ex.method.value = "span"  # payouts follow the chosen method (span may pay nothing for a fresh answer)
    assert ex.payouts["payout"].sum() in (pytest.approx(100.0), 0.0)
