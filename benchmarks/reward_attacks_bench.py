"""Attacks on attribution payouts, end to end: change the data, retrain, attribute, allocate.

Metric definitions (fixed before any result was looked at):

* **Units**: task seeds ``--seeds`` (>= 10); each task has 5 regular contributors, 6 items each,
  24 eval items (``make_task(n_contributors=5, items_per_contributor=6, n_eval=24)``), attacker
  ``c000`` (standing 0.5), victim of copy attacks ``c001``; the other standings are uniform in
  [0.3, 1] (seeded).
* **Pipeline** per world: the batched task model (:mod:`olkit.attribution.fastlm`) fitted on the
  world's data, fine-tuned (training seed 0), attributed with the payout method
  (:data:`olkit.attribution.payouts.DEFAULT_PAYOUT_METHOD`), paid by
  :func:`olkit.attribution.contributor_payouts` with the default ``Policy()`` and reputation
  weighting, budget 1000.  Fresh identities get the newcomer prior (lowest known standing).
* **Modes** (:data:`olkit.attribution.attacks.MODES`), all reported side by side:
  ``attribution_only`` (every submission trained on: the attribution stage alone),
  ``full_pipeline`` (the economy's flow as ``olkit run`` does it today: the default policy's
  rule-based filter pipeline -- format, pii, heuristics, spam, language, exact + MinHash dedup in
  arrival order, honest rows first -- decides before training), and the ``*_unique`` variants
  (the payout model is trained and attributed on the first submission of every near-duplicate /
  same-question cluster only, clusters formed over everything submitted).  The issue's
  acceptance line is judged on ``full_pipeline``, the economy as ``olkit run`` runs it;
  ``full_pipeline_unique`` meets it by construction (attack rows re-use existing questions and never
  reach the payout model) and is an opt-in proposal, not wired into the economy.
* **Tuning**: the defence (payout model on each question's first submission, clusters over
  rejected rows too) was chosen on task seeds 100-104; the reported seeds are 0-9 (disjoint).
  Second round (h34): the payout rule of ``contributor_payouts`` -- now the default of
  ``rewards.params`` and what the economy pays through -- was chosen on the same tuning seeds
  among the variants in :data:`TUNING` (all reported there): MiniLM + TF-IDF near-duplicate
  clusters (MiniLM threshold 0.92: the lowest that links >= 95 % of the tuning seeds' one-word,
  paraphrased and re-questioned copies), first-arrival cluster value and credit, median centring,
  an item noise gate (2 % of the credited value) and the contributor noise gate (5 %).  Rule:
  most issue attacks with ``upper95 <= 1.05`` in ``full_pipeline``, then the best canary pass rate.
* **Attacker payout ratio** = (total paid to the attacker's identities in the attacked world + 1) /
  (paid to the attacker in the honest world + 1); the +1 (0.1 % of the budget) keeps a zero
  honest payout finite.  Per attack: mean over task seeds and the upper end of the 95 %
  t-interval of the mean (``upper95``).  Target (issue 12): ``upper95 <= 1.05`` for every attack.
* **Noise floor and a second ratio** (written down before the reported run of the second round):
  the per-seed ratio has ``honest + 1`` in its denominator; when the contributor noise gate pays the
  attacker 0 in the honest world (2 of the 10 reported seeds in the first round), any retraining
  change that lifts them over the gate gives a per-seed ratio of 100-500, so the mean and its
  t-interval measure the gate's discontinuity, not the attack: the control probe (the attacker
  idle) reached upper95 46.9 that way.  On the tuning seeds no honest payout was 0 and the control's
  upper95 was 1.1-1.3 with mean 0.5-0.6: retraining on changed data moves a contributor's payout by
  tens of percent, which is the floor any attack whose rows are trained on is measured against.
  Reported beside the issue's metric (which stays the one ``issue_targets`` judge):
  ``ratio_of_means`` = sum over seeds of attacked / sum of honest payouts, with a paired bootstrap
  95 % upper bound over seeds (``ratio_of_means_upper95``, 2000 resamples) -- it weights seeds by
  what is at stake and is finite when one honest payout is 0.
* **Cluster quality** (``clusters``): on the reported seeds' honest tasks, the share of distinct
  genuine items that the payout's clusters merge with another item (false merges cost honest
  contributors), TF-IDF links alone and with MiniLM; and the share of attack rows (one-word,
  paraphrased, re-questioned copies) that join their source's cluster.
* Checks (``pass``): >= 10 seeds, every attack ran, the budget is paid exactly in every world;
  the issue's target is reported per attack in ``issue_targets`` (met or not).
* Attacks: :data:`olkit.attribution.attacks.ATTACKS` (sybil split into 3 identities, whitewashing
  a low-standing identity, exact / one-word / re-worded copies of own and of another
  contributor's items, noise padding with random training words).  :data:`~olkit.attribution.attacks.PROBES`
  (padding under new questions, another's answers under re-worded questions, and a control where
  the *victim* pads with new questions while the attacker does nothing -- the attacker's ratio is
  then pure retraining noise) were added after the defences were designed and are reported apart
  (``probes``), outside the acceptance line.

    .venv/bin/python benchmarks/reward_attacks_bench.py [--seeds 0 ... 9] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script folder)
from tqdm.auto import tqdm  # noqa: E402

from olkit.attribution.attacks import ATTACKS, MODES, PROBES, attack_suite  # noqa: E402
from olkit.attribution.contributors import summarize  # noqa: E402
from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD, payout_params  # noqa: E402
from olkit.attribution.task import make_task  # noqa: E402

JUDGED = "full_pipeline"  # what `olkit run` does: the economy as a user runs it
MODE_NOTES = {
    "attribution_only": "every submission is trained on, attributed and paid (the attribution stage alone)",
    "full_pipeline": "the default policy's rule-based filter pipeline decides first (dedup over the ledger in arrival "
                     "order); only accepted rows are trained on, attributed and paid -- the flow of `olkit run` today",
    "attribution_only_unique": "no filters; the payout model is trained on the first submission of every "
                               "near-duplicate / same-question cluster only",
    "full_pipeline_unique": "filters, then the payout model is trained on the accepted rows that are first in their "
                            "near-duplicate / same-question cluster (clusters over everything submitted)",
}


#: recorded, not recomputed: the first run on the reported seeds 0-9 linked rows for the payout model
#: by TF-IDF cosine too; its IDF is refitted on each world, so appended rows re-clustered honest ones
#: and these upper95 failed.  unique_rows now links by the same question only (arrival-stable); the
#: fix was checked on tuning seeds 100-104 before the reported run.  Attacks not listed were <= 1.05.
FIRST_RUN_FAILURES = {"attribution_only_unique": {"copy_own_exact": 1.089, "copy_own_near": 1.089,
                                                  "noise_padding": 1.089},
                      "full_pipeline_unique": {"copy_other_paraphrase": 1.426}}


#: recorded from the second round's tuning runs (task seeds 100-104, full_pipeline, 5 seeds, trak):
#: payout variants of contributor_payouts: max upper95 over the issue's 9 attacks, how many of the 9
#: have upper95 <= 1.05, the control probe's upper95, and canary pass rates (spam, sole, copy) on
#: the attribution task (3 variants x 5 seeds); "chosen" is the default now
TUNING = {
    "old_default (tfidf 0.85, best value, mean centring)": {"max_upper95": 3.67, "met": 4, "control_upper95": 1.23,
                                                            "canaries": [0.733, 0.867, 1.0]},
    "+ semantic 0.92, first value": {"max_upper95": 3.17, "met": 4, "control_upper95": 1.28, "canaries": [0.733, 0.867, 1.0]},
    "+ semantic 0.92, first, median centring": {"max_upper95": 2.00, "met": 5, "control_upper95": 1.22,
                                                "canaries": [0.6, 0.867, 1.0]},
    "+ ... median, ramp gate": {"max_upper95": 2.06, "met": 4, "control_upper95": 1.25, "canaries": [0.6, 0.867, 1.0]},
    "+ semantic, first, no gate": {"max_upper95": 3.01, "met": 5, "control_upper95": 1.21, "canaries": None},
    "+ semantic, first, no centring": {"max_upper95": 1.99, "met": 4, "control_upper95": 1.20, "canaries": [0.533, 0.867, 1.0]},
    "+ semantic 0.85, first, median": {"max_upper95": 1.97, "met": 4, "control_upper95": 1.13, "canaries": None},
    "+ semantic, first, median, item gate 1%": {"max_upper95": 1.99, "met": 5, "control_upper95": 1.24,
                                                "canaries": [0.6, 0.867, 1.0]},
    "chosen: + semantic, first, median, item gate 2%": {"max_upper95": 1.89, "met": 5, "control_upper95": 1.12,
                                                        "canaries": [0.6, 0.867, 1.0]},
    "+ ... item gate 2%, contributor gate 7.5%": {"max_upper95": 2.05, "met": 4, "control_upper95": 1.09,
                                                  "canaries": [0.8, 0.867, 1.0]},
    "+ ... item gate 2%, contributor gate 10%": {"max_upper95": 2.12, "met": 4, "control_upper95": 1.24,
                                                 "canaries": [0.867, 0.867, 1.0]},
    "+ semantic, first, median, gate 10%": {"max_upper95": 2.21, "met": 4, "control_upper95": 1.35,
                                            "canaries": [0.867, 0.867, 1.0]},
    "+ semantic, first, mean, gate 10%": {"max_upper95": 195.3, "met": 4, "control_upper95": 1.07,
                                          "canaries": [0.933, 0.867, 1.0]},
    "+ semantic, first, mean, ramp gate": {"max_upper95": 7.49, "met": 4, "control_upper95": 1.68,
                                           "canaries": [0.8, 0.867, 1.0]},
    "+ item gate at 2 robust SDs (median/MAD) of item scores, mean": {
        "max_upper95": 1.35, "met": 7, "control_upper95": 1.0, "canaries": [1.0, 0.733, 1.0],
        "rejected": "degenerate: pays the whole budget to one contributor in 4 of 5 tuning tasks"},
    "+ item gate at 3 robust SDs, median": {"max_upper95": 1.35, "met": 7, "control_upper95": 1.0,
                                            "canaries": [1.0, 0.8, 1.0], "rejected": "degenerate, as above"},
}


def _bootstrap_rom_upper(honest: np.ndarray, attacked: np.ndarray, *, n: int = 2000, seed: int = 0) -> float:
    """Paired bootstrap over seeds of sum(attacked) / sum(honest): the 97.5th percentile."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, honest.size, size=(n, honest.size))
    h, a = honest[idx].sum(1), attacked[idx].sum(1)
    return float(np.quantile((a + 1e-9) / (h + 1e-9), 0.975))


