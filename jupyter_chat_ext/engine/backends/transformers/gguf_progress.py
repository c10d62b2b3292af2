"""Real progress for transformers' one-time GGUF conversion (issue 14: the bar sat at 5 %).

transformers dequantizes a GGUF file tensor by tensor in ``load_gguf_checkpoint``, iterating with the
``tqdm`` its module imported. While a conversion runs we put a counting iterable in that module's
``tqdm`` slot, so the load bar moves with the tensors actually converted (~270 for the packaged
model) instead of jumping from 5 % to 70 % after 17-30 s. One conversion at a time holds the swap; if
a transformers release renames the module or the loop, the load still works and only the bar is
coarse again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Progress = Callable[[float, str], None]
_LOCK = threading.Lock()


@contextlib.contextmanager
def gguf_tensor_progress(progress: Progress, start: float, end: float) -> Iterator[None]:
    """Report ``start..end`` as the GGUF tensors are converted inside the ``with`` block."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - a transformers without GGUF support
        yield
        return
    if not hasattr(gguf_utils, "tqdm"):  # pragma: no cover - the loop moved in a later release
        yield
        return

    def counting(iterable: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        total = len(iterable) if hasattr(iterable, "__len__") else 0  # type: ignore[arg-type]
        for i, item in enumerate(iterable):
            if total:
                progress(start + (end - start) * i / total, f"converting GGUF tensors ({i}/{total})")
            yield item

    with _LOCK:
        original = gguf_utils.tqdm
        gguf_utils.tqdm = counting
        try:
            yield
        finally:
            gguf_utils.tqdm = original
