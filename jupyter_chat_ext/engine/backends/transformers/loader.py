"""Load a chat model + tokenizer onto a device, with the GGUF conversion cached on disk.

transformers dequantizes a GGUF file in slow Python (~17 s for the packaged 135M model); the same
weights saved once with ``save_pretrained`` reload in ~1 s. The cache lives in
``Settings.model_cache_dir/<id>-<hash of file identity + dtype>/`` and is written to a temp dir and
renamed into place, so two processes converting at once never see a half-written copy.

``Settings.quantization`` ("4bit" NF4 / "8bit" LLM.int8) quantizes the linear layers with bitsandbytes
at load time, on every device bitsandbytes runs on (CUDA, and since its multi-backend releases the
CPU too: measured with 0.50.2 on the CPU, 4-bit holds 31 % of the bf16 weight bytes at SmolLM2-1.7B's
shape, 38 % at Qwen2.5-1.5B's, 42 % on the packaged 135M: the decoder layers 27 %, the embedding
staying bf16; bench/bench_quant.py). Without bitsandbytes, or on a device it does not run on, the model
loads unquantized and the load's notes say why. The cache always holds the unquantized weights.
bitsandbytes is imported only for a quantized load (importing it costs ~130 MB of RSS and ~3.5 s).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ....errors import ModelError
from ....settings import Settings
from ...registry import ModelInfo
from .gguf_progress import gguf_tensor_progress

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
_COMPLETE_MARK = ".complete"


@dataclass
class LoadedModel:
    info: ModelInfo
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    load_s: float
    from_cache: bool
    notes: list[str] = field(default_factory=list)
    eos_token_ids: list[int] = field(default_factory=list)
    #: "4bit" / "8bit" when bitsandbytes quantized the weights, None when they loaded unquantized
    quantization: str | None = None
    #: bytes the weights take, bitsandbytes' quantization state included (``weight_footprint``)
    weight_bytes: int = 0

    @property
    def context_length(self) -> int:
        cfg = self.model.config
        ctx = getattr(cfg, "max_position_embeddings", None) or self.info.context_length or 2048
        return int(ctx)


def pick_device(requested: str) -> str:
    import torch

    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device '{requested}' requested but CUDA is not available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str) -> Any:
    import torch

    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if requested and requested != "auto":
        if requested not in names:
            raise ModelError(f"unknown dtype '{requested}' (use auto, bfloat16, float16, float32)")
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    # On CPU bf16 measured faster than fp32 for decode (17.8 vs 15.6 tok/s, batch 4: 74 vs 38).
    return torch.bfloat16


def dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def cache_dir_for(info: ModelInfo, settings: Settings, dtype: Any) -> Path:
    key = hashlib.sha256(f"{info.path}|{info.fingerprint}|{dtype_name(dtype)}".encode()).hexdigest()[:16]
    assert settings.model_cache_dir is not None
    return settings.model_cache_dir / f"{info.id.replace('/', '--')}-{key}"


QUANTIZATIONS = ("4bit", "8bit")


def weight_footprint(module: Any) -> int:
    """Bytes ``module``'s weights hold: parameters and buffers (``get_memory_footprint()`` counts
    these), plus what bitsandbytes keeps beside a quantized weight and that count misses (4-bit:
    the per-block absmax and code books, ~1/8 more on top of the packed nibbles; 8-bit: the
    per-row scales, on the weight until its first forward and on the layer's ``state`` after).
    A tensor is counted once however many names reach it (tied weights)."""
    import torch

    counted: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, torch.Tensor):
            return 0
        key = value.data_ptr() or id(value)
        if key in counted:
            return 0
        counted.add(key)
        return int(value.nbytes)

    def quant_state(state: Any) -> int:
        if state is None:
            return 0
        own = sum(size(getattr(state, name, None)) for name in ("absmax", "code", "offset"))
        return own + quant_state(getattr(state, "state2", None))

    total = 0
    for sub in module.modules():
        for param in sub.parameters(recurse=False):
            total += size(param) + quant_state(getattr(param, "quant_state", None))
            total += size(getattr(param, "SCB", None))
        total += size(getattr(getattr(sub, "state", None), "SCB", None))  # Linear8bitLt, once run
        total += sum(size(buf) for buf in sub.buffers(recurse=False))
    return total


def bnb_load_kwargs(requested: str, device: str, dtype: Any) -> tuple[dict[str, Any], str | None]:
    """``from_pretrained`` kwargs quantizing to ``requested`` on ``device``, or ({}, why not)."""
    if requested not in QUANTIZATIONS:
        raise ModelError(f"unknown quantization '{requested}' (use 4bit or 8bit, or none)")
    unquantized = f"loaded unquantized in {dtype_name(dtype)} on {device}"
    try:
        import bitsandbytes
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        why = f"quantization '{requested}' needs bitsandbytes (pip install bitsandbytes: {exc})"
        return {}, f"{why}; {unquantized}"
    kind = device.split(":", 1)[0]
    # releases before the multi-backend ones ran on CUDA only and do not list their devices
    supported = set(getattr(bitsandbytes, "supported_torch_devices", None) or {"cuda"})
    if kind not in supported:
        return {}, (
            f"quantization '{requested}': bitsandbytes {bitsandbytes.__version__} does not run on "
            f"'{kind}' (it runs on {', '.join(sorted(supported))}); {unquantized}"
        )
    config = BitsAndBytesConfig(
        load_in_4bit=requested == "4bit",
        load_in_8bit=requested == "8bit",
        bnb_4bit_quant_type="nf4",  # the usual choice for LLM weights: better than fp4 at the same size
        # the per-64-weights absmax quantized too: 0.13 instead of 0.5 bits per weight (packaged
        # model: 1.9 instead of 6.6 MB beside the 53 MB of 4-bit layers)
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
    # "auto" lets accelerate spread a large model over several GPUs; elsewhere one device holds it
    device_map: Any = "auto" if kind == "cuda" and ":" not in device else {"": device}
    return {"quantization_config": config, "device_map": device_map}, None


def _copy_out_of_checkpoint(model: Any) -> None:
    """Give the weights bitsandbytes left unquantized (embedding, norms) memory of their own.

    On the CPU they stay views of the mmapped safetensors file, which keeps the whole mapping, and
    every page quantization read from it, resident: measured on the packaged model 4-bit, 202 MB of
    the file stayed in RSS; copying the 54 MB those weights hold lets it go (RSS 677 -> 528 MB).
    """
    import torch

    seen: set[int] = set()
    for module in model.modules():
        for param in module.parameters(recurse=False):
            # bitsandbytes' Params4bit / Int8Params already own their (quantized) memory
            if type(param) is torch.nn.Parameter and id(param) not in seen:
                seen.add(id(param))  # tied weights: one Parameter, copied once, still tied
                param.data = param.data.clone()
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf is not None:
                module._buffers[name] = buf.clone()


def _repack_for_cpu_kernels(model: Any) -> None:
    """Run one token through a quantized CPU model, so bitsandbytes' one-time work happens here.

    On a CPU with AVX512-bf16, bitsandbytes repacks each 4-bit weight for its CPU kernel on the
    layer's first forward (``packing_format_for_cpu``: the double-quantized absmax stored again as
    bf16). Left to the first request, that request waited for it (SmolLM2-1.7B's shape: first
    token after ~6 s) and ``weight_bytes`` described weights that changed under it. One token is
    enough; a CPU without that path runs an ordinary forward.
    """
    import torch

    token = model.config.bos_token_id
    ids = torch.tensor([[token if isinstance(token, int) else 0]])
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)


def _return_freed_memory() -> None:
    """Hand the quantization's freed temporaries back to the OS (glibc keeps them in the loading
    thread's malloc arena: packaged model 4-bit through the engine, RSS 773 -> 536 MB)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