def _summary(outs: list) -> dict:
    s = summarize([o.ratio for o in outs])
    gain = summarize([(o.attacked - o.honest) / 1000.0 for o in outs])
    h = np.array([o.honest for o in outs])
    a = np.array([o.attacked for o in outs])
    return {"ratio_mean": s["mean"], "upper95": s["ci95"][1], "lower95": s["ci95"][0],
            "ratio_of_means": float(a.sum() / h.sum()) if h.sum() > 0 else None,
            "ratio_of_means_upper95": _bootstrap_rom_upper(h, a) if h.sum() > 0 else None,
            "honest_zero": int((h < 1e-9).sum()),
            "ratio_median": float(np.median([o.ratio for o in outs])),
            "honest_mean": float(np.mean([o.honest for o in outs])),
            "attacked_mean": float(np.mean([o.attacked for o in outs])),
            # added after the first run (post hoc): the ratio explodes when the honest payout is ~0,
            # so the gain as a share of the budget is reported beside it
            "gain_share_of_budget": gain,
            "ratios": [o.ratio for o in outs],
            "honest": [o.honest for o in outs], "attacked": [o.attacked for o in outs]}


def cluster_quality(seeds: list[int]) -> dict:
    """False merges of distinct genuine items and the catch rate of attack copies, per link rule."""
    import polars as pl

    from olkit.attribution.attacks import apply_attack
    from olkit.attribution.payouts import NEAR_DUP_THRESHOLD, SEMANTIC_THRESHOLD, near_duplicate_clusters

    rules = {"tfidf": {"threshold": NEAR_DUP_THRESHOLD},
             "tfidf+minilm": {"threshold": NEAR_DUP_THRESHOLD, "semantic_threshold": SEMANTIC_THRESHOLD}}
    out = {}
    for name, kw in rules.items():
        merged = total = 0
        caught = {k: [0, 0] for k in ("near", "paraphrase", "requestion")}
        for seed in seeds:
            task = make_task(n_contributors=5, items_per_contributor=6, n_eval=24, seed=seed)
            genuine = task.train.filter(pl.col("label") == "genuine")
            cl = near_duplicate_clusters(genuine, **kw)
            sizes = cl.group_by("cluster").len()
            merged += int(cl.join(sizes, on="cluster")["len"].gt(1).sum())
            total += cl.height
            for attack, kind in (("copy_own_near", "near"), ("copy_other_near", "near"),
                                 ("copy_own_paraphrase", "paraphrase"), ("copy_other_paraphrase", "paraphrase"),
                                 ("copy_other_requestion", "requestion")):
                frame, _, _ = apply_attack(task.train, attack, seed=seed)
                src = task.train.filter(pl.col("contributor_id") == ("c000" if "_own_" in attack else "c001"))
                cl = dict(near_duplicate_clusters(frame, **kw).iter_rows())
                new = frame["submission_id"].to_list()[task.train.height:]
                hits = sum(cl[a] == cl[b] for a, b in zip(src["submission_id"].to_list(), new, strict=True))
                caught[kind][0] += hits
                caught[kind][1] += len(new)
        out[name] = {"genuine_items_wrongly_merged": merged / total, "n_genuine": total,
                     **{f"{k}_copies_caught": h / n for k, (h, n) in caught.items()}}
    return out


