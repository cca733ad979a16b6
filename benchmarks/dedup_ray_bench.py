"""Ray dedup scale-out: the driver's peak memory must not grow with the corpus's text.

A generator process writes a synthetic document corpus as Parquet shards (25k documents each,
30-80 words from a 20k-word vocabulary; 8% near duplicates with ~6% of the words replaced and 3%
exact duplicates, upper-cased and re-spaced, of documents anywhere in the corpus, so duplicates
cross shards; random ``created_at``).  Then, each in a fresh process:

* ``ray`` at each size: a local Ray (``num_cpus=2``, 1.5 GB object store) runs
  :func:`olkit.filters.ray_dedup.dedup_ray` over the shards (the sample sort for batch order
  included), its tasks writing the links and pairs to Parquet; the text is read only by Ray
  tasks.  Afterwards the driver reads the links (reported separately: that memory is the size of
  the output, as many rows as items with a duplicate or a candidate).  Peak RSS is sampled every 50 ms in a thread
  (``ru_maxrss`` would be the lifetime maximum): the driver's, and the Ray workers' (the largest
  single worker and the largest sum; worker RSS counts the object-store pages they touch);
* ``local`` at the smallest size: the local engine (all shards read into one frame,
  ``DedupFilter().score``), for its peak RSS and time, and its links, which must equal Ray's.

Targets (issue 16): driver peak RSS during ``dedup_ray`` at the largest size within 1.3x of the
smallest (1M vs 200k; worst large run over best small run); Ray's links (every item with an exact duplicate or a candidate,
with its scores) identical to the local engine's at the smallest size.

Usage::

    nice -n 10 python benchmarks/dedup_ray_bench.py                     # 200k and 1M
    python benchmarks/dedup_ray_bench.py --sizes 20000 100000 --out -   # quick look, no file
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, write_result  # noqa: E402

SHARD = 25_000
VOCAB = 20_000
MAX_WORDS = 80
_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _vocab() -> np.ndarray:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lens = rng.integers(3, 10, VOCAB)
    return np.array(["".join(rng.choice(letters, n)) for n in lens], dtype=object)


def _words(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word indices ``(n, MAX_WORDS)`` and lengths of the original text of documents ``ids``."""
    j = np.arange(MAX_WORDS, dtype=np.uint64)
    with np.errstate(over="ignore"):
        idx = splitmix(ids.astype(np.uint64)[:, None] * np.uint64(131) + j[None, :]) % np.uint64(VOCAB)
        length = 30 + splitmix(ids.astype(np.uint64) * np.uint64(7) + np.uint64(3)) % np.uint64(MAX_WORDS - 30 + 1)
    return idx.astype(np.int64), length.astype(np.int64)


def write_shard(path: Path, shard: int, n_total: int, vocab: np.ndarray) -> None:
    lo, hi = shard * SHARD, min(n_total, (shard + 1) * SHARD)
    g = np.arange(lo, hi, dtype=np.int64)
    with np.errstate(over="ignore"):
        role = splitmix(g.astype(np.uint64) ^ np.uint64(0xABCDEF)) % np.uint64(100)
        src = (splitmix(g.astype(np.uint64) + np.uint64(0x5EED)) % np.uint64(n_total)).astype(np.int64)
    near, exact = role < 8, (role >= 8) & (role < 11)
    base = np.where(near | exact, src, g)
    idx, length = _words(base)
    with np.errstate(over="ignore"):
        swap = (splitmix(g.astype(np.uint64)[:, None] * np.uint64(977) + np.arange(MAX_WORDS, dtype=np.uint64))
                % np.uint64(100)) < 6
        other = (splitmix(g.astype(np.uint64)[:, None] * np.uint64(31) + np.arange(MAX_WORDS, dtype=np.uint64))
                 % np.uint64(VOCAB)).astype(np.int64)
    idx = np.where(swap & near[:, None], other, idx)
    words = vocab[idx]
    texts = [" ".join(words[i, : length[i]]) for i in range(len(g))]
    frame = pl.DataFrame({"submission_id": [f"{h:016x}" for h in splitmix(g.astype(np.uint64) ^ np.uint64(0xD0C))],
                          "text": texts})
    with np.errstate(over="ignore"):
        t = (splitmix(g.astype(np.uint64) * np.uint64(3)) % np.uint64(365 * 86400 * 10**6)).astype(np.int64)
    frame = frame.with_columns(
        pl.when(pl.Series(exact)).then(pl.col("text").str.to_uppercase().str.replace_all(" ", "  "))
        .otherwise(pl.col("text")).alias("text"),
        created_at=(pl.Series(t) + 1_767_225_600 * 10**6).cast(pl.Datetime("us", "UTC")))
    frame.write_parquet(path)