def _convert_gguf(info: ModelInfo, target: Path, dtype: Any, progress: Progress) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(info.path)
    progress(0.05, "reading the GGUF vocabulary (one-time conversion, cached afterwards)")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    progress(0.1, "converting GGUF tensors")
    with gguf_tensor_progress(progress, 0.1, 0.65):
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=dtype, local_files_only=True
        )
    progress(0.7, "saving converted weights to the cache")
    # save_pretrained refuses a gguf-"quantized" model; the weights are already dequantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE_MARK).write_text(info.fingerprint)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _COMPLETE_MARK).exists():  # another process won the race otherwise
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    del model


def load_chat_model(info: ModelInfo, settings: Settings, progress: Progress | None = None) -> LoadedModel:
    """Load ``info`` for generation. Raises ModelError with a clear message on any failure."""
    progress = progress or (lambda _f, _m: None)
    started = time.perf_counter()
    notes: list[str] = []
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = pick_device(settings.device)
        dtype = pick_dtype(settings.dtype, device)
        path = Path(info.path)
        if not path.exists():
            raise ModelError(f"model file for '{info.id}' is missing: {path}")
        load_kwargs: dict[str, Any] = {"dtype": dtype}
        quantization: str | None = None
        if settings.quantization:
            bnb_kwargs, why_not = bnb_load_kwargs(settings.quantization, device, dtype)
            load_kwargs.update(bnb_kwargs)
            quantization = None if why_not else settings.quantization
            if why_not:
                notes.append(why_not)
        if "device_map" not in load_kwargs and device.startswith("cuda"):
            load_kwargs["device_map"] = device  # accelerate places the weights directly
        from_cache = False
        source_dir = path
        if info.format == "gguf":
            cached = cache_dir_for(info, settings, dtype)
            if not (cached / _COMPLETE_MARK).exists():
                _convert_gguf(info, cached, dtype, progress)
            else:
                from_cache = True
            source_dir = cached
        progress(0.8, "loading weights")
        tokenizer = AutoTokenizer.from_pretrained(str(source_dir), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(source_dir), local_files_only=True, **load_kwargs)
        if "device_map" not in load_kwargs:
            model.to(device)
        model.eval()
        if quantization and device == "cpu":
            _copy_out_of_checkpoint(model)
            _repack_for_cpu_kernels(model)
            _return_freed_memory()
        torch.set_grad_enabled(False)
        weight_bytes = weight_footprint(model)
        if quantization:
            import bitsandbytes

            notes.append(
                f"quantized {quantization} by bitsandbytes {bitsandbytes.__version__} on {device} "
                f"(compute {dtype_name(dtype)}): weights {weight_bytes / 2**20:.0f} MiB"
            )
    except ModelError:
        raise
    except Exception as exc:  # corrupt files surface as many different exception types
        raise ModelError(f"could not load model '{info.id}' from {info.path}: {exc}") from exc

    eos: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in [tokenizer.eos_token_id, gen_eos]:
        if isinstance(value, int):
            eos.append(value)
        elif isinstance(value, (list, tuple)):
            eos.extend(int(v) for v in value)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    if isinstance(im_end, int):
        eos.append(im_end)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    progress(1.0, "loaded")
    loaded = LoadedModel(
        info=info,
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype_name(dtype),
        load_s=time.perf_counter() - started,
        from_cache=from_cache,
        notes=notes,
        eos_token_ids=sorted(set(eos)),
        quantization=quantization,
        weight_bytes=weight_bytes,
    )
    log.info(
        "loaded %s on %s (%s, %s) in %.1fs, weights %.0f MiB",
        info.id,
        device,
        loaded.dtype,
        quantization or "unquantized",
        loaded.load_s,
        weight_bytes / 2**20,
    )
    return loaded
