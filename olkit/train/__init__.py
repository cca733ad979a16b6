"""Fine-tuning: model registry, policy-selected SFT data, QLoRA training, evaluation, adapters.

Public API (the "Training" contract in DEVELOPING.md)::

    from olkit.train import load_base, split_and_select, build_examples, TrainConfig, train
    base = load_base("smollm2-135m", quantization="nf4")          # or tiny-llama/-mistral/-qwen2/-deepseek
    split = split_and_select(store_or_frame, "accepted", seed=0)  # DataSplit(train, eval, stats)
    ex = build_examples(split.train, base.tokenizer, max_length=256)
    result = train(base, ex, TrainConfig(steps=60, checkpoint_every=10), out_dir="adapters/run1")
    # adapters/run1/{adapter_model.safetensors, adapter_config.json, olkit_manifest.json,
    #                history.parquet, checkpoints/step-N/}

Submodules import torch/transformers lazily from here, so ``import olkit.train`` is cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "load_base": "olkit.train.models", "LoadedBase": "olkit.train.models", "resolve": "olkit.train.models",
    "registered_models": "olkit.train.models", "LORA_TARGETS": "olkit.train.models",
    "ModelNotFound": "olkit.train.models", "DeviceError": "olkit.train.models",
    "split_and_select": "olkit.train.data", "build_examples": "olkit.train.data", "Examples": "olkit.train.data",
    "DataSplit": "olkit.train.data", "EmptyTrainingSet": "olkit.train.data",
    "TrainConfig": "olkit.train.qlora", "train": "olkit.train.qlora", "TrainResult": "olkit.train.qlora",
    "heldout_loss": "olkit.train.qlora", "compare_policies": "olkit.train.evaluate",
    "side_by_side": "olkit.train.evaluate",
    "AdapterBank": "olkit.train.adapters", "read_manifest": "olkit.train.adapters",
    "load_adapter": "olkit.train.adapters", "merge_and_export": "olkit.train.adapters",
    "register_adapter": "olkit.train.adapters", "list_adapters": "olkit.train.adapters",
    "generate": "olkit.train.adapters", "PromptTooLong": "olkit.train.adapters",
    "word_base": "olkit.train.models", "Batch": "olkit.train.data", "Checkpoint": "olkit.train.qlora",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'olkit.train' has no attribute {name!r}")
