"""``%chat pull | hardware | catalog | roles``: the model hub's line commands (declared in spec.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..errors import InvalidInput
from . import hub_door
from .feedback import ChatMagicError
from .tables import human_size

ROLE_NAMES = ("chat", "inline", "embedding", "rerank")


def cmd_pull(ctx: Any, v: dict[str, Any]) -> None:
    from tqdm.auto import tqdm

    client = ctx.client
    target = v["target"]
    entries = hub_door.catalog(client)["entries"] if "/" not in target else None
    body = hub_door.parse_target(target, entries)
    label = body["repo"].split("/")[-1] + (f":{body['file']}" if body.get("file") else "")
    bar = tqdm(total=0, desc=f"pull {label}", unit="B", unit_scale=True, unit_divisor=1024)

    def show(job: dict[str, Any]) -> None:
        total = int(job.get("bytes_total") or 0)
        if total and bar.total != total:
            bar.total = total
        bar.n = int(job.get("bytes_done") or 0)
        bar.set_postfix_str(str(job.get("state") or ""))
        bar.refresh()

    try:
        job = hub_door.pull(client, body, show)
    except KeyboardInterrupt:  # hub_door cancelled the job; its bytes stay for a resume
        raise ChatMagicError(
            f"pull of {label} stopped: its job is cancelled, the bytes so far are kept; "
            f"`%chat pull {target}` again (or Resume in the sidebar's Models view) goes on from them"
        ) from None
    finally:
        bar.close()
    state = job.get("state")
    if state != "done":
        error = job.get("error") or {}
        how = " (run %chat pull again to resume)" if "resume" in (job.get("actions") or []) else ""
        raise ChatMagicError(f"pull of {label} {state}: {error.get('message') or 'no reason given'}{how}")
    model_id = job.get("model_id")
    print(
        f"pulled {label} as model {model_id!r}: %%chat --model {model_id} ... or %chat roles chat {model_id}"
    )


def hardware_text(hw: dict[str, Any]) -> str:
    """The /hardware object as a few readable lines."""
    cpu, ram, disk = hw.get("cpu") or {}, hw.get("ram") or {}, hw.get("disk") or {}
    lines = [
        f"CPU: {cpu.get('model') or 'unknown'}, {cpu.get('cores')} cores"
        + (f" ({', '.join(cpu.get('features') or [])})" if cpu.get("features") else ""),
        f"RAM: {human_size(ram.get('available_bytes'))} available of {human_size(ram.get('total_bytes'))}",
        f"disk: {human_size(disk.get('free_bytes'))} free at {disk.get('path')}",
    ]
    gpus = hw.get("gpus") or []
    for g in gpus:
        free = g.get("vram_free_bytes")
        lines.append(
            f"GPU {g.get('index')}: {g.get('name')}, {human_size(g.get('vram_total_bytes'))} VRAM"
            + (f" ({human_size(free)} free)" if free is not None else "")
            + f" [{g.get('source')}]"
        )
    if not gpus:
        lines.append("GPU: none found (models run on the CPU)")
    jetson = hw.get("jetson") or {}
    if jetson.get("detected"):
        lines.append(f"Jetson: L4T {jetson.get('release')}, unified memory (the GPU uses the RAM)")
    llama = hw.get("llama_cpp") or {}
    if llama.get("installed"):
        lines.append(
            f"llama.cpp: {llama.get('version')}, backends {', '.join(llama.get('backends') or [])}, "
            f"GPU offload {'yes' if llama.get('gpu_offload') else 'no'}"
        )
    else:
        lines.append("llama.cpp: not installed (GGUF models run through transformers, slower)")
    return "\n".join(lines)


def cmd_hardware(ctx: Any, v: dict[str, Any]) -> None:
    view = hub_door.catalog(ctx.client)  # the hardware, and what the catalog suggests for it
    lines = [hardware_text(view["hardware"]), "", "suggested for this machine (%chat catalog lists all):"]
    names = {e["id"]: e for e in view.get("entries") or []}
    for role, pick in (view.get("suggested") or {}).items():
        entry = names.get(pick) if pick else None
        if entry is None:
            lines.append(f"  {role:<10}none fits")
            continue
        state = "installed" if entry.get("installed") else f"%chat pull {pick}"
        size, where = human_size(entry["size_bytes"]), entry["fits"]["verdict"]
        lines.append(f"  {role:<10}{entry['name']} ({size}, runs on the {where}): {state}")
    print("\n".join(lines))


def catalog_frame(view: dict[str, Any]) -> pd.DataFrame:
    suggested = set(filter(None, (view.get("suggested") or {}).values()))
    rows = [
        {
            "id": e["id"],
            "role": e["role"],
            "name": e["name"],
            "size": human_size(e.get("size_bytes")),
            "quant": e.get("quant"),
            "fits": e["fits"]["verdict"],
            "suggested": e["id"] in suggested,
            "installed": e.get("installed", False),
            "fim": e.get("fim", False),
            "tools": e.get("tools", False),
            "licence": e.get("licence"),
            "pull": f"%chat pull {e['id']}",
        }
        for e in view.get("entries") or []
    ]
    return pd.DataFrame(rows)


def cmd_catalog(ctx: Any, v: dict[str, Any]) -> pd.DataFrame:
    return catalog_frame(hub_door.catalog(ctx.client))


def cmd_roles(ctx: Any, v: dict[str, Any]) -> None:
    role, model = v.get("role"), v.get("model")
    changes = None
    if role is not None:
        if role not in ROLE_NAMES:
            raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(ROLE_NAMES)}")
        if model is None:
            raise InvalidInput(f"%chat roles {role} MODEL (or 'none' for inline and rerank)")
        changes = {role: None if model.lower() == "none" else model}
    view = hub_door.roles(ctx.client, changes)
    effective = view.get("effective") or {}
    for name in ROLE_NAMES:
        chosen, used = view.get(name), effective.get(name)
        extra = "" if chosen == used else f" (now: {used})"
        print(f"{name:<10}{chosen or '-'}{extra}")


HUB_HANDLERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "pull": cmd_pull,
    "hardware": cmd_hardware,
    "catalog": cmd_catalog,
    "roles": cmd_roles,
}
