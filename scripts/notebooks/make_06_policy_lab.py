"""Generate notebooks/06_policy_lab.ipynb (run: .venv/bin/python scripts/notebooks/make_06_policy_lab.py)."""

from pathlib import Path

from nbgen import write

ROOT = Path(__file__).resolve().parents[2]

write(ROOT / "notebooks" / "06_policy_lab.ipynb", [
("md", """
# 06 · Policy lab: three policies, one economy

A policy is one YAML file: filter thresholds, reputation rule, reward rule and training-set
selection. Here the three bundled policies run the **same economy** — the same seeded population of
honest and adversarial contributors submitting the same real content in round 0 — and are compared
by the economy's round metrics:

* **strict** — tight thresholds and a leaderboard-style acceptance-ratio reputation (every rejection
  counts against you for good), training on accepted items;
* **lenient** — volume first: only exact duplicates, spam and broken formatting are rejected, and the
  model trains on everything;
* **forgiving** — the default filters with the *decoupled* reputation rule, where a rejected
  submission is not a less valuable contributor, and reputation-weighted training selection.

After round 0 the populations diverge: adversaries submit more of what each policy paid them for.
The logic lives in `olkit.policy_lab` (which calls `olkit.economy.run_economy` once per policy).
By default the adapters are trained on the tiny random Llama so that twelve rounds fit in a couple
of minutes: its held-out loss means nothing and its attribution scores are close to noise, so the
differences come from the filters, reputation and training selection. Set
`base_model = "smollm2-135m"` for the real model.
"""),
("params", """
# Parameters (the defaults; tests run this notebook small)
policy_names = ["strict", "lenient", "forgiving"]
seed = 0
agents = 24
rounds = 4
base_model = "tiny-llama"   # fast; "smollm2-135m" for a real model (TracIn costs ~30 s a round on 2 cores)
train_steps = 4
max_length = 64
max_eval = 3
models = False
"""),
("code", """
import plotly.express as px
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
lab = compare_end_to_end(policies, rounds=rounds, base=base_model, agents=agents, seed=seed,
                         train_steps=train_steps, max_length=max_length, max_eval=max_eval, models=models)
show(lab.figure())
lab.table
"""),
("code", """
from olkit.notebooks import headline

headline({f"{r['policy']}: adversary payout share": round(r["adversary_payout_share"], 3)
          for r in lab.table.iter_rows(named=True) if r["adversary_payout_share"] is not None})
"""),
("md", """
## Reading the dashboard

Metric definitions (fixed before any run): *adversary payout share* — the share of a round's
payouts that went to spammers, farmers, sybils, recyclers and copycats (mean over rounds);
*honest retention* — the share of the initial experts and casual contributors still contributing
after the last round; *false rejection* — the share of genuine items rejected; *held-out loss* —
the last round's adapter on clean held-out items. The verdicts below are computed from the table.
"""),
("code", """
t = {r["policy"]: r for r in lab.table.iter_rows(named=True)}
best = lambda metric, low=False: (min if low else max)(t, key=lambda k: t[k][metric])
print(f"smallest adversary share of payouts: {best('adversary_payout_share', low=True)} "
      f"({t[best('adversary_payout_share', low=True)]['adversary_payout_share']:.3f}); largest: "
      f"{best('adversary_payout_share')} ({t[best('adversary_payout_share')]['adversary_payout_share']:.3f})")
print(f"highest honest retention: {best('honest_retention')} ({t[best('honest_retention')]['honest_retention']:.2f})")
print(f"fewest false rejections of genuine items: {best('false_rejection', low=True)} "
      f"({t[best('false_rejection', low=True)]['false_rejection']:.3f})")
print(f"lowest held-out loss after the last round: {best('heldout_loss', low=True)} "
      f"({t[best('heldout_loss', low=True)]['heldout_loss']:.4f})")
"""),
("code", """
adv = lab.rounds.select("policy", "round", *[c for c in lab.rounds.columns if c.startswith("accepted_share_")])
long = adv.unpivot(index=["policy", "round"], variable_name="archetype", value_name="accepted_share").with_columns(
    pl.col("archetype").str.replace("accepted_share_", ""))
show(px.line(long.to_pandas(), x="round", y="accepted_share", color="archetype", facet_col="policy", markers=True,
             title="Accepted share by archetype, round by round"))
"""),
])
