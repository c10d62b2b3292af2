"""History search: word-prefix, case-insensitive, all words; the signature prefilter never drops a
true match (checked against a brute-force oracle on random text)."""

from __future__ import annotations

import random
import re

import duckdb
import pytest

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.store import search
from jupyter_chat_ext.store import signature_index as store_module
from jupyter_chat_ext.store.store import Store


def _oracle(text: str, q: str) -> bool:
    """Independent statement of the semantics: every query word starts some word of the text."""
    text_words = re.findall(r"[^\W_]+", text.casefold())
    q_words = re.findall(r"[^\W_]+", q.casefold())
    return bool(q_words) and all(any(w.startswith(t) for w in text_words) for t in q_words)


def test_search_semantics(store):
    s = store.create_session(title="notes")
    m = {
        "lab": store.add_message(s["id"], "user", "How do I install JupyterLab extensions?")["id"],
        "duck": store.add_message(s["id"], "assistant", "Use DUCKDB: it is an embedded database.")["id"],
        "umlaut": store.add_message(s["id"], "user", "Die Übersicht der Straße")["id"],
        "code": store.add_message(s["id"], "assistant", "set max_new_tokens=64 in generate()")["id"],
        "both": store.add_message(s["id"], "user", "duckdb inside jupyterlab")["id"],
    }

    def hits(q: str) -> set[int]:
        return {h["message_id"] for h in store.search_messages(q)}

    assert hits("jupyterlab") == {m["lab"], m["both"]}
    assert hits("JUPY") == {m["lab"], m["both"]}  # word prefix, any case
    assert hits("lab") == set()  # "lab" starts no word of "JupyterLab"
    assert hits("duckdb jupyter") == {m["both"]}  # every word must be present
    assert hits("duck database") == {m["duck"]}
    assert hits("übersicht") == {m["umlaut"]} == hits("ÜBERSICHT")
    assert hits("strasse") == {m["umlaut"]}  # case folding: ß == ss
    assert hits("new tokens 64") == {m["code"]}  # "_" and "=" separate words
    assert hits("generate()") == {m["code"]}  # punctuation in the query is ignored
    assert hits("i install") == {m["lab"]}  # one-letter words are checked too
    # only one-letter words: no signature bits, a substring scan + the exact check
    assert hits("i") == {m["lab"], m["duck"], m["code"], m["both"]}  # I, it/is, in, inside
    assert hits("nothing-like-this") == set()
    assert store.search_messages("   ") == [] and store.search_messages("?!") == []
    with pytest.raises(InvalidInput):
        store.search_messages(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.search_messages("x", limit=0)


def test_search_results_newest_first_with_limit_and_snippet(store):
    s = store.create_session()
    ids = [
        store.add_message(s["id"], "user", f"{'filler ' * 40} needle number {i} {'tail ' * 40}")["id"]
        for i in range(30)
    ]
    store.add_message(s["id"], "user", "no match here")
    got = store.search_messages("NEEDLE", limit=7)
    assert [h["message_id"] for h in got] == ids[::-1][:7]
    first = got[0]
    assert first["session_id"] == s["id"] and first["role"] == "user" and first["created_at"]
    assert "needle number 29" in first["snippet"] and len(first["snippet"]) <= 162
    assert first["snippet"].startswith("…") and first["snippet"].endswith("…")
    assert len(store.search_messages("needle", limit=100)) == 30


def test_search_follows_updates_and_deletes(store):
    s = store.create_session()
    m = store.add_message(s["id"], "assistant", "", status="interrupted")
    assert store.search_messages("quokka") == []
    store.update_message(m["id"], content="the quokka smiles", status="complete")
    assert [h["message_id"] for h in store.search_messages("quokka")] == [m["id"]]
    assert store.count_sessions("quokka") == 1
    store.update_message(m["id"], content="edited away")
    assert store.search_messages("quokka") == [] and store.count_sessions("quokka") == 0
    store.delete_message(m["id"])
    assert store.search_messages("edited") == []


def test_list_sessions_q_matches_titles_or_messages(store):
    a = store.create_session(title="Pandas tips")
    b = store.create_session(title="Misc")
    c = store.create_session(title="Other")
    store.add_message(b["id"], "user", "how to group by in pandas dataframes")
    store.add_message(c["id"], "user", "something about polars")
    store.add_message(c["id"], "assistant", "and dataframe libraries")
    assert {s["id"] for s in store.list_sessions(q="pandas")} == {a["id"], b["id"]}
    assert store.count_sessions(q="PANDAS") == 2
    # all words in one message or in the title; words spread over two messages do not match
    assert store.list_sessions(q="polars dataframe") == []
    assert [s["id"] for s in store.list_sessions(q="dataframe")] == [c["id"], b["id"]]  # recency order
    store.update_session(b["id"], pinned=True)
    assert [s["id"] for s in store.list_sessions(q="dataframe")] == [b["id"], c["id"]]
    assert [s["id"] for s in store.list_sessions(q="dataframe", limit=1, offset=1)] == [c["id"]]
    assert store.list_sessions(q="tips") == [store.get_session(a["id"])]
    assert store.count_sessions(q="zzz") == 0


def test_signature_never_misses_a_prefix():
    rng = random.Random(7)
    alphabet = "abcdeéßxyz0123"
    for _ in range(300):
        text_words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(30)]
        sig = search.signature(" ".join(text_words))
        for w in rng.sample(text_words, 5):
            t = w[: rng.randint(1, len(w))]
            mask = search.query_mask(search.query_words(t))
            assert all(sig[i] & v == v for i, v in mask.items()), (w, t)


