"""Property-based fuzzing of every /chat-ext route against a real `jupyter server` (schemathesis).

Every operation of the served OpenAPI document is exercised in all of schemathesis' phases
(examples, coverage, fuzzing, stateful via the document's links) with valid and invalid data.
Checks: no 5xx, statuses/content types/bodies/headers as documented, auth enforced. Afterwards
the server must still answer and every stored session and message must read back.

CI runs a short seeded run (``CHAT_EXT_FUZZ_EXAMPLES``, default 2 examples per operation and
phase, ~900 requests); ``tests/fuzz/fuzzrun.py --examples 4`` is the long local run (~2,200).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx
import pytest
from chatproc import ChatServer
from check_store import read_back
from fuzzrun import SERVER_ARGS, run_schemathesis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hub"))  # the stand-in Hub

pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("CHAT_EXT_FUZZ_EXAMPLES", "2"))
SEED = int(os.environ.get("CHAT_EXT_FUZZ_SEED", "20261201"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # the model hub routes (hub/search, hub/files, models/pull) ask a stand-in Hub on 127.0.0.1:
    # offline they would answer 503 hub_unreachable, which the fuzzer counts as a server error
    from standin_hub import StandinHub

    tmp = tmp_path_factory.mktemp("fuzz")
    with StandinHub() as hub:
        hub.add_packaged()
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp / "hf-home"), "HF_TOKEN": ""}
        with ChatServer(tmp, extra=SERVER_ARGS, env=env) as srv:
            srv.start()
            assert srv.wait_health().status_code == 200
            yield srv


@pytest.mark.timeout(900)
def test_fuzz_every_route_no_5xx_and_responses_match_the_schema(server, tmp_path):
    spec = server.get("openapi.json").json()
    summary = run_schemathesis(server, spec, tmp_path / "report", examples=EXAMPLES, seed=SEED)
    print(json.dumps({k: v for k, v in summary.items() if k != "output_tail"}, indent=1))
    assert summary["requests"] > 0, summary["output_tail"]
    assert summary["server_errors"] == 0, summary["server_error_samples"]
    assert summary["failures"] == [], summary["output_tail"]
    assert summary["exit_code"] == 0, summary["output_tail"]

    # the server is alive and nothing the fuzzer stored breaks a later read
    assert httpx.get(f"{server.base}/api/status", headers=server.headers, timeout=30).status_code == 200
    back = read_back(server)
    assert back["failed_reads"] == [], back
    assert "Uncaught exception" not in server.log(), server.log()[-4000:]
