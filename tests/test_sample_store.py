"""The tour's shared scored sample: built once, reused by key, passed to notebooks; re-filtering does no model work."""

from __future__ import annotations

import json
import uuid

import nbformat
import polars as pl
import pytest

import olkit.tour as tour
from olkit.errors import InputError
from olkit.filters import Pipeline
from olkit.notebooks import NOTEBOOK_DIR
from olkit.sample_store import ScoredSample, scored_sample
from olkit.store import Store


def test_scored_sample_is_built_once_and_reused_by_key(tmp_path, monkeypatch):
    s = scored_sample(tmp_path, n_contributors=5, seed=1, models=False, progress=False)
    stream, dec = s.stream(), s.decisions()
    assert stream.height == dec.height == s.meta["items"] > 0
    # the stream's ids are the ledger's ids: truth joins decisions row for row
    assert stream.join(dec, on="submission_id").height == stream.height
    with Store(s.store_path, read_only=True) as store:
        assert store.submissions().height == stream.height and store.latest_decisions().height == stream.height
    calls = []
    real_run = Pipeline.run
    monkeypatch.setattr(Pipeline, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    assert scored_sample(tmp_path, n_contributors=5, seed=1, models=False).folder == s.folder
    assert calls == []  # reused, not rebuilt
    scored_sample(tmp_path, n_contributors=5, seed=2, models=False)  # other parameters: another folder
    assert calls == [1] and len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2
    with pytest.raises(InputError, match="not a scored sample folder"):
        ScoredSample.open(tmp_path)


def _nb(path, params, source):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_tour_builds_one_sample_and_passes_its_path(tmp_path, monkeypatch):
    monkeypatch.setattr(tour, "SHARED_SAMPLE", {"n_contributors": 4, "seed": 0, "models": False})
    reader = ("from olkit.sample_store import ScoredSample\n"
              "s = ScoredSample.open(sample_store) if sample_store else None\n"
              "print('SAMPLE', sample_store, s.stream().height if s else 0)")
    a = _nb(tmp_path / "01_a.ipynb", "sample_store = None", reader)
    b = _nb(tmp_path / "02_b.ipynb", "sample_store = None", reader)
    c = _nb(tmp_path / "03_c.ipynb", "n = 1", "print('no sample here', n)")
    builds = []
    real = tour.shared_sample
    monkeypatch.setattr(tour, "shared_sample", lambda *a, **k: builds.append(1) or real(*a, **k))
    _, entries = tour.run_tour(tmp_path / "reports", notebooks=[a, b, c], tour_settings=True,
                               sample_root=tmp_path / "samples", budget=None, out=open(tmp_path / "log", "w"))
    assert [e.status for e in entries] == ["ok", "ok", "ok"] and builds == [1]
    folders = [p for p in (tmp_path / "samples").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1
    lines = [line for name in ("01_a", "02_b") for line in
             (tmp_path / "reports" / f"{name}.html").read_text().splitlines() if "SAMPLE " in line]
    assert len(lines) == 2 and all(str(folders[0]) in x for x in lines)
    assert "shared scored sample" in (tmp_path / "log").read_text()
    # the notebooks of the project that start from the sample declare the parameter
    assert tour.declares(NOTEBOOK_DIR / "02_filtering.ipynb", "sample_store")
    assert tour.declares(NOTEBOOK_DIR / "04_qlora_training.ipynb", "sample_store")


@pytest.mark.slow
def test_refiltering_the_shared_sample_with_another_policy_does_no_model_work(tmp_path, monkeypatch):
    from olkit.filters.embeddings import EmbeddingCache
    from olkit.filters.synthetic import LMFeatureExtractor
    from olkit.policy import Policy

    s = scored_sample(tmp_path, n_contributors=3, seed=0, models=True, progress=False)
    calls = {"lm": 0, "embed": 0}
    lm_compute, encode = LMFeatureExtractor._compute, EmbeddingCache._encode

    def count_lm(self, instructions, responses):
        calls["lm"] += len(instructions)
        return lm_compute(self, instructions, responses)

    def count_embed(self, texts):
        calls["embed"] += len(texts)
        return encode(self, texts)

    monkeypatch.setattr(LMFeatureExtractor, "_compute", count_lm)
    monkeypatch.setattr(EmbeddingCache, "_encode", count_embed)
    other = Policy().model_copy(update={"name": "other"})
    with Store(s.copy_store(tmp_path / "mine.duckdb")) as store:
        again = Pipeline.default(policy=Policy(), models=True).run(store, progress=False)
        Pipeline.default(policy=other, models=True).run(store, progress=False)
    assert calls == {"lm": 0, "embed": 0}  # every model score came from the score cache
    assert again.decisions.select("submission_id", "accepted").sort("submission_id").equals(
        s.decisions().select("submission_id", "accepted").sort("submission_id"))
    # the counters count: a text never seen before runs the models
    novel = pl.DataFrame({"submission_id": ["x"], "contributor_id": ["c"], "instruction": ["What is a tuple?"],
                          "response": [f"A tuple is an immutable sequence; note {uuid.uuid4().hex}."]})
    Pipeline.default(models=True).run(novel, progress=False, write=False)
    assert calls["lm"] >= 1 and calls["embed"] >= 1
    assert json.loads((s.folder / "sample.json").read_text())["models"] is True


@pytest.mark.slow
def test_notebooks_02_and_04_read_the_shared_sample(tmp_path):
    from olkit.notebooks import cell_errors, run_notebook

    s = scored_sample(tmp_path / "samples", n_contributors=10, seed=0, models=False, progress=False)
    before = (s.store_path.stat().st_mtime, s.store_path.stat().st_size)
    nb2 = run_notebook(NOTEBOOK_DIR / "02_filtering.ipynb",
                       {"models": False, "external_items": 20, "export_path": str(tmp_path / "tuned.yaml"),
                        "sample_store": str(s.folder)})
    nb4 = run_notebook(NOTEBOOK_DIR / "04_qlora_training.ipynb",
                       {"base_model": "tiny-llama", "steps": 2, "policy_steps": 2, "max_length": 64, "max_eval": 4,
                        "out_dir": str(tmp_path / "adapters"), "sample_store": str(s.folder)})
    for nb in (nb2, nb4):
        assert cell_errors(nb) == []
        text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert f"ScoredSample({s.meta['items']} items" in text
    assert (s.store_path.stat().st_mtime, s.store_path.stat().st_size) == before  # notebooks wrote to copies
    text4 = "\n".join(o.get("text", "") for c in nb4.cells for o in c.get("outputs", []))
    assert "training: 100%" in text4  # the live run's text progress bar
