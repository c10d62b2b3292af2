"""kill -9 while an answer streams, and a client that goes away mid-answer: the partial is kept.

A crash must lose at most the last ~second of an answer: the ChatService checkpoints the streaming
text about once a second, and the store marks rows a crash left "streaming" as "interrupted" when it
opens again. Completed turns are never lost. Iterations are seeded (kill delay, prompt).
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from chatproc import TurnStream, stream_chat

LONG = {"max_tokens": 400, "temperature": 0.8, "top_p": 0.95, "seed": 3}
PROMPTS = [
    "Write a long, detailed story about a lighthouse keeper and a storm. Use many paragraphs.",
    "Explain in great detail, step by step, how bread is made, with history and many examples.",
    "Describe a journey across a desert in a long essay with many vivid paragraphs.",
]
#: the text a client saw this long before the kill must be in the stored row
CHECKPOINT_WINDOW_S = 1.0


def wait_tokens(out: TurnStream, thread: threading.Thread, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not out.tokens and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.tokens, f"no token arrived: status={out.status} error={out.error}"


@pytest.mark.timeout(900)
def test_kill_9_mid_stream_keeps_completed_turns_and_the_partial_answer(servers, tmp_path):
    rng = random.Random(20261201)
    server = servers.new(tmp_path / "srv", extra=("--ChatExtApp.preload_default_model=True",))
    server.start()
    server.wait_model()
    session = server.new_session(title="crash")
    done = stream_chat(server, session, "Say hello.", {"max_tokens": 8, "temperature": 0, "seed": 1})
    assert done.status == 200 and done.event("done"), (done.status, done.error)
    completed = [m for m in server.messages(session) if m["status"] == "complete"]
    assert [m["role"] for m in completed] == ["user", "assistant"]

    for iteration in range(2):
        prompt = rng.choice(PROMPTS)
        delay = rng.uniform(1.5, 2.5)
        out = TurnStream()
        reader = threading.Thread(
            target=stream_chat, args=(server, session, prompt, LONG), kwargs={"out": out}
        )
        reader.start()
        wait_tokens(out, reader)
        time.sleep(delay)
        # a slow machine: make sure some text reached the client more than the window before the kill
        while reader.is_alive() and not out.text_before(time.monotonic() - CHECKPOINT_WINDOW_S - 0.2):
            time.sleep(0.05)
        killed_at = time.monotonic()
        server.kill9()
        reader.join(timeout=30)
        finished = out.event("done") is not None

        server.start()
        server.wait_health()
        rows = server.messages(session)
        # nothing completed is lost, whatever happened to this turn
        for old in completed:
            kept = next(m for m in rows if m["id"] == old["id"])
            assert (kept["status"], kept["content"]) == ("complete", old["content"])
        user = [m for m in rows if m["role"] == "user" and m["content"] == prompt]
        assert user, f"iteration {iteration}: the user message was lost"
        answer = max((m for m in rows if m["role"] == "assistant"), key=lambda m: m["id"])
        assert answer["id"] > user[-1]["id"]
        if finished:  # the answer ended before the kill: it is a complete turn now
            assert answer["status"] == "complete" and answer["content"] == out.text
        else:
            assert answer["status"] == "interrupted", answer
            seen_before = out.text_before(killed_at - CHECKPOINT_WINDOW_S)
            assert len(seen_before) > 0
            assert answer["content"].startswith(seen_before), (iteration, seen_before, answer["content"])
            assert out.text.startswith(answer["content"]) or answer["content"].startswith(out.text)
        completed = [m for m in rows if m["status"] == "complete"]


@pytest.mark.timeout(900)
def test_client_disconnect_keeps_the_partial_answer(servers, tmp_path):
    server = servers.new(tmp_path / "srv", extra=("--ChatExtApp.preload_default_model=True",))
    server.start()
    server.wait_model()
    for iteration, stop_after in enumerate((0.3, 1.2)):
        session = server.new_session(title=f"disconnect {iteration}")
        out = stream_chat(server, session, PROMPTS[iteration], LONG, stop_after_s=stop_after)
        assert out.status == 200 and out.tokens, (out.status, out.error)
        assert out.event("done") is None, "the answer finished before the client went away"
        deadline = time.monotonic() + 60
        while True:
            rows = server.messages(session)
            answer = rows[-1]
            if answer["status"] != "streaming" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [m["role"] for m in rows] == ["user", "assistant"]
        assert answer["status"] == "interrupted", answer
        # everything the client saw is stored (the server may have decoded a step more)
        assert answer["content"].startswith(out.text), (out.text, answer["content"])
    # the server keeps answering after the disconnects
    after = stream_chat(server, server.new_session(), "Say hi.", {"max_tokens": 4, "temperature": 0})
    assert after.status == 200 and after.event("done")
