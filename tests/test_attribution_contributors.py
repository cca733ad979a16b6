"""Contributor-level ground truth, the batched task model, batched per-example gradients, payouts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from olkit.attribution.contributors import (
    Game,
    GameConfig,
    coalitions,
    exact_shapley,
    noise_ceiling,
    rank_corr,
    shapley_values,
    shares,
    total_variation,
)
from olkit.attribution.fastlm import TaskLM, batch_masks, train_many
from olkit.attribution.grads import per_example_grads
from olkit.attribution.payouts import contributor_payouts, near_duplicate_clusters
from olkit.attribution.task import make_task
from olkit.errors import OlkitError
from olkit.train.data import build_examples
from olkit.train.qlora import TrainConfig, per_example_loss

SMALL = GameConfig(train_seeds=(0, 1, 2), steps=8, n_subsets=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task():
    return make_task(n_contributors=2, items_per_contributor=5, n_eval=8, canaries=True, seed=3)


def test_shapley_values_exact_on_known_games():
    # additive game: every contributor's value is its own utility
    own = np.array([1.0, -2.0, 0.5])
    util = coalitions(3).astype(float) @ own
    np.testing.assert_allclose(shapley_values(util, 3), own)
    # glove game: a and b only together are worth 1 -> 1/2 each; efficiency holds
    v = np.array([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(shapley_values(v, 2), [0.5, 0.5])
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4, 16))
    u[:, 0] = 0.0
    np.testing.assert_allclose(shapley_values(u, 4).sum(-1), u[:, -1])


def test_metrics():
    assert total_variation(shares([1.0, 1.0]), shares([3.0, -1.0])) == pytest.approx(0.5)
    assert rank_corr([1, 1, 1], [1, 2, 3]) == 0.0
    vals = np.array([[1.0, 2.0, 3.0], [1.1, 2.1, 2.9], [0.9, 2.2, 3.1]])
    nc = noise_ceiling(vals)
    assert nc["spearman"] == pytest.approx(1.0) and nc["tv"] < 0.05 and 0 < nc["band"] < 0.1


def test_batch_masks_visit_only_members_in_seeded_order():
    members = np.array([[1, 1, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    w = batch_masks(members, steps=4, batch_size=2, seeds=[0, 0, 1]).numpy()
    assert w.shape == (3, 4, 6)
    assert (w[0][:, ~members[0]] == 0).all() and w[1].sum() == 0
    assert (w[0].sum(1) == 2).all() and (w[2].sum(1) == 2).all()
    assert (w[0][:2].sum(0)[members[0]] == 1).all()  # one epoch = every member once
    again = batch_masks(members, steps=4, batch_size=2, seeds=[0, 0, 1]).numpy()
    np.testing.assert_array_equal(w, again)


def test_stacked_training_equals_separate_runs_and_module(task):
    lm = TaskLM.fit(task.train, task.eval, seed=0)
    tr, ev = lm.features(task.train), lm.features(task.eval)
    members = np.random.default_rng(0).random((3, tr.n)) < 0.6
    seeds = [0, 1, 0]
    both = train_many(lm, tr, batch_masks(members, steps=5, batch_size=4, seeds=seeds), seeds=seeds, steps=5)
    for m in range(3):
        one = train_many(lm, tr, batch_masks(members[m:m + 1], steps=5, batch_size=4, seeds=seeds[m:m + 1]),
                         seeds=seeds[m:m + 1], steps=5)
        for k in both.params:
            torch.testing.assert_close(both.params[k][m], one.params[k][0], rtol=1e-5, atol=1e-6)
    assert both.losses[-1].mean() < both.losses[0].mean()
    module = lm.module(both.state(1))
    batch = build_examples(task.eval, lm.tokenizer, max_length=lm.max_length).batch()
    np.testing.assert_allclose(per_example_loss(module, batch), lm.losses(both.params, ev)[1], rtol=1e-5)


def test_batched_per_example_grads_equal_the_loop(task):
    from olkit.train.models import frame_texts, word_base
    from olkit.train.qlora import attach_lora

    base = word_base(frame_texts(task.train, task.eval), hidden=32, layers=1, seed=0)
    model = attach_lora(base, TrainConfig(quantization=None, seed=0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and "lora_B" in name:
                p.normal_(0.0, 0.05)
    batch = build_examples(task.train.head(12), base.tokenizer, max_length=32).batch()
    hooks = per_example_grads(model, batch, method="hooks", chunk=5).flat()
    loop = per_example_grads(model, batch, method="loop").flat()
    rel = ((hooks - loop).norm(dim=1) / loop.norm(dim=1)).max().item()
    assert rel < 1e-4
    assert loop.abs().sum() > 0 and per_example_grads(model, batch).flat().shape == loop.shape  # auto = hooks


def test_exact_shapley_small_game_and_canary_task(task):
    game = Game.from_task(task, SMALL)
    assert len(game.contributors) == 5 and "canary-spam" in game.contributors
    gt = exact_shapley(game)
    assert gt.values.shape == (3, 5) and gt.utility.shape == (3, 32)
    np.testing.assert_allclose(gt.values.sum(1), gt.utility[:, -1], rtol=1e-9)  # efficiency
    assert gt.utility[:, 0] == pytest.approx(0.0)  # the empty coalition trains nothing


def test_near_duplicate_clusters_pool_one_word_variants(task):
    clusters = near_duplicate_clusters(task.train)
    lab = task.train.select("submission_id", "label", "contributor_id").join(clusters, on="submission_id")
    copies = lab.filter(pl.col("contributor_id") == "canary-copy")
    originals = lab.filter(pl.col("contributor_id") == "c000")
    assert set(copies["cluster"]) <= set(originals["cluster"])  # every copy joins its original
    sole = lab.filter(pl.col("contributor_id") == "canary-sole")
    assert not set(sole["cluster"]) & set(originals["cluster"])


def test_contributor_payouts_end_to_end(task):
    game = Game.from_task(task, SMALL)
    ctx, _ = game.fine_tune(0)
    assert ctx.checkpoints and ctx.checkpoints[-1].precond is not None
    pay = contributor_payouts(ctx, task.train, task.eval, 1000.0, method="tracin_adam")
    assert pay.columns[:2] == ["contributor_id", "amount"]
    assert pay["amount"].sum() == pytest.approx(1000.0) and (pay["amount"] >= 0).all()
    assert pay.filter(pl.col("contributor_id") == "canary-copy")["amount"].sum() == 0.0  # copies earn once
    rep = {c: 0.8 for c in set(task.train["contributor_id"]) - {"c001"}} | {"c001": 0.3}
    fresh = task.train.with_columns(pl.col("contributor_id").replace("c001", "c001-new"))
    weighted = contributor_payouts(ctx, fresh, task.eval, 1000.0, method="tracin_adam", reputation=rep)
    assert weighted.filter(pl.col("contributor_id") == "c001-new")["reputation"].item() == pytest.approx(0.3)


def test_tracin_adam_refuses_without_optimizer_state(task):
    from olkit.attribution.methods import make_method

    game = Game.from_task(task, SMALL)
    ctx, _ = game.fine_tune(0)
    for ck in ctx.checkpoints:
        ck.precond = None
    with pytest.raises(OlkitError, match="second moments"):
        make_method("tracin_adam").attribute(ctx, task.train, task.eval)


def test_text_baselines_score_matching_items_highest(task):
    from olkit.attribution.methods import make_method

    for name in ("tfidf", "bm25"):
        att = make_method(name).attribute(None, task.train, task.train.head(3))
        assert (att.scores.argmax(0)[:3] == np.arange(3)).all() or name == "bm25"
        np.testing.assert_allclose(att.scores.mean(0), 0.0, atol=1e-9)


def test_train_stage_adapter_keeps_adam_state_and_steps_seen(task, tmp_path):
    """olkit.train saves Adam's preconditioner with each checkpoint; tracin_adam uses it on the reload,
    and attribution covers exactly the rows the run trained on."""
    from olkit.attribution.adapters import load_context
    from olkit.attribution.methods import make_method
    from olkit.train import TrainConfig, build_examples, load_base, train

    base = load_base("tiny-llama", quantization=None)
    frame = task.train.head(6)
    ex = build_examples(frame, base.tokenizer, max_length=64)
    cfg = TrainConfig(steps=2, batch_size=2, checkpoint_every=1, quantization=None, learning_rate=1e-3)
    res = train(base, ex, cfg, out_dir=tmp_path / "a", progress=False)
    seen = res.manifest["step_submission_ids"]
    assert len(seen) == 2 and all(len(s) == 2 for s in seen)
    assert sorted({i for s in seen for i in s}) == sorted(res.manifest["submission_ids"])
    ctx, rows = load_context(tmp_path / "a", train=task.train, max_length=64)
    assert sorted(rows["submission_id"]) == sorted(res.manifest["submission_ids"])
    assert ctx.checkpoints and all(ck.precond is not None for ck in ctx.checkpoints)
    att = make_method("tracin_adam").attribute(ctx, rows, task.eval.head(1))
    assert att.scores.shape == (rows.height, 1) and np.isfinite(att.scores).all()
