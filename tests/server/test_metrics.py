"""Prometheus metrics: requests, tokens, TTFT and tokens/s histograms, queue depth, loaded model."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from server_testlib import on_jp_loop


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@on_jp_loop
async def test_metrics_after_two_chats(api):
    sid = (await api.new_session())["id"]
    dones = []
    for prompt in ("Say yes", "Say no"):
        reply = await api.chat(sid, prompt)
        dones.append(next(d for k, d in reply.events if k == "done"))

    reply = await api.get("metrics")
    assert reply.code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    got = samples(reply.text)
    completion = sum(d["metrics"]["completion_tokens"] for d in dones)
    prompt = sum(d["metrics"]["prompt_tokens"] for d in dones)
    assert got[("chat_ext_tokens_total", (("kind", "completion"),))] == completion
    assert got[("chat_ext_tokens_total", (("kind", "prompt"),))] == prompt
    assert got[("chat_ext_time_to_first_token_seconds_count", ())] == 2
    assert got[("chat_ext_tokens_per_second_count", ())] == 2
    assert got[("chat_ext_queue_depth", ())] == 0
    assert got[("chat_ext_active_streams", ())] == 0
    loaded = [labels for (name, labels), v in got.items() if name == "chat_ext_model_loaded" and v == 1]
    assert "smollm2-135m-instruct" in [dict(labels)["model"] for labels in loaded]
    chats = got[
        ("chat_ext_http_requests_total", (("handler", "ChatHandler"), ("method", "POST"), ("status", "200")))
    ]
    assert chats == 2
    assert not any(name.startswith("jupyter_") or name.startswith("http_request") for name, _ in got)
