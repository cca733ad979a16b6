"""Ingest benchmark: olkit's JSONL → DuckDB ledger path vs the obvious Hugging Face ``datasets`` path.

Both paths read the same generated JSONL file (``--rows`` submissions, default 1,000,000, with
messy whitespace, control characters and non-Latin scripts), normalise the text and compute the
same content hashes and submission ids:

* **olkit** — :func:`olkit.ingest.ingest` into a fresh :class:`olkit.store.Store`: polars reads the
  JSONL in 32 MiB chunks, normalisation is one vectorised polars expression, ids are computed by
  DuckDB's vectorised ``sha256()``, rows are anti-joined against the store (re-ingest adds nothing)
  and appended in one transaction with a hash-chained event;
* **peer** — ``datasets.load_dataset("json")`` + ``Dataset.map`` with a per-record Python
  normalise-and-hash function (``unicodedata`` + ``re`` + ``hashlib``), materialised in the
  Arrow cache.  The peer does less work (no dedup, no ledger).

Each path runs in its own subprocess so that its peak RSS (``ru_maxrss`` from ``os.wait4``) is its
own.  The result goes to ``benchmarks/results/ingest.json``.

Usage::

    .venv/bin/python benchmarks/ingest_bench.py              # 1,000,000 rows (a few minutes)
    .venv/bin/python benchmarks/ingest_bench.py --rows 20000 --out /tmp/ingest.json   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script folder)

TARGET_SPEEDUP = 3.0
TARGET_RSS_MB = 2048.0

_WORDS = ("the of and to in is for on that with as by this from function returns value module list "
          "string file object default argument error type data python example time number name "
          "class method key dict path read write open close call result").split()
_FOREIGN = ["数据贡献经济中的模型归因", "Данные и вознаграждение участников", "بيانات المساهمين والمكافآت",
            "डेटा योगदान और पुरस्कार", "データ貢献と報酬", "Ελληνικά δεδομένα", "café naïve Zoë"]
_MESS = ["", "  ", "\u00a0", "\r\n", "\t", "\u200b", "\x07", "\n\n\n\n", "e\u0301"]


def generate(path: Path, rows: int, seed: int = 0, n_contributors: int = 20_000) -> int:
    """Write ``rows`` JSONL submissions; return the file size.  Vectorised (polars/numpy)."""
    rng = np.random.default_rng(seed)
    vocab = pl.Series(_WORDS)
    out_rows = []
    chunk = 200_000
    with open(path, "wb") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ins = vocab.gather(rng.integers(0, len(_WORDS), n * 10)).reshape((n, 10)).arr.join(" ")
            resp = vocab.gather(rng.integers(0, len(_WORDS), n * 30)).reshape((n, 30)).arr.join(" ")
            foreign = pl.Series(_FOREIGN).gather(rng.integers(0, len(_FOREIGN), n))
            mess = pl.Series(_MESS).gather(rng.integers(0, len(_MESS), n))
            frame = pl.DataFrame({
                "contributor_id": pl.Series(rng.integers(0, n_contributors, n)).cast(pl.String),
                "instruction": ins, "response": resp, "foreign": foreign, "mess": mess,
                "use_foreign": rng.random(n) < 0.1, "id": np.arange(start, start + n),
                "created_at": rng.integers(1_700_000_000, 1_760_000_000, n),
            }).select(
                ("c" + pl.col("contributor_id")).alias("contributor_id"),
                (pl.col("mess") + pl.col("instruction") + "?" + pl.col("mess")).alias("instruction"),
                pl.when(pl.col("use_foreign")).then(pl.col("foreign") + " " + pl.col("response"))
                .otherwise(pl.col("response") + pl.col("mess") + ".").alias("response"),
                pl.format("r{}", pl.col("id")).alias("id"),
                pl.from_epoch("created_at", time_unit="s").dt.replace_time_zone("UTC")
                .dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("created_at"),
                pl.lit("CC-BY-4.0").alias("license"),
            )
            frame.write_ndjson(fh)
            out_rows.append(n)
    return path.stat().st_size


# -- the two paths (each runs in a child process) --------------------------------------------------
def run_olkit(file: Path, workdir: Path) -> dict:
    from olkit.ingest import ingest
    from olkit.store import Store

    t0 = time.perf_counter()
    with Store(workdir / "bench.duckdb") as store:
        result = ingest(file, store, datanet="bench", progress=False)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = ingest(file, store, datanet="bench", progress=False)
        reingest = time.perf_counter() - t1
        ids = store.submissions(columns=["submission_id"])["submission_id"]
    return {"rows": result.rows_read, "added": result.added, "seconds": seconds,
            "reingest_added": again.added, "reingest_seconds": round(reingest, 3), "ids_digest": _ids_digest(ids)}


def run_peer(file: Path, workdir: Path) -> dict:
    import re
    import unicodedata

    import datasets

    from olkit.schema import content_hash, submission_id

    datasets.disable_progress_bars()
    line_breaks = re.compile(r"\r\n|[\r\x85\u2028\u2029]")
    junk = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u200b\u2060]")
    spaces = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
    trailing = re.compile(r"[ \t]+\n")
    blank = re.compile(r"\n{3,}")

    def norm(text: str | None) -> str | None:
        if text is None:
            return None
        text = line_breaks.sub("\n", text)
        text = junk.sub("", text)
        text = spaces.sub(" ", text)
        text = trailing.sub("\n", text)
        text = blank.sub("\n\n", text).strip(" \t\n")
        return unicodedata.normalize("NFC", text)

    def normalise_and_hash(ex: dict) -> dict:
        ins, resp = norm(ex["instruction"]), norm(ex["response"])
        contributor = ex["contributor_id"].strip()
        ch = content_hash(ins, resp, None)
        return {"instruction": ins, "response": resp, "contributor_id": contributor, "content_hash": ch,
                "submission_id": submission_id("bench", contributor, ch, None)}

    t0 = time.perf_counter()
    ds = datasets.load_dataset("json", data_files=str(file), split="train", cache_dir=str(workdir / "hf"))
    ds = ds.map(normalise_and_hash)
    seconds = time.perf_counter() - t0
    return {"rows": len(ds), "seconds": seconds, "ids_digest": _ids_digest(pl.Series(ds["submission_id"]).unique())}


def _ids_digest(ids: pl.Series) -> str:
    """SHA-256 of the sorted distinct ids: equal digests = both paths produced the same ids."""
    import hashlib

    return hashlib.sha256("\n".join(ids.unique().sort().to_list()).encode()).hexdigest()


def _child(which: str, file: Path, workdir: Path) -> dict:
    """Run one path in a subprocess; return its JSON plus its own peak RSS."""
    cmd = [sys.executable, __file__, "--worker", which, "--file", str(file), "--workdir", str(workdir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{which} path failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: kilobytes
    result["rows_per_s"] = round(result["rows"] / result["seconds"], 1)
    result["seconds"] = round(result["seconds"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "ingest.json"), help="where to write the JSON result")
    parser.add_argument("--worker", choices=("olkit", "peer"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        fn = run_olkit if args.worker == "olkit" else run_peer
        print(json.dumps(fn(Path(args.file), Path(args.workdir))))
        return 0

    with tempfile.TemporaryDirectory(prefix="olkit-ingest-bench-") as tmp:
        tmp = Path(tmp)
        file = tmp / "submissions.jsonl"
        t0 = time.perf_counter()
        size = generate(file, args.rows, seed=args.seed)
        print(f"generated {args.rows:,} rows ({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s", flush=True)
        results = {}
        for which in ("olkit", "peer"):
            workdir = tmp / which
            workdir.mkdir()
            results[which] = _child(which, file, workdir)
            print(f"{which}: {results[which]}", flush=True)

    speedup = results["olkit"]["rows_per_s"] / results["peer"]["rows_per_s"]

    report = {
        "benchmark": "ingest",
        "description": "JSONL -> normalise -> hash ids; olkit (polars + DuckDB ledger, one transaction, dedup) "
                       "vs HF datasets load_dataset('json') + Dataset.map (per-record normalise + hashlib)",
        "rows": args.rows, "file_mb": round(size / 1e6, 1), "seed": args.seed,
        "olkit": results["olkit"], "peer": results["peer"],
        "speedup_rows_per_s": round(speedup, 2),
        "targets": {"speedup_min": TARGET_SPEEDUP, "olkit_peak_rss_mb_max": TARGET_RSS_MB},
        "machine": machine_info("polars", "duckdb", "datasets",
                                note="shared 2-core machine; other jobs may have been running"),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/ingest_bench.py" + (f" --rows {args.rows}" if args.rows != 1_000_000 else ""),
    }
    checks = {"speedup": speedup >= TARGET_SPEEDUP,
              "olkit_peak_rss": results["olkit"]["peak_rss_mb"] < TARGET_RSS_MB,
              "reingest_adds_nothing": results["olkit"]["reingest_added"] == 0,
              "same_ids_as_peer": results["olkit"]["ids_digest"] == results["peer"]["ids_digest"]}
    status = write_result(report, checks, args.out)
    print(json.dumps({k: report[k] for k in ("rows", "speedup_rows_per_s", "pass")}))
    return status


if __name__ == "__main__":
    sys.exit(main())
