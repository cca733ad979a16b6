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
  Same-question pooling and first-item cluster values inside ``contributor_payouts`` were tried
  on the tuning seeds too (they help little without the unique payout model) and stay off by
  default (``rewards.params`` options), so the attribution benchmark's payouts are unchanged.
* **Attacker payout ratio** = (total paid to the attacker's identities in the attacked world + 1) /
  (paid to the attacker in the honest world + 1); the +1 (0.1 % of the budget) keeps a zero
  honest payout finite.  Per attack: mean over task seeds and the upper end of the 95 %
  t-interval of the mean (``upper95``).  Target (issue 12): ``upper95 <= 1.05`` for every attack.
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
from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD  # noqa: E402
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


def _summary(outs: list) -> dict:
    s = summarize([o.ratio for o in outs])
    gain = summarize([(o.attacked - o.honest) / 1000.0 for o in outs])
    return {"ratio_mean": s["mean"], "upper95": s["ci95"][1], "lower95": s["ci95"][0],
            "ratio_median": float(np.median([o.ratio for o in outs])),
            "honest_mean": float(np.mean([o.honest for o in outs])),
            "attacked_mean": float(np.mean([o.attacked for o in outs])),
            # added after the first run (post hoc): the ratio explodes when the honest payout is ~0,
            # so the gain as a share of the budget is reported beside it
            "gain_share_of_budget": gain,
            "ratios": [o.ratio for o in outs],
            "honest": [o.honest for o in outs], "attacked": [o.attacked for o in outs]}


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
                        "retrain, attribute, allocate); full_pipeline_unique (payout model on each question's first "
                        "submission) meets the line by construction -- the issue's attacks re-use existing questions, so "
                        "their rows never reach the payout model -- at the cost of paying nothing for a second honest "
                        "answer, and is not wired into olkit.economy; attribution_only is the attribution stage alone"),
        "attacks": {a: v for a, v in modes[judged].items() if a in ATTACKS},
        "probes": {m: {a: {k: v[k] for k in ("ratio_mean", "upper95", "ratio_median")} for a, v in per.items()
                       if a in PROBES} for m, per in modes.items()},
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
    print(json.dumps({m: {a: [round(v[k], 3) for k in ("ratio_mean", "upper95")] for a, v in per.items()}
                      for m, per in modes.items()}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
