"""Generate notebooks/00_tour.ipynb (run: .venv/bin/python scripts/notebooks/make_00_tour.py)."""

from pathlib import Path

from nbgen import write

ROOT = Path(__file__).resolve().parents[2]

write(ROOT / "notebooks" / "00_tour.ipynb", [
("md", """
# 00 · The whole story: one economy over one ledger

A data contribution economy in one notebook, on the embedded defaults (a 2-core CPU is enough).
Each **round**:

1. **contribute** — a seeded population of honest experts, casual contributors, spammers, reward
   farmers, sybil rings, recyclers and copycats submits real items, ingested with provenance into a
   hash-chained DuckDB ledger;
2. **validate** — the policy's filters accept or reject each item, with a reason for every rejection;
3. **reputation** — the policy's reputation rule scores every contributor from the ledger's decisions;
4. **fine-tune** — a QLoRA adapter on SmolLM2-135M, trained on the policy's selection of the
   round's items and warm-started from the last round's adapter;
5. **attribute and pay** — the round's budget is split by how much each trained-on item lowered
   the held-out loss (TracIn over the adapter's checkpoints), duplicates paid once.

The adversaries are not scripted: they submit more of whatever was paid in earlier rounds, and
enter or leave on what they expect to earn. One `Policy` object drives every step, and
`olkit.economy.run_economy` runs them all (the command line: `olkit run`).
"""),
("params", """
# Parameters (the tour's defaults; tests run it smaller)
seed = 0
agents = 16                 # contributors in the population
rounds = 4
base_model = "smollm2-135m" # the embedded model; tiny-llama for a quick run
train_steps = 2             # optimizer steps per round (batch 4: every selected item is seen)
max_length = 64
max_eval = 3                # held-out items (held-out loss and the attribution eval set)
models = False              # model-based filters (MiniLM, SmolLM2 synthetic-text detector): slower
compare = ["strict", "lenient"]  # bundled policies compared on the same population
compare_rounds = 4
compare_base = "tiny-llama" # TracIn on SmolLM2 costs ~30 s a round on 2 cores; set base_model for the real model
"""),
("code", """
import tempfile
from pathlib import Path

import polars as pl

from olkit.economy import population, run_economy, strategy_figure
from olkit.policy import Policy
from olkit.policy_lab import compare_end_to_end
from olkit.store import Store
from olkit.viz import show

workdir = Path(tempfile.mkdtemp(prefix="olkit-tour-"))
policy = Policy(name="tour")
settings = dict(base=base_model, agents=agents, seed=seed, train_steps=train_steps, max_length=max_length,
                max_eval=max_eval, models=models)
print("policy", policy.name, policy.version_hash)
population(agents).group_by("archetype", "honest").len().sort("honest", "archetype", descending=[True, False])
"""),
("md", """
## 1 · Rounds of the economy

Every round's decisions, reputation events, adapter and payouts are chained ledger events carrying
the policy hash. Watch the adversary share of payouts and whether the honest contributors stay.
"""),
("code", """
ledger = workdir / "economy.duckdb"
eco = run_economy(ledger, policy, rounds, **settings)
for r in eco.rounds.iter_rows(named=True):
    print(f"round {r['round']}: adversary payout share {r['adversary_payout_share']:.3f}, "
          f"honest retention {r['honest_retention']:.3f}, held-out loss {r['heldout_loss']:.3f}")
show(eco.figure())
show(strategy_figure(eco.strategies))
eco.rounds.select("round", "submitted", "accepted", "trained", "paid", "false_rejection", "bad_accept_share", "gini")
"""),
("code", """
from olkit.notebooks import headline

headline({k.replace("_", " "): round(v, 4) if isinstance(v, float) else v
          for k, v in eco.summary().items() if k != "economy_id" and v is not None})
"""),
("md", """
## 2 · The ledger

Everything above is in one DuckDB file: the chain verifies, every payout row names the policy that
produced it, and running the same command again finds the rounds already committed and adds nothing.
"""),
("code", """
with Store(ledger, read_only=True) as store:
    stats = store.stats()
    print({k: stats[k] for k in ("submissions", "decisions", "events", "adapters", "payouts")})
    print("verify:", store.verify())
    pays = store.table("payouts")
print("policy hashes on payouts:", sorted(pays["policy_hash"].unique()))
again = run_economy(ledger, policy, rounds, progress=False, **settings)
print(f"re-run: {again.new_rounds} new rounds")
pays.sort("amount", descending=True).head(8).select("run_id", "contributor_id", "amount", "policy_hash")
"""),
("md", """
## 3 · Strict against lenient, on the same population

The same seeded population and content under two bundled policies: **strict** (tight filters, a
leaderboard-style reputation, training on accepted items only) and **lenient** (volume first,
training on everything). To keep the tour within minutes this comparison trains the tiny random
Llama (`compare_base`): its held-out loss means nothing, and its attribution scores are close to
noise, so the payout difference comes from what each policy lets into training. Set
`compare_base = base_model` to compare on SmolLM2. The sentence below is computed from the numbers.
"""),
("code", """
lab = compare_end_to_end({name: name for name in compare}, rounds=compare_rounds, workdir=workdir / "lab",
                         **{**settings, "base": compare_base})
show(lab.figure())
t = {r["policy"]: r for r in lab.table.iter_rows(named=True)}
a, b = compare[0], compare[-1]
sa, sb = t[a]["adversary_payout_share"], t[b]["adversary_payout_share"]
verdict = "lower than" if sa < sb else ("equal to" if sa == sb else "NOT lower than")
print(f"{a}'s adversary payout share ({sa:.3f}, mean over {compare_rounds} rounds on {compare_base}) is {verdict} "
      f"{b}'s ({sb:.3f}); "
      f"honest retention after the last round: {a} {t[a]['honest_retention']:.2f}, {b} {t[b]['honest_retention']:.2f}")
lab.table
"""),
("md", """
## Talk to the rounds' adapters

`olkit.widgets.Playground` chats with the base model and any round's adapter side by side
(hot-swapped from one `AdapterBank`) and names the contributors whose training items an answer
copies verbatim. It loads the base model once more, so it is not run here; in Lab:

```python
from olkit.widgets import Playground
Playground.from_economy(eco)
```
"""),
("md", """
## Where next

* `01_ingestion` — readers, mappings, provenance, lineage, the tamper-evident ledger;
* `02_filtering` — every filter layer, evaluation against ground truth, the **FilterTuner** widget;
* `03_reputation_simulation` — attacks, reputation rules, sweeps at 100k-agent scale, **ReputationLab**;
* `04_qlora_training` — model families, policies compared by held-out loss, **TrainingMonitor**;
* `05_attribution` — every attribution method checked against retraining, **AttributionExplorer**;
* `06_policy_lab` — strict, lenient and forgiving policies compared by the economy's round metrics.
"""),
])