OLD_DEFAULT = {"semantic_threshold": None, "cluster_value": "best", "center": "mean", "item_gate": 0.0}


def payout_canaries(seeds: list[int]) -> dict:
    """Canary pass rates of the payout rule on the attribution task (``make_task(canaries=True)``, the
    three variants of ``benchmarks/attribution_bench.py``, training seed 0, trak): the default rule
    and the first round's rule (``OLD_DEFAULT``) on the same fine-tunes.  Without the exact Shapley
    ground truth, so it is cheap; ``attribution_bench.py`` defines the canaries the same way."""
    from types import SimpleNamespace

    from olkit.attribution.contributors import Game
    from olkit.attribution.methods import make_method
    from olkit.attribution.payouts import contributor_payouts

    variants = {"style": {}, "plain": {"styles": False}, "redundant": {"redundant": True}}
    rules = {"default": None, "first_round_default": SimpleNamespace(params=OLD_DEFAULT, noise_gate=0.05)}
    passed: dict[str, dict[str, list[bool]]] = {r: {"spam": [], "sole": [], "copy": []} for r in rules}
    for v, kw in variants.items():
        for seed in tqdm(seeds, desc=f"canaries {v}", leave=False):
            task = make_task(n_contributors=3, items_per_contributor=6, n_eval=24, canaries=True, seed=seed, **kw)
            ctx, _ = Game.from_task(task, None).fine_tune(0)
            att = make_method(DEFAULT_PAYOUT_METHOD).attribute(ctx, task.train, task.eval)
            for r, pol in rules.items():
                pay = contributor_payouts(None, task.train, task.eval, 1000.0, pol, attribution=att)
                share = dict(zip(pay["contributor_id"].to_list(), (pay["amount"] / 1000.0).to_list(), strict=True))
                others = [a for c, a in share.items() if c != "canary-sole"]
                passed[r]["spam"].append(share.get("canary-spam", 0.0) <= 0.01)
                passed[r]["sole"].append(share.get("canary-sole", 0.0) > max(others))
                passed[r]["copy"].append(share.get("canary-copy", 0.0) <= 0.05)
    return {r: {k: float(np.mean(x)) for k, x in per.items()} | {"n_units": len(per["spam"])}
            for r, per in passed.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--method", default=DEFAULT_PAYOUT_METHOD)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--quick", action="store_true", help="two seeds (not written)")
    ap.add_argument("--out", default=str(RESULTS / "reward_attacks.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds = [0, 1]
    t0 = time.perf_counter()
    c0 = time.process_time()
    outcomes: dict[str, dict[str, list]] = {m: {a: [] for a in ATTACKS + PROBES} for m in args.modes}
    for seed in tqdm(args.seeds, desc="task seeds"):
        task = make_task(n_contributors=5, items_per_contributor=6, n_eval=24, seed=seed)
        for mode in args.modes:
            for o in attack_suite(task, ATTACKS + PROBES, method=args.method, mode=mode):
                outcomes[mode][o.attack].append(o)
    modes = {mode: {attack: _summary(outs) for attack, outs in per.items()} for mode, per in outcomes.items()}
    clusters = cluster_quality(args.seeds)
    canaries = payout_canaries(args.seeds)
    # the issue's target per attack is reported in issue_targets, met or not; the checks are what
    # this run guarantees (enough seeds, every attack ran, budgets conserved in every world)
    issue_targets = {mode: {f"{a}_upper95_le_1.05": bool(v["upper95"] <= 1.05) for a, v in per.items()
                            if a in ATTACKS} for mode, per in modes.items()}
    checks = {"at_least_10_task_seeds": len(args.seeds) >= 10,
              "every_attack_ran": all(len(outs) == len(args.seeds) for per in outcomes.values() for outs in per.values()),
              "budget_conserved": all(abs(o.total_paid - 1000.0) < 1e-6 * 1000 for per in outcomes.values()
                                      for outs in per.values() for o in outs)}
    judged = JUDGED if JUDGED in modes else args.modes[-1]
    result = {
        "benchmark": "reward_attacks",
        "description": "attacker payout ratio (attacked / honest) after retrain -> attribute -> allocate",
        "method": args.method,
        "modes": modes,
        "mode_descriptions": MODE_NOTES,
        "judged_mode": judged,
        "judged_note": ("the acceptance line is judged on the economy as `olkit run` runs it (full_pipeline: filters, then "
                        "retrain, attribute, pay with contributor_payouts under the default rewards.params -- the same "
                        "call olkit.economy.pay_round makes); full_pipeline_unique (payout model on each question's first "
                        "submission) meets the line by construction -- the issue's attacks re-use existing questions, so "
                        "their rows never reach the payout model -- at the cost of paying nothing for a second honest "
                        "answer, and is not wired into olkit.economy; attribution_only is the attribution stage alone"),
        "attacks": {a: v for a, v in modes[judged].items() if a in ATTACKS},
        "probes": {m: {a: {k: v[k] for k in ("ratio_mean", "upper95", "ratio_median", "ratio_of_means",
                                              "ratio_of_means_upper95", "honest_zero")} for a, v in per.items()
                       if a in PROBES} for m, per in modes.items()},
        "payout_params": payout_params(None),
        "clusters": clusters,
        "canaries": canaries,
        "canary_note": ("pass rates over the attribution task's 3 variants x the reported seeds (spam: canary-spam <= 1 % "
                        "of the budget; sole: canary-sole paid most; copy: canary-copy <= 5 %), default payout rule vs "
                        "the first round's; benchmarks/attribution_bench.py (same canaries, with exact Shapley) was "
                        "not re-run in this round (see README)"),
        "canary_targets": {k: {"at_least": 0.9, "measured": canaries["default"][k],
                               "met": canaries["default"][k] >= 0.9} for k in ("spam", "sole", "copy")},
        "tuning": {"seeds": [100, 101, 102, 103, 104], "mode": "full_pipeline", "variants": TUNING,
                   "rule": "most of the 9 issue attacks with upper95 <= 1.05 on the tuning seeds, then best canary "
                           "pass rates; every variant tried is listed"},
        "metric_note": ("issue_targets judge the issue's metric (mean of per-seed (attacked+1)/(honest+1), t-interval "
                        "upper95). ratio_of_means (sum attacked / sum honest, paired bootstrap upper95) was added in the "
                        "second round, before its reported run, because a noise-gated honest payout of 0 makes a "
                        "per-seed ratio of 100-500 out of retraining noise alone (the control probe's 46.9); "
                        "honest_zero counts those seeds. It is reported beside, not instead of, the issue's metric."),
        "probe_note": ("attacks beyond the issue's list, added after the defences were designed, not part of the "
                       "acceptance line: padding under new questions, another's answers under re-worded questions; "
                       "control_bystander_noise: the victim pads with new questions, the attacker does nothing "
                       "(the ratio's noise floor when the data changes)"),
        "issue_targets": issue_targets,
        "issue_targets_met": {m: all(v.values()) for m, v in issue_targets.items()},
        "tuning_seeds": [100, 101, 102, 103, 104],
        "first_run_on_reported_seeds": {"upper95_failures": FIRST_RUN_FAILURES,
                                        "note": "*_unique modes with TF-IDF links (IDF refitted per world) in "
                                                "unique_rows; replaced by same-question links after this run"},
        "sizes": {"seeds": args.seeds, "n_contributors": 5, "items_per_contributor": 6, "n_eval": 24, "budget": 1000.0},
        "targets": {"upper95_at_most": 1.05},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - c0, 1),
        "machine": machine_info("torch", torch_threads=args.threads, note="shared 2-core machine"),
    }
    status = write_result(result, checks, None if args.quick else args.out)
    print(json.dumps({"clusters": clusters, "canaries": canaries}, indent=1))
    print(json.dumps({m: {a: [round(v[k] or 0, 3) for k in ("ratio_mean", "upper95", "ratio_of_means",
                                                         "ratio_of_means_upper95")] for a, v in per.items()}
                      for m, per in modes.items()}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
