"""Load an adapter folder (and its checkpoints and training data) as a :class:`ModelContext`.

Adapters are written by :func:`olkit.train.qlora.train`.  The base model is resolved from the
manifest with :func:`olkit.train.models.load_base`, or read from the folder's ``base/`` for a
``tiny-word`` base (built from data, so the folder carries it; see
:meth:`olkit.attribution.evaluate.Setup.save_adapter`, which also writes the training rows to
``olkit_train.parquet``).  Examples are encoded with the training stage's chat template
(:func:`olkit.train.data.build_examples`), so gradients are taken on exactly the sequences that
were trained on.

Checkpoints in ``checkpoints/step-N/`` become :class:`~olkit.train.qlora.Checkpoint` objects
(learning rate from ``checkpoint.json``; Adam's preconditioner when saved).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from olkit.attribution.base import ModelContext
from olkit.errors import InputError
from olkit.train.qlora import ADAM_PRECOND_FILE, WORD_BASE_DIR, Checkpoint, load_lora_state, lora_state

MANIFEST = "olkit_manifest.json"
#: The training rows an adapter folder may carry, so ``olkit attribute`` needs nothing else.
TRAIN_FILE = "olkit_train.parquet"


def read_table(path: str | Path, what: str = "file") -> pl.DataFrame:
    """Read Parquet, JSONL/JSON or CSV into polars; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such {what}", file=str(path))
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        if path.suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
        if path.suffix == ".json":
            return pl.read_json(path)
        if path.suffix == ".csv":
            return pl.read_csv(path)
    except Exception as err:  # noqa: BLE001 - polars raises many types; the user needs the file name
        raise InputError(f"cannot read {what}: {str(err).splitlines()[0]}", file=str(path)) from None
    raise InputError(f"unsupported {what} type {path.suffix!r} (use .parquet, .jsonl, .json or .csv)",
                     file=str(path))


def read_manifest(folder: Path) -> dict:
    """The manifest of an adapter folder that also holds its LoRA weights' config."""
    from olkit.train.adapters import read_manifest as read_train_manifest

    if not (Path(folder) / "adapter_config.json").exists():
        raise InputError("not an adapter folder (no adapter_config.json)", file=str(folder))
    return read_train_manifest(folder)


def load_context(adapter_dir: str | Path, *, train: pl.DataFrame | str | Path | None = None,
                 max_length: int | None = None) -> tuple[ModelContext, pl.DataFrame]:
    """The trainable peft model of an adapter folder, its checkpoints, and its training rows.

    ``train`` (frame or file) supplies the training submissions when the folder has no
    ``olkit_train.parquet``; rows are restricted to the manifest's ``submission_ids``.
    """
    from olkit.train.models import load_base

    folder = Path(adapter_dir)
    manifest = read_manifest(folder)
    info = manifest.get("base", {})
    # a base built from data travels in the folder; otherwise it is resolved by name.  fp32 compute
    # whatever the adapter trained with: per-example gradients are dot-producted and ranked, and
    # bf16's 8-bit mantissa would blur small differences between examples
    own = folder / WORD_BASE_DIR
    loaded = load_base(str(own) if own.is_dir() else info.get("name") or info.get("source"),
                       quantization=None if own.is_dir() else info.get("quantization"), device="cpu",
                       compute_dtype="float32")
    ctx = context_on_base(folder, loaded, max_length=max_length)
    frame = _training_rows(folder, manifest, train)
    return ctx, frame


def context_on_base(adapter_dir: str | Path, loaded, *, max_length: int | None = None) -> ModelContext:
    """The attribution context (trainable peft model, encoder, checkpoints) of an ``olkit.train``
    adapter folder on an already loaded base (``olkit.train.load_base``), so a caller that
    attributes many adapters of one base loads it once.  ``max_length`` defaults to the manifest's."""
    from peft import PeftModel

    folder = Path(adapter_dir)
    length = max_length or int(read_manifest(folder).get("config", {}).get("max_length", 256))
    model = PeftModel.from_pretrained(loaded.model, str(folder), is_trainable=True)
    ctx = ModelContext(model=model, tokenizer=loaded.tokenizer, max_length=length)
    ctx.checkpoints = load_checkpoints(model, folder)
    return ctx


def load_checkpoints(model, folder: Path) -> list[Checkpoint]:
    """``checkpoints/step-N`` adapters as LoRA states (the model is left at its final state)."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    final = lora_state(model)
    out = []
    dirs = sorted((folder / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    try:
        for d in dirs:
            weights = d / "adapter_model.safetensors"
            if not weights.exists():
                continue
            set_peft_model_state_dict(model, load_file(str(weights)))
            info = {}
            for name in ("checkpoint.json", "olkit_checkpoint.json"):
                if (d / name).exists():
                    info = json.loads((d / name).read_text())
            precond = load_file(str(d / ADAM_PRECOND_FILE)) if (d / ADAM_PRECOND_FILE).exists() else None
            out.append(Checkpoint(int(info.get("step", d.name.split("-")[1])),
                                  float(info.get("learning_rate", info.get("lr", 1.0))), lora_state(model), precond))
    finally:
        load_lora_state(model, final)
    return out


def _training_rows(folder: Path, manifest: dict, train) -> pl.DataFrame:
    if train is None and (folder / TRAIN_FILE).exists():
        train = folder / TRAIN_FILE
    if train is None:
        raise InputError("the adapter folder has no olkit_train.parquet; pass the training "
                         "submissions (--train FILE)", file=str(folder))
    source = str(train) if not isinstance(train, pl.DataFrame) else "<frame>"
    frame = train if isinstance(train, pl.DataFrame) else read_table(train, "training data")
    ids = manifest.get("submission_ids")
    if ids and "submission_id" in frame.columns:
        frame = frame.filter(pl.col("submission_id").is_in(ids))
        if frame.height == 0:
            raise InputError("none of the adapter's submission_ids are in the training data", file=source,
                             field="submission_id")
    return frame
