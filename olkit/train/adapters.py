"""LoRA adapters: manifests, loading, several adapters on one base with hot-swap, merge-and-export,
and the ``adapters`` registry table in the store.

An adapter folder (written by :func:`olkit.train.qlora.train`) holds peft's
``adapter_model.safetensors`` + ``adapter_config.json`` and ``olkit_manifest.json``, which lists
exactly which submission ids trained it (provenance for attribution), the base model, the policy
hash, the seed, the config and the metrics.

Example
-------
>>> from olkit.train.adapters import AdapterBank
>>> bank = AdapterBank("smollm2-135m")                        # doctest: +SKIP
>>> bank.add("accepted", "adapters/accepted"); bank.add("all", "adapters/all")   # doctest: +SKIP
>>> bank.generate("Explain LoRA in one sentence.", adapter="accepted")          # doctest: +SKIP
>>> bank.compare("Explain LoRA.", adapters=[None, "accepted", "all"])           # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import torch

from olkit.errors import InputError, OlkitError
from olkit.kit import atomic_dir
from olkit.train.data import render_prompt
from olkit.train.models import LoadedBase, load_base
from olkit.train.qlora import MANIFEST, heldout_loss, write_manifest  # noqa: F401  (write_manifest: re-exported)

ADAPTERS_TABLE = "adapters"


class PromptTooLong(InputError):
    """A prompt does not fit in the model's context window."""


# -- manifests (written by olkit.train.qlora.write_manifest) -----------------------------------------
def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of an adapter folder; :class:`InputError` naming the file if absent or broken."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise InputError("not an olkit adapter folder (no olkit_manifest.json)", file=str(folder))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"manifest is not valid JSON: {err.msg}", file=str(path), row=err.lineno) from None


def _check_adapter_dir(folder: Path) -> None:
    if not (folder / "adapter_config.json").exists():
        raise InputError("not an adapter folder (no adapter_config.json)", file=str(folder))


# -- loading and generation -----------------------------------------------------------------------
def load_adapter(base: LoadedBase | str, folder: str | Path, name: str = "default",
                 quantization: str | None = "nf4") -> Any:
    """A peft model: ``base`` with the adapter in ``folder`` loaded under ``name`` (inference mode)."""
    from peft import PeftModel

    folder = Path(folder)
    _check_adapter_dir(folder)
    if isinstance(base, str):
        base = load_base(base, quantization=quantization)  # type: ignore[arg-type]
    if isinstance(base.model, PeftModel):
        base.model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        return base.model
    return PeftModel.from_pretrained(base.model, str(folder), adapter_name=name, is_trainable=False)


@torch.inference_mode()
def generate_text(model: Any, tokenizer: Any, prompt: str, *, max_new_tokens: int = 64,
                  do_sample: bool = False, temperature: float = 0.7, top_p: float = 0.9,
                  seed: int = 0, system_prompt: str | None = None, chat: bool = True,
                  context_length: int | None = None) -> str:
    """Generate a reply to ``prompt`` (chat template applied when ``chat``).

    Raises :class:`PromptTooLong` when the prompt plus ``max_new_tokens`` exceed the context.
    """
    text = render_prompt(tokenizer, prompt, system_prompt) if chat else prompt
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    n = int(ids["input_ids"].shape[1])
    ctx = context_length or int(getattr(getattr(model, "config", None), "max_position_embeddings", 2048))
    if n + max_new_tokens > ctx:
        raise PromptTooLong(f"prompt is {n} tokens; with max_new_tokens={max_new_tokens} it exceeds "
                            f"the model's context of {ctx} tokens", field="prompt")
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample,
                              "pad_token_id": tokenizer.pad_token_id, "use_cache": True}
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p)
    out = model.generate(**{k: v.to(device) for k, v in ids.items()}, **kwargs)
    if was_training:
        model.train()
    return tokenizer.decode(out[0, n:], skip_special_tokens=True).strip()