def generate(root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    vocab = _vocab()
    paths = []
    for s in range(-(-n // SHARD)):
        p = root / f"shard-{s:05d}.parquet"
        if not p.exists():
            write_shard(p.with_suffix(".tmp"), s, n, vocab)
            p.with_suffix(".tmp").rename(p)
        paths.append(p)
    return paths


class PeakRSS:
    """Peak RSS of this process and of its Ray worker descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self.me = psutil.Process(os.getpid())
        self.interval, self.driver, self.worker, self.workers = interval, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        tick = 0
        workers: list = []
        while not self._stop.is_set():
            self.driver = max(self.driver, self.me.memory_info().rss)
            if tick % 4 == 0:  # the process tree changes slowly; walking it costs more than a sample
                workers = [p for p in self.me.children(recursive=True) if p.name().startswith("ray::")]
            rss = []
            for p in workers:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            if rss:
                self.worker, self.workers = max(self.worker, max(rss)), max(self.workers, sum(rss))
            tick += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _links_of_local(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.filter(pl.col("dedup.exact_of").is_not_null() | pl.col("dedup.near_of").is_not_null())


def run_one(engine: str, root: Path, out: Path) -> dict:
    """One measurement, in this (fresh) process."""
    import psutil

    paths = sorted(root.glob("shard-*.parquet"))
    mib = 2**20
    res: dict = {"engine": engine, "shards": len(paths)}
    if engine == "local":
        from olkit.filters.base import prepare_batch
        from olkit.filters.dedup import DedupFilter

        res["driver_rss_before_mib"] = psutil.Process().memory_info().rss / mib
        with PeakRSS() as peak:
            t0 = time.perf_counter()
            batch = prepare_batch(pl.concat([pl.read_parquet(p) for p in paths]))
            scores = DedupFilter().score(batch)
            res["seconds"] = time.perf_counter() - t0
        res["items"] = batch.height
        links = _links_of_local(scores)
    else:
        import ray

        from olkit.filters.ray_dedup import dedup_ray, ensure_ray

        # Ray gives its raylet 30 s to register: on the loaded shared machine a niced start misses
        # that, so start at normal priority (where allowed) and nice every Ray process afterwards
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        except PermissionError:
            pass
        if os.environ.get("OLKIT_BENCH_RAY_DEFAULT_INLINE"):  # ablation: Ray's default inline limit
            ray.init(num_cpus=2, object_store_memory=1536 * mib, include_dashboard=False, log_to_driver=False)
        else:
            ensure_ray(num_cpus=2, object_store_memory=1536 * mib)
        for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
            try:
                proc.nice(nice)
            except psutil.Error:
                pass
        res["ray_default_inline_limit"] = bool(os.environ.get("OLKIT_BENCH_RAY_DEFAULT_INLINE"))
        try:
            res["driver_rss_before_mib"] = psutil.Process().memory_info().rss / mib
            with PeakRSS() as peak:
                t0 = time.perf_counter()
                got = dedup_ray(paths, out=out.parent / f"{out.stem}-parts")
                res["seconds"] = time.perf_counter() - t0
            with PeakRSS() as peak_read:  # secondary: the driver reading every link afterwards
                links = got.links
            res["driver_peak_rss_reading_links_mib"] = max(peak.driver, peak_read.driver) / mib
        finally:
            ray.shutdown()
        res["items"], res["stage_seconds"] = got.n_items, got.seconds
        res["candidate_pairs"] = got.n_pairs
    res["driver_peak_rss_mib"] = peak.driver / mib
    res["worker_peak_rss_mib"] = peak.worker / mib
    res["workers_sum_peak_rss_mib"] = peak.workers / mib
    res["linked_items"] = links.height
    res["exact_duplicates"] = int(links["dedup.exact_of"].is_not_null().sum())
    res["near_duplicates_at_0.6"] = int((links["dedup.exact_of"].is_null() & (links["dedup.near_sim"] >= 0.6)).sum())
    links.sort("submission_id").write_parquet(out)
    return res


def _child(engine: str, root: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--one", engine, str(root), str(out)]
    for attempt in range(3):  # Ray gives its raylet 30 s to start: on a loaded machine, try again
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode == 0 or "timed out during startup" not in proc.stderr:
            break
        print(f"{engine}: Ray did not start in time (attempt {attempt + 1}), retrying", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=1, help="Ray runs per size (the spread is the noise floor)")
    ap.add_argument("--workdir", help="where the corpora are written (default: a temporary folder)")
    ap.add_argument("--out", default=str(RESULTS / "dedup_ray.json"), help="results JSON ('-': print only)")
    ap.add_argument("--one", nargs=3, metavar=("ENGINE", "ROOT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], Path(args.one[1]), Path(args.one[2]))))
        return 0
    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory(prefix="olkit-dedup-ray-", dir=args.workdir) as tmp:
        root = Path(tmp)
        runs, gen_seconds = [], {}
        for n in sizes:
            t0 = time.perf_counter()
            generate(root / str(n), n)
            gen_seconds[n] = time.perf_counter() - t0
            print(f"generated {n} documents in {gen_seconds[n]:.0f}s", file=sys.stderr, flush=True)
            for r in range(args.repeats):
                res = _child("ray", root / str(n), root / f"ray-{n}-{r}.parquet")
                print(json.dumps(res), file=sys.stderr, flush=True)
                runs.append(res)
        local = _child("local", root / str(sizes[0]), root / "local.parquet")
        print(json.dumps(local), file=sys.stderr, flush=True)
        same = pl.read_parquet(root / f"ray-{sizes[0]}-0.parquet").equals(pl.read_parquet(root / "local.parquet"))
    by_size = {n: [r for r in runs if r["items"] == n] for n in sizes}
    peak = {n: max(r["driver_peak_rss_mib"] for r in by_size[n]) for n in sizes}
    low = {n: min(r["driver_peak_rss_mib"] for r in by_size[n]) for n in sizes}
    ratio = peak[sizes[-1]] / low[sizes[0]]
    result = {
        "benchmark": "dedup_ray",
        "metric": "driver peak RSS (MiB, psutil sampled every 50 ms during dedup_ray) at the largest vs the "
                  "smallest size; ratio = worst large / best small",
        "sizes": sizes, "shard_size": SHARD, "generate_seconds": gen_seconds,
        "ray_runs": runs, "local_run": local,
        "driver_peak_ratio": round(ratio, 4),
        "driver_peak_spread_mib": {n: round(peak[n] - low[n], 1) for n in sizes},
        "links_identical_to_local_at": sizes[0],
        "machine": machine_info("ray", "polars", "numpy"),
    }
    checks = {"driver_peak_ratio_le_1.3": ratio <= 1.3, "same_links_as_local": same}
    out = None if args.out == "-" else args.out
    code = write_result(result, checks, out)
    if out is None:
        print(json.dumps(result, indent=2, default=float))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
