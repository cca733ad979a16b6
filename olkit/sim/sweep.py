"""Parameter sweeps (grid or random) x seeds, run locally in processes or on Ray.

Every task is a pure function of (config, point, seed), so a sweep gives identical frames whatever
the engine and the number of workers; rows are sorted by (point, seed, epoch).

Example
-------
>>> from olkit.sim import SimConfig
>>> from olkit.sim.sweep import grid, sweep
>>> base = SimConfig(n_agents=200, epochs=5)
>>> df = sweep(base, grid({"reputation.rule": ["beta", "decoupled"]}), seeds=2, engine="serial")
>>> df.select("point", "reputation.rule").unique().sort("point").rows()
[(0, 'beta'), (1, 'decoupled')]
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.sim.config import SimConfig
from olkit.sim.engine import simulate


def grid(axes: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values of ``axes`` (dotted SimConfig keys), in a stable order."""
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]


def random_points(space: dict[str, tuple[float, float] | Sequence[Any]], n: int, *, seed: int = 0
                  ) -> list[dict[str, Any]]:
    """``n`` random points: a ``(low, high)`` float pair draws uniformly, a list draws a choice."""
    rng = np.random.default_rng(seed)
    points: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, dom in space.items():
        if isinstance(dom, tuple) and len(dom) == 2 and all(isinstance(x, int | float) for x in dom):
            values = rng.uniform(float(dom[0]), float(dom[1]), size=n).tolist()
        else:
            choices = list(dom)
            values = [choices[i] for i in rng.integers(0, len(choices), size=n)]
        for p, v in zip(points, values, strict=True):
            p[key] = v
    return points


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def run_task(base: dict[str, Any], point_id: int, point: dict[str, Any], seed: int) -> pl.DataFrame:
    """Simulate one (point, seed); the per-epoch frame gets ``point`` and the point's parameters."""
    cfg = SimConfig.build(base).updated(**point, seed=seed)
    df = simulate(cfg).epochs
    extra = [pl.lit(point_id, dtype=pl.Int64).alias("point")]
    extra += [pl.lit(v if not isinstance(v, list | dict) else str(v)).alias(k) for k, v in point.items()]
    return df.with_columns(extra)


def map_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], *, engine: str = "local",
              workers: int | None = None, progress: bool = False, desc: str = "tasks") -> list[Any]:
    """``[fn(*t) for t in tasks]``, in order, on the ``serial``, ``local`` (spawned processes, ``workers``
    defaults to the CPU count, at most 2) or ``ray`` engine (a local ``ray.init(num_cpus=2)`` unless one
    is running); ``fn`` must be a module-level function.  Used by sweeps, the sensitivity analysis
    and the replications."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc=desc, leave=False)
    out: list[Any] = []
    if engine == "serial":
        for t in tasks:
            out.append(fn(*t))
            if bar is not None:
                bar.update()
    elif engine == "local":
        import multiprocessing as mp

        n_workers = workers or min(2, os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(fn, *t) for t in tasks]
            for f in futures:
                out.append(f.result())
                if bar is not None:
                    bar.update()
    elif engine == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=workers or 2, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        remote = ray.remote(fn)
        refs = [remote.remote(*t) for t in tasks]
        for r in refs:
            out.append(ray.get(r))
            if bar is not None:
                bar.update()
    else:
        raise InputError(f"unknown engine {engine!r}; use local, ray or serial", field="engine")
    if bar is not None:
        bar.close()
    return out


def sweep(base: SimConfig, points: list[dict[str, Any]] | None = None, *, seeds: int | Iterable[int] = 5,
          engine: Literal["local", "ray", "serial"] = "local", workers: int | None = None,
          progress: bool = False) -> pl.DataFrame:
    """Run every point x seed and concatenate the per-epoch frames.

    ``engine="local"`` uses a process pool (``workers`` defaults to the CPU count, at most 2 here),
    ``"ray"`` one Ray task per run (starting a local ``ray.init(num_cpus=2)`` if none is running),
    ``"serial"`` runs in this process.  Results are identical across engines.
    """
    points = points if points is not None else [{}]
    if not points:
        raise InputError("a sweep needs at least one point", field="points")
    seed_list = _seed_list(seeds)
    if not seed_list:
        raise InputError("a sweep needs at least one seed", field="seeds")
    for p in points:  # validate every point up front: fail before any work starts
        base.updated(**p)
    base_dict = base.model_dump()
    tasks = [(base_dict, i, p, s) for i, p in enumerate(points) for s in seed_list]
    frames = map_tasks(run_task, tasks, engine=engine, workers=workers, progress=progress,
                       desc=f"sweep ({engine})")
    return pl.concat(frames, how="diagonal_relaxed").sort(["point", "seed", "epoch"])


def bands(df: pl.DataFrame, metric: str, by: Sequence[str] = ("point",), *, level: float = 0.95
          ) -> pl.DataFrame:
    """Monte Carlo band per (``by``, epoch): mean, standard error, normal-approx. CI and quantiles.

    Columns: ``mean, lo, hi`` (``mean +- z * sd / sqrt(n)``), ``q05, q95`` (spread of runs), ``n``.
    """
    from statistics import NormalDist

    if metric not in df.columns:
        raise InputError(f"no metric {metric!r} in the sweep frame", field="metric")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    keys = [*by, "epoch"]
    out = df.group_by(keys).agg(
        pl.col(metric).mean().alias("mean"),
        pl.col(metric).std().alias("sd"),
        pl.col(metric).count().alias("n"),
        pl.col(metric).quantile(0.05, "linear").alias("q05"),
        pl.col(metric).quantile(0.95, "linear").alias("q95"),
    )
    half = z * pl.col("sd").fill_null(0.0) / pl.col("n").cast(pl.Float64).sqrt()
    return out.with_columns((pl.col("mean") - half).alias("lo"), (pl.col("mean") + half).alias("hi")).sort(keys)
