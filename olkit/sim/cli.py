"""``olkit simulate``: run the reputation simulation for a policy over seeds; write a Parquet file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from olkit.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulate contributors, adversaries and a policy's reputation/reward rules",
        description="Run the vectorised contribution-economy simulation for a policy over K seeds and "
                    "write the per-epoch metrics (one row per seed x epoch) to a Parquet file.")
    p.add_argument("--policy", metavar="FILE", help="policy YAML/JSON (default: the embedded default)")
    p.add_argument("--epochs", type=int, default=100, metavar="N", help="epochs per run (default 100)")
    p.add_argument("--agents", type=int, default=1000, metavar="N", help="agents per run (default 1000)")
    p.add_argument("--seeds", type=int, default=5, metavar="K", help="number of seeds 0..K-1 (default 5)")
    p.add_argument("--rule", metavar="NAME", help="override the policy's reputation rule")
    p.add_argument("--validation", choices=("parametric", "peer", "content"), default="parametric")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a simulation parameter (dotted key, JSON value), e.g. mix.sybil=0.2")
    p.add_argument("--engine", choices=("local", "ray", "serial"), default="local",
                   help="run seeds in local processes, on a local Ray, or serially")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="where to write the metrics")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def _parse_set(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}", field="--set")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from olkit.policy import Policy
    from olkit.sim.config import SimConfig
    from olkit.sim.sweep import sweep

    if args.epochs < 1 or args.seeds < 1 or args.agents < 2:
        raise InputError("--epochs and --seeds must be >= 1 and --agents >= 2", field="--epochs")
    out = Path(args.out)
    if out.suffix != ".parquet":
        raise InputError("the output must be a .parquet file", file=str(out), field="--out")
    policy = Policy.load(args.policy) if args.policy else Policy()
    cfg = SimConfig.from_policy(policy, n_agents=args.agents, epochs=args.epochs, validation=args.validation)
    overrides = _parse_set(args.set)
    if args.rule:
        overrides["reputation.rule"] = args.rule
    if overrides:
        cfg = cfg.updated(**overrides)
    df = sweep(cfg, [{}], seeds=args.seeds, engine=args.engine).drop("point")
    df = df.with_columns(pl.lit(policy.version_hash).alias("policy_hash"))
    from olkit.kit import atomic_file

    with atomic_file(out) as tmp:
        df.write_parquet(tmp)
    last = df.filter(df["epoch"] == df["epoch"].max())
    result = {"out": str(out), "rows": df.height, "seeds": args.seeds, "epochs": args.epochs,
              "agents": args.agents, "rule": cfg.reputation.rule, "policy_hash": policy.version_hash}
    for m in ("accepted_quality", "adversary_reward_share", "honest_retention", "experimentation"):
        result[f"final_{m}"] = round(float(last[m].mean()), 4)
    from olkit.cli import emit

    emit(result, args.json)
    return 0