class AdapterBank:
    """One base model, several named adapters, hot-swapped per call.

    ``adapter=None`` generates with the base model alone (adapters disabled).
    """

    def __init__(self, base: LoadedBase | str = "smollm2-135m", quantization: str | None = "nf4") -> None:
        self.base = load_base(base, quantization=quantization) if isinstance(base, str) else base  # type: ignore[arg-type]
        self.model: Any = None
        self.adapters: dict[str, Path] = {}
        self.manifests: dict[str, dict[str, Any]] = {}

    @property
    def names(self) -> list[str]:
        return list(self.adapters)

    def add(self, name: str, folder: str | Path) -> AdapterBank:
        """Load the adapter in ``folder`` under ``name`` (replacing one of the same name)."""
        from peft import PeftModel

        folder = Path(folder)
        _check_adapter_dir(folder)
        manifest = read_manifest(folder) if (folder / MANIFEST).exists() else {}
        if self.model is None:
            self.model = PeftModel.from_pretrained(self.base.model, str(folder), adapter_name=name,
                                                   is_trainable=False)
        else:
            if name in self.adapters:
                self.model.delete_adapter(name)
            self.model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        self.adapters[name] = folder
        self.manifests[name] = manifest
        return self

    def _use(self, adapter: str | None) -> Any:
        if adapter is None:
            return None
        if adapter not in self.adapters:
            raise OlkitError(f"unknown adapter {adapter!r}; loaded: {', '.join(self.adapters) or 'none'}")
        self.model.set_adapter(adapter)
        return self.model

    def generate(self, prompt: str, adapter: str | None = None, **kwargs: Any) -> str:
        """Reply to ``prompt`` with the named adapter (``None``: the base model)."""
        kwargs.setdefault("context_length", self.base.context_length)
        if adapter is None:
            if self.model is None:
                return generate_text(self.base.model, self.base.tokenizer, prompt, **kwargs)
            with self.model.disable_adapter():
                return generate_text(self.model, self.base.tokenizer, prompt, **kwargs)
        return generate_text(self._use(adapter), self.base.tokenizer, prompt, **kwargs)

    def compare(self, prompts: str | list[str], adapters: list[str | None] | None = None,
                **kwargs: Any) -> pl.DataFrame:
        """Side-by-side generations: one row per prompt, one column per adapter (``base`` for None)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        adapters = [None, *self.adapters] if adapters is None else adapters
        data: dict[str, list[str]] = {"prompt": prompts}
        for a in adapters:
            data[a or "base"] = [self.generate(p, adapter=a, **kwargs) for p in prompts]
        return pl.DataFrame(data)

    def loss(self, examples: Any, adapter: str | None = None) -> dict[str, float]:
        """Held-out loss of one adapter (or the base) on tokenised examples."""
        if adapter is None:
            if self.model is None:
                return heldout_loss(self.base.model, examples)
            with self.model.disable_adapter():
                return heldout_loss(self.model, examples)
        return heldout_loss(self._use(adapter), examples)


def generate(base: LoadedBase | str, prompt: str, adapter: str | Path | None = None, **kwargs: Any) -> str:
    """One-shot generation with an optional adapter folder (see :class:`AdapterBank` to reuse a base)."""
    bank = AdapterBank(base)
    if adapter is not None:
        bank.add("adapter", adapter)
        return bank.generate(prompt, adapter="adapter", **kwargs)
    return bank.generate(prompt, **kwargs)


# -- merge and export ---------------------------------------------------------------------------
def merge_and_export(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None) -> Path:
    """Merge the adapter into a full-precision copy of its base and save a standalone model folder.

    The base is re-loaded without quantisation (merging into 4-bit weights would round the update
    away).  Written atomically; the manifest is copied with ``merged_from`` added.
    """
    from peft import PeftModel

    adapter_dir, out = Path(adapter_dir), Path(out_dir)
    _check_adapter_dir(adapter_dir)
    manifest = read_manifest(adapter_dir) if (adapter_dir / MANIFEST).exists() else {}
    base_name = base or manifest.get("base", {}).get("name")
    if not base_name:
        raise InputError("cannot tell the base model; pass base=", file=str(adapter_dir))
    loaded = load_base(base_name, quantization=None, device="cpu")
    merged = PeftModel.from_pretrained(loaded.model, str(adapter_dir)).merge_and_unload()
    with atomic_dir(out, overwrite=True) as tmp:
        merged.config.use_cache = True
        merged.save_pretrained(tmp, safe_serialization=True)
        loaded.tokenizer.save_pretrained(tmp)
        write_manifest(tmp, {**manifest, "merged_from": str(adapter_dir)})
    return out


# -- registry in the store ----------------------------------------------------------------------
def register_adapter(store: Any, folder: str | Path, *, run_id: str | None = None, policy: Any = None) -> str:
    """Record an adapter folder in the store's ``adapters`` table (with its exact submission ids).

    Also records a ``train`` run (params = the training config, stats = the metrics) unless
    ``run_id`` names an existing one.  Returns the adapter id.
    """
    folder = Path(folder).resolve()
    manifest = read_manifest(folder)
    if run_id is None:
        run_id = store.add_run("train", policy=policy, params=manifest.get("config", {}),
                               stats=manifest.get("metrics", {}))
    return store.add_adapter(folder, run_id=run_id, base_model=manifest.get("base", {}).get("name", "?"),
                             submission_ids=manifest.get("submission_ids", []), policy=policy,
                             manifest=manifest)


def list_adapters(store: Any) -> pl.DataFrame:
    """The store's ``adapters`` table as polars, newest last."""
    return store.table(ADAPTERS_TABLE).sort("created_at")


def adapter_folders(root: str | Path) -> list[Path]:
    """Adapter folders (with a manifest) under ``root``."""
    root = Path(root)
    return sorted(p.parent for p in root.glob(f"**/{MANIFEST}") if "checkpoints" not in p.parts)


__all__ = ["AdapterBank", "PromptTooLong", "adapter_folders", "generate", "generate_text", "list_adapters",
           "load_adapter", "merge_and_export", "read_manifest", "register_adapter", "write_manifest"]
