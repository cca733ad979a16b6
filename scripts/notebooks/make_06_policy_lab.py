"""Generate notebooks/06_policy_lab.ipynb (run: .venv/bin/python scripts/notebooks/make_06_policy_lab.py)."""

from pathlib import Path

from nbgen import write

ROOT = Path(__file__).resolve().parents[2]

write(ROOT / "notebooks" / "06_policy_lab.ipynb", [
("md", """
# 06 · Policy lab: three policies compared end to end

A policy is one YAML file: filter thresholds, reputation rule, reward rule and training-set
selection. Here the three bundled policies meet the same contributions:

* **strict** — tight thresholds and a leaderboard-style acceptance-ratio reputation (every rejection
  counts against you for good);
* **lenient** — volume first: only exact duplicates, spam and broken formatting are rejected, and the
  model trains on everything;
* **forgiving** — the default filters with the *decoupled* reputation rule, where a rejected
  submission is not a less valuable contributor, and quality-weighted rewards.

For each policy: the filter decisions against ground truth (scores computed once, re-decided per
policy), the simulated economy under attack, the held-out loss of a QLoRA adapter trained on the
policy's selection, and attribution-based payouts. The logic lives in `olkit.policy_lab`.
"""),
("params", """
# Parameters (full size; tests run this notebook small)
policy_names = ["strict", "lenient", "forgiving"]
n_contributors = 40
seed = 0
models = True
sim_agents = 1000
sim_epochs = 80
sim_seeds = 2
base_model = "smollm2-135m"
train_steps = 20
max_eval = 16
max_attribution_train = 24
budget = 1000.0
"""),
("code", """
import polars as pl

from olkit.policy import Policy, bundled_policies, diff
from olkit.policy_lab import compare_end_to_end
from olkit.viz import show

policies = {name: Policy.load(bundled_policies()[name]) for name in policy_names}
for name, p in policies.items():
    print(f"{name:10s} {p.version_hash}  {p.description.strip()[:90]}...")
"""),
("md", """
What differs between them, key by key (the same as `olkit policy diff A B`):
"""),
("code", """
first = policy_names[0]
pl.DataFrame([{"key": k, first: str(a), other: str(b)}
              for other in policy_names[1:] for k, (a, b) in diff(policies[first], policies[other]).items()])
"""),
("code", """
lab = compare_end_to_end(policies, n_contributors=n_contributors, seed=seed, models=models,
                         sim_agents=sim_agents, sim_epochs=sim_epochs, sim_seeds=sim_seeds,
                         base_model=base_model, train_steps=train_steps, max_eval=max_eval,
                         max_attribution_train=max_attribution_train, budget=budget)
show(lab.figure())
lab.table
"""),
("md", """
## Reading the dashboard

The verdicts below are computed from the table above, so they state whatever this run found.
"""),
("code", """
t = {r["policy"]: r for r in lab.table.iter_rows(named=True)}
best = lambda metric, low=False: (min if low else max)(t, key=lambda k: t[k][metric])
print(f"best filter F1 of accepting good items: {best('filter_f1')} "
      f"({t[best('filter_f1')]['filter_f1']:.3f}); fewest false rejections: {best('false_rejection', low=True)}")
print(f"smallest adversary reward share in the simulated economy: {best('adversary_reward_share', low=True)} "
      f"({t[best('adversary_reward_share', low=True)]['adversary_reward_share']:.3f}); "
      f"highest honest retention: {best('honest_retention')}")
print(f"lowest held-out loss after fine-tuning: {best('eval_loss_after', low=True)} "
      f"({t[best('eval_loss_after', low=True)]['eval_loss_after']:.4f}; base model "
      f"{t[best('eval_loss_after', low=True)]['eval_loss_before']:.4f})")
print(f"smallest adversary share of attribution payouts: {best('payout_adversary_share', low=True)} "
      f"({t[best('payout_adversary_share', low=True)]['payout_adversary_share']:.3f})")
"""),
("code", """
import plotly.express as px

curves = pl.concat([df.with_columns(pl.lit(name).alias("policy")) for name, df in lab.simulations.items()])
mean = curves.group_by("policy", "epoch").agg(pl.col("adversary_reward_share", "honest_retention").mean()).sort("epoch")
show(px.line(mean.to_pandas(), x="epoch", y="adversary_reward_share", color="policy",
             title="Adversary share of rewards over time (mean over seeds)"))
"""),
])
