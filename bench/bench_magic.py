"""Time to first token through ``%%chat`` (a real kernel) vs the HTTP route directly.

Starts a real ``jupyter server`` with the extension (its own data dir, default model loaded) and:

- ``http``: POST ``chat-ext/sessions/{id}/chat`` with httpx-sse from this process, time from the
  request to the first ``token`` event;
- ``magic_server``: a kernel pointed at that server runs ``%%chat``; time from the execute request
  to the first display update that carries answer text (what the person sees);
- ``magic_local``: the same in a kernel running the core in-process (JUPYTER_CHAT_EXT_MODE=local).

Each is measured ``--runs`` times (after one warm-up) and reported as median / min in JSON.

    .venv/bin/python bench/bench_magic.py [--runs 5] [--max-tokens 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "kernel"))

from kernel_harness import JupyterServer, Kernel, base_env  # noqa: E402

PROMPT = "Name one colour."


def http_ttft(server: JupyterServer, max_tokens: int) -> float:
    with httpx.Client(base_url=server.url + "chat-ext/", headers=server.headers, timeout=60) as http:
        session = http.post("sessions", json={"title": "bench-http"}).json()["id"]
        t0 = time.perf_counter()
        first = None
        body = {"content": PROMPT, "params": {"max_tokens": max_tokens}}
        with connect_sse(http, "POST", f"sessions/{session}/chat", json=body) as source:
            for sse in source.iter_sse():
                if sse.event == "token" and first is None:
                    first = time.perf_counter() - t0
        assert first is not None, "no token event"
        return first


def magic_ttft(kernel: Kernel, max_tokens: int) -> float:
    marks: dict[str, float] = {}

    def on_message(msg: dict) -> None:
        if "first" in marks or msg["msg_type"] != "update_display_data":
            return
        text = msg["content"]["data"].get("text/markdown", "")
        if text.replace("\N{BLACK VERTICAL RECTANGLE}", "").strip():
            marks["first"] = time.perf_counter()

    t0 = time.perf_counter()
    res = kernel.execute(f"%%chat --no-history --max-tokens {max_tokens}\n{PROMPT}", on_message=on_message)
    assert res.status == "ok", res.error_text
    assert "first" in marks, "no display update with text"
    return marks["first"] - t0


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 4),
        "min_s": round(min(values), 4),
        "runs": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-magic-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        root.mkdir()
        (tmp / "srv").mkdir()
        server = JupyterServer(tmp / "srv", root)
        kernels: list[Kernel] = []
        try:
            server.wait_ready()
            env = base_env(
                tmp / "k1",
                JUPYTER_CHAT_EXT_URL=server.url,
                JUPYTER_CHAT_EXT_TOKEN=server.token,
                JUPYTER_CHAT_EXT_MODE="server",
            )
            remote = Kernel(env, cwd=root)
            kernels.append(remote)
            local = Kernel(base_env(tmp / "k2", JUPYTER_CHAT_EXT_MODE="local"), cwd=tmp)
            kernels.append(local)
            for k in kernels:
                assert k.execute("%load_ext jupyter_chat_ext").status == "ok"

            results: dict[str, list[float]] = {"http": [], "magic_server": [], "magic_local": []}
            # warm-up: the first turn of each path pays imports, tokenizer set-up, model load
            http_ttft(server, args.max_tokens)
            magic_ttft(remote, args.max_tokens)
            magic_ttft(local, args.max_tokens)
            for _ in range(args.runs):
                results["http"].append(http_ttft(server, args.max_tokens))
                results["magic_server"].append(magic_ttft(remote, args.max_tokens))
                results["magic_local"].append(magic_ttft(local, args.max_tokens))
        finally:
            for k in kernels:
                k.shutdown()
            server.stop()

    out = {
        "benchmark": "ttft_magic_vs_http",
        "prompt": PROMPT,
        "max_tokens": args.max_tokens,
        "http": summary(results["http"]),
        "magic_server": summary(results["magic_server"]),
        "magic_local": summary(results["magic_local"]),
    }
    out["magic_server_overhead_s"] = round(out["magic_server"]["median_s"] - out["http"]["median_s"], 4)
    out["magic_server_over_http"] = round(out["magic_server"]["median_s"] / out["http"]["median_s"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