def test_search_matches_brute_force_on_random_text(tmp_path):
    rng = random.Random(11)
    vocab = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 8))) for _ in range(120)]
    vocab += ["Äpfel", "straße", "naïve", "Jupyter", "duckdb", "x1", "42"]
    texts: dict[int, str] = {}
    owner: dict[int, str] = {}
    with Store(tmp_path / "chat.duckdb") as store:
        sessions = [store.create_session(title=" ".join(rng.sample(vocab, 2)))["id"] for _ in range(12)]
        titles = {s["id"]: s["title"] for s in store.list_sessions(limit=100)}
        for _ in range(250):
            sid = rng.choice(sessions)
            sep = rng.choice([" ", ", ", "_", "-", ". "])
            text = sep.join(rng.choice(vocab) for _ in range(rng.randint(1, 25)))
            m = store.add_message(sid, rng.choice(["user", "assistant"]), text)
            texts[m["id"]], owner[m["id"]] = text, sid
        queries = [
            " ".join(
                w[: rng.randint(1, len(w))].upper() if rng.random() < 0.3 else w[: rng.randint(1, len(w))]
                for w in rng.sample(vocab, rng.randint(1, 3))
            )
            for _ in range(150)
        ]
        for q in queries:
            expected = {mid for mid, text in texts.items() if _oracle(text, q)}
            got = {h["message_id"] for h in store.search_messages(q, limit=1000)}
            assert got == expected, q
            expected_sessions = {owner[mid] for mid in expected} | {
                sid for sid, t in titles.items() if _oracle(t, q)
            }
            assert {s["id"] for s in store.list_sessions(q=q, limit=1000)} == expected_sessions, q
            assert store.count_sessions(q=q) == len(expected_sessions)


def test_signatures_rebuilt_for_rows_written_outside_the_store(tmp_path):
    path = tmp_path / "chat.duckdb"
    with Store(path) as store:
        s = store.create_session(title="bulk")
        store.add_message(s["id"], "user", "written through the store")
    con = duckdb.connect(str(path))  # e.g. a bulk load with plain SQL
    con.execute(
        "INSERT INTO messages (session_id, role, content, created_at) "
        "SELECT ?, 'user', 'bulk row number ' || i, now()::TIMESTAMP FROM range(500) t(i)",
        [s["id"]],
    )
    con.execute("UPDATE store_meta SET value = 'old-scheme'")  # and a stale signature scheme
    con.close()
    with Store(path) as store:
        _, rows = store.query("SELECT count(*) FROM message_search")
        assert rows == [(501,)]
        assert len(store.search_messages("bulk row", limit=1000)) == 500
        assert len(store.search_messages("written")) == 1
        assert store.sync_search_index() == 0


def test_word_start_check_agrees_with_its_regex():
    rng = random.Random(3)
    alphabet = "ab_ 1é-ß.Σ"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))).casefold()
        token = "".join(rng.choice("ab1éσ") for _ in range(rng.randint(1, 3)))
        expected = re.search(r"(?<![^\W_])" + re.escape(token), text) is not None
        assert search._starts_a_word(text, token) == expected, (text, token)


@pytest.mark.parametrize("fetch_all_below", [100_000, 0])
def test_session_search_pages_follow_listing_order_across_windows(store, monkeypatch, fetch_all_below):
    # more sessions than one verification window (64), so paging stops early and resumes correctly;
    # fetch_all_below=0 takes the path used for very common words (candidates fetched per window)
    monkeypatch.setattr(store_module, "_ALL_CANDIDATES_MAX", fetch_all_below)
    index: dict[str, int] = {}
    for i in range(150):
        s = store.create_session(title=f"alpha title {i}" if i % 10 == 0 else f"session {i}")
        index[s["id"]] = i
        text = {0: f"the alpha message {i}", 1: f"alphabet soup {i}", 2: "beta"}[i % 3]
        store.add_message(s["id"], "user", text)
        if i % 37 == 0:
            store.update_session(s["id"], pinned=True)
    order = [s["id"] for s in store.list_sessions(limit=1000)]  # the listing order without q

    def paged(q: str) -> list[str]:
        out, offset = [], 0
        while page := [s["id"] for s in store.list_sessions(q=q, limit=7, offset=offset)]:
            out += page
            offset += 7
        return out

    # "alpha" starts "alphabet" too; titles count as well
    want = [sid for sid in order if index[sid] % 3 in (0, 1) or index[sid] % 10 == 0]
    assert paged("alpha") == want
    assert store.count_sessions(q="alpha") == len(want)
    want = [sid for sid in order if index[sid] % 3 == 0]
    assert paged("Alpha MESSAGE") == want
    assert store.count_sessions(q="alpha message") == len(want) == 50


@pytest.mark.parametrize("fetch_all_below", [100_000, 0])
def test_session_search_looks_past_a_newest_false_candidate(store, monkeypatch, fetch_all_below):
    monkeypatch.setattr(store_module, "_ALL_CANDIDATES_MAX", fetch_all_below)
    older_match = store.create_session(title="one")
    store.add_message(older_match["id"], "user", "alpha beta")
    store.add_message(older_match["id"], "assistant", "alpine bets")  # shares the signature bits only
    store.add_message(older_match["id"], "user", "alpinist betting")
    no_match = store.create_session(title="two")
    store.add_message(no_match["id"], "user", "alpine bets")
    store.add_message(no_match["id"], "user", "alpinist betting")
    assert [s["id"] for s in store.list_sessions(q="alpha beta")] == [older_match["id"]]
    assert store.count_sessions(q="alpha beta") == 1
    assert [h["session_id"] for h in store.search_messages("alpha beta")] == [older_match["id"]]
