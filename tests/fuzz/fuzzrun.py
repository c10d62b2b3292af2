"""Fuzz the /chat-ext API of a real server with schemathesis, from our own OpenAPI document.

Used by tests/fuzz/test_fuzz_api.py (a short seeded run in CI) and runnable by hand for a long run:

    HF_HUB_OFFLINE=1 .venv/bin/python tests/fuzz/fuzzrun.py --examples 4 --seed 7 --workers 2

which starts its own server and prints a JSON summary (requests, statuses, 5xx, check failures).

The document is narrowed for fuzzing only (:func:`narrow`): generation lengths are capped so a
generated chat decodes a few tokens instead of minutes, and embedding inputs are kept small. The
server itself also caps every answer (``default_max_tokens=8``, ``context_budget=256``), so a
negative-mode ``max_tokens`` that the server accepts still ends quickly.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "faults"))

from chatproc import TOKEN, ChatServer  # noqa: E402

#: what every fuzzed response must satisfy (schemathesis check names)
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "ignored_auth",
]

#: server options of a fuzzed server: every answer is short, whatever max_tokens says
SERVER_ARGS = (
    "--ChatExtApp.default_max_tokens=8",
    "--ChatExtApp.context_budget=256",
    "--ChatExtApp.preload_default_model=True",
)

GEN_CAP = 8


def narrow(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of the served document whose generation lengths and embedding inputs are small."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for name, keys in {
        "GenerationParams": ("max_tokens", "max_new_tokens", "max_completion_tokens"),
        "V1ChatRequest": ("max_tokens", "max_completion_tokens"),
        "V1CompletionRequest": ("max_tokens",),
    }.items():
        for key in keys:
            if name in schemas and key in schemas[name].get("properties", {}):
                prop = schemas[name]["properties"][key]
                # the generated document says "integer or null" as anyOf branches: cap each integer
                for branch in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
                    branch["maximum"] = GEN_CAP
    emb = spec["paths"].get("/v1/embeddings", {}).get("post")
    if emb:
        body = emb["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in body:
            body = schemas[body["$ref"].rsplit("/", 1)[-1]]
        text = {"type": "string", "maxLength": 2000}
        texts = {"type": "array", "minItems": 1, "maxItems": 16, "items": text}
        body["properties"]["input"] = {"oneOf": [text, texts]}
    return spec


def config_toml(path: Path) -> Path:
    """Per-operation settings: the catch-all route is fuzzed with valid (unrouted) names only.

    A "negative" name for ``/{rest}`` would be a real route ("health") and answer 200: not a
    fault of the server, so the catch-all gets positive generation only.
    """
    path.write_text(
        '[[operations]]\ninclude-operation-id-regex = "^unknown"\ngeneration.mode = "positive"\n',
        encoding="utf-8",
    )
    return path


def run_schemathesis(
    server: ChatServer,
    spec: dict[str, Any],
    out: Path,
    *,
    examples: int,
    seed: int,
    workers: int = 1,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """One `schemathesis run` over every operation (all phases, stateful included); a summary."""
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "openapi.json"
    spec_path.write_text(json.dumps(narrow(spec)), encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_toml(out / "schemathesis.toml")),
        "run",
        str(spec_path),
        "--url",
        f"{server.base}/chat-ext",
        "--header",
        f"Authorization: token {TOKEN}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--request-timeout",
        "120",
        "--continue-on-failure",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--report",
        "har,junit",
        "--report-dir",
        str(out),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "st_hooks.py")}
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out, env=env, timeout=max_seconds)
        code, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:  # a long local run cut short: count what was sent
        code, text = None, f"stopped after {max_seconds} s\n{exc.stdout or ''}{exc.stderr or ''}"
    summary = summarize(out)
    summary.update(
        exit_code=code,
        seconds=round(time.monotonic() - started, 1),
        seed=seed,
        examples_per_operation=examples,
        command=" ".join(cmd[2:]),
    )
    (out / "stdout.txt").write_text(text if isinstance(text, str) else str(text), encoding="utf-8")
    summary["output_tail"] = str(text)[-6000:]
    return summary


def summarize(out: Path) -> dict[str, Any]:
    """Requests and statuses from the HAR report; failed checks from the JUnit report."""
    statuses: collections.Counter[int] = collections.Counter()
    server_errors: list[dict[str, Any]] = []
    operations: set[str] = set()
    slowest: list[tuple[float, str]] = []
    for har in out.glob("har*.json"):
        for entry in har_entries(har):
            status = int(entry["response"]["status"])
            statuses[status] += 1
            url = entry["request"]["url"]
            label = f"{entry['request']['method']} {url.split('/chat-ext', 1)[-1].split('?')[0]}"
            operations.add(label)
            slowest.append((float(entry.get("time") or 0), f"{label} -> {status}"))
            if status >= 500:
                server_errors.append(
                    {
                        "method": entry["request"]["method"],
                        "url": url,
                        "status": status,
                        "body": (entry["request"].get("postData") or {}).get("text", "")[:2000],
                    }
                )
    failures = junit_failures(out)
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": len(server_errors),
        "server_error_samples": server_errors[:20],
        "failures": failures,
        "schema_violations": sum(1 for f in failures if "schema" in f["message"].lower()),
        "distinct_urls": len(operations),
        "slowest_ms": [f"{ms:.0f} {label[:120]}" for ms, label in sorted(slowest, reverse=True)[:5]],
    }


def har_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a HAR file, also of one still being written (a run that was stopped)."""
    text = path.read_text(encoding="utf-8")
    try:
        return list(json.loads(text)["log"]["entries"])
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    pos = text.find("[", text.find('"entries"')) + 1
    entries = []
    while True:
        while pos < len(text) and text[pos] in " \r\n\t,":
            pos += 1
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return entries
        entries.append(entry)


def junit_failures(out: Path) -> list[dict[str, str]]:
    import xml.etree.ElementTree as ET

    found = []
    for path in out.glob("junit*.xml"):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:  # empty: the run was stopped before the report was written
            continue
        for case in root.iter("testcase"):
            for bad in list(case.iter("failure")) + list(case.iter("error")):
                text = (bad.get("message") or "") + "\n" + (bad.text or "")
                found.append({"operation": case.get("name") or "", "message": text[:4000]})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=4, help="max examples per operation and phase")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/chat-ext-fuzz"))
    parser.add_argument("--max-seconds", type=float, default=None, help="stop schemathesis after this long")
    args = parser.parse_args()
    import contextlib

    import httpx

    sys.path.insert(0, str(HERE.parent / "hub"))
    from standin_hub import StandinHub

    # the model hub routes ask a stand-in Hub on 127.0.0.1, as in test_fuzz_api.py: offline they
    # answer 503 hub_unreachable, which the fuzzer counts as server errors
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(StandinHub())
        hub.add_packaged()
        hf_home = str(args.out / "hf-home")
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": hf_home, "HF_TOKEN": ""}
        server = stack.enter_context(ChatServer(args.out / "server", extra=SERVER_ARGS, env=env))
        server.start()
        server.wait_health()
        spec = server.get("openapi.json").json()
        summary = run_schemathesis(
            server,
            spec,
            args.out / "report",
            examples=args.examples,
            seed=args.seed,
            workers=args.workers,
            max_seconds=args.max_seconds,
        )
        summary["server_alive"] = (
            httpx.get(f"{server.base}/api/status", headers=server.headers, timeout=30).status_code == 200
        )
        from check_store import read_back

        summary["read_back"] = read_back(server)
    summary.pop("output_tail", None)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
