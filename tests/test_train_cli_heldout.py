"""`olkit train` on a 200-contributor sample store: a bounded default held-out set, progress on stderr under --json."""

from __future__ import annotations

import json

from olkit.cli import main
from olkit.data import sample_stream
from olkit.filters import Pipeline
from olkit.ingest import ingest
from olkit.store import Store
from olkit.train.cli import DEFAULT_MAX_EVAL
from olkit.train.data import split_and_select


def test_default_heldout_set_is_bounded_and_progress_goes_to_stderr(tmp_path, capsys):
    db = tmp_path / "ledger.duckdb"
    with Store(db) as store:
        ingest(sample_stream(n_contributors=200, seed=0), store, progress=False)
        Pipeline.default().run(store, progress=False)
        available = split_and_select(store, "accepted", seed=0).eval.height
    assert available > 4 * DEFAULT_MAX_EVAL  # the sample's held-out split is far larger than the default
    code = main(["train", "--base", "tiny-llama", "--store", str(db), "--out", str(tmp_path / "a"), "--steps", "1",
                 "--batch-size", "2", "--max-length", "64", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["n_eval"] == DEFAULT_MAX_EVAL <= 16
    assert "held-out loss before" in captured.err and "olkit train: select data" in captured.err
