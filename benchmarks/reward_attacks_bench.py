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
* **Attacker payout ratio** = (total paid to the attacker's identities in the attacked world + 1) /
  (paid to the attacker in the honest world + 1); the +1 (0.1 % of the budget) keeps a zero
  honest payout finite.  Per attack: mean over task seeds and the upper end of the 95 %
  t-interval of the mean (``upper95``).  Target (issue 12): ``upper95 <= 1.05`` for every attack.
* Checks (``pass``): >= 10 seeds, every attack ran, the budget is paid exactly in every world;
  the issue's target is reported per attack in ``issue_targets`` (met or not).
* Attacks: :data:`olkit.attribution.attacks.ATTACKS` (sybil split into 3 identities, whitewashing
  a low-standing identity, exact / one-word / re-worded copies of own and of another
  contributor's items, noise padding with random training words).

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

from olkit.attribution.attacks import ATTACKS, attack_payout  # noqa: E402
from olkit.attribution.contributors import summarize  # noqa: E402
from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD  # noqa: E402
from olkit.attribution.task import make_task  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--method", default=DEFAULT_PAYOUT_METHOD)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="two seeds (not written)")
    ap.add_argument("--out", default=str(RESULTS / "reward_attacks.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds = [0, 1]
    t0 = time.perf_counter()
    outcomes: dict[str, list] = {a: [] for a in ATTACKS}
    for seed in tqdm(args.seeds, desc="task seeds"):
        task = make_task(n_contributors=5, items_per_contributor=6, n_eval=24, seed=seed)
        for attack in ATTACKS:
            outcomes[attack].append(attack_payout(task, attack, method=args.method))
    attacks = {}
    for attack, outs in outcomes.items():
        s = summarize([o.ratio for o in outs])
        gain = summarize([(o.attacked - o.honest) / 1000.0 for o in outs])
        attacks[attack] = {"ratio_mean": s["mean"], "upper95": s["ci95"][1], "lower95": s["ci95"][0],
                           "ratio_median": float(np.median([o.ratio for o in outs])),
                           "honest_mean": float(np.mean([o.honest for o in outs])),
                           "attacked_mean": float(np.mean([o.attacked for o in outs])),
                           # added after the first run (post hoc): the ratio explodes when the honest
                           # payout is ~0, so the gain as a share of the budget is reported beside it
                           "gain_share_of_budget": gain,
                           "ratios": [o.ratio for o in outs],
                           "honest": [o.honest for o in outs], "attacked": [o.attacked for o in outs]}
    # the issue's target per attack is reported in issue_targets, met or not; the checks are what
    # this run guarantees (enough seeds, every attack ran, budgets conserved in every world)
    issue_targets = {f"{a}_upper95_le_1.05": bool(v["upper95"] <= 1.05) for a, v in attacks.items()}
    checks = {"at_least_10_task_seeds": len(args.seeds) >= 10,
              "every_attack_ran": all(len(outcomes[a]) == len(args.seeds) for a in ATTACKS),
              "budget_conserved": all(abs(o.total_paid - 1000.0) < 1e-6 * 1000 for outs in outcomes.values()
                                      for o in outs)}
    result = {
        "benchmark": "reward_attacks",
        "description": "attacker payout ratio (attacked / honest) after retrain -> attribute -> allocate",
        "method": args.method,
        "attacks": attacks,
        "issue_targets": issue_targets,
        "issue_targets_met": all(issue_targets.values()),
        "sizes": {"seeds": args.seeds, "n_contributors": 5, "items_per_contributor": 6, "n_eval": 24, "budget": 1000.0},
        "targets": {"upper95_at_most": 1.05},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "machine": machine_info("torch", torch_threads=args.threads, note="shared 2-core machine"),
    }
    status = write_result(result, checks, None if args.quick else args.out)
    print(json.dumps({a: {k: round(v[k], 3) for k in ("ratio_mean", "upper95")} for a, v in attacks.items()}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
