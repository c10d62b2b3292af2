"""How much prompt the llama.cpp decode loop reads in a step while other chats wait for tokens.

A step decodes every generating chat's next token together with prompt chunks, so the step takes
as long as its prompt chunk: on the packaged model a 512-token chunk of a long prompt is ~2 s,
and every chat decoding beside it got one token per ~2 s (7 short chats: 205 tok/s alone, 17 tok/s
while one 5,565-token prompt was read; a sidebar chat froze for the ~20 s an agent's 7k-token prompt
takes to read). This is the problem chunked prefill solves in vLLM and Sarathi-Serve: a step's
tokens are capped by a budget sized for the time between tokens of the decoding requests, decodes
go first, prompt chunks fill what is left. llama-server does not cap it (its decoding slots wait
for the whole ``-b`` batch).

``PrefillPacer``: while any chat decodes, the prompt tokens of one step (all lanes together) are
capped so they take about ``STEP_BUDGET_S`` at the prompt-reading speed measured on the steps so far
(seconds a token, a moving average: reading slows as the prompt's attention span grows); never
below ``MIN_CHUNK``, which keeps the matrix multiplies efficient on slow models. With no chat
decoding, prompts are read in full ``n_batch`` chunks as before. Shorter prompts go first within the
cap, so a new short chat's question is read at once beside a long one (bench/bench_kv_long.py).

Only long prompts are cut: a prompt of at most ``WHOLE_PROMPT`` tokens (to read, past its cached
prefix) is read whole in one step, the step's whole reads together at most
``max(allowance, WHOLE_STEP)`` tokens (one that does not fit waits, whole, for a later step); a
long prompt's last chunk stays paced. vLLM's scheduler has the same shape: only prompts over its
``long_prefill_token_threshold`` are chunked, all within one token budget a step. Cutting a
chat's 40-token question into 16-token pieces spares the decoding chats a fraction of a second
once, but starts the new chat several steps late: chats that arrived together finish staggered and
the last steps carry fewer of them. 4 chats on the SmolLM2-360M shape (Q4_K_M, 2 threads, the
first chat decoding while the other three ~40-token questions were read), against llama-server in
the same round: 72 steps for 256 tokens and 0.77 / 0.87 / 0.90 of its tok/s (three runs) with every
question cut into 16-token pieces; 65 steps (llama-server: 65) and 1.10 with them read whole.
"""

from __future__ import annotations

#: prompt reading a step may add while other chats wait for their next token (seconds). In one run
#: (bench/bench_kv_long.py --budgets 0.05/16,0.1/16,0.05/8, 7 short chats beside a 5,565-token
#: prompt): 0.05 s gave the short chats 74 tok/s (worst gap 0.13 s), 0.1 s 58 tok/s (0.17 s), the
#: long chat's first token 34.9 vs 36.5 s (noise: +-2 s). On this machine 0.05 s is the floor chunk
STEP_BUDGET_S = 0.05
#: fewest prompt tokens a capped step reads (a slow model's chunk would otherwise shrink to a few
#: tokens a step, wasting the weights read for each). Picked by bench/bench_kv_long.py on the
#: packaged model, 2 threads, 7 short chats (64 tokens) beside a 5,565-token prompt, medians of 2
#: rounds (at 0.1 s a step the chunk is this floor there: reading costs 4-10 ms a token):
#:
#:     chunk a step     short tok/s  worst gap  p90 gap   long first token  long total
#:     512 (no cap)        14.9       4.28 s    2.02 s        26.7 s          30.4 s
#:     128                 13.0       1.43 s    1.22 s        33.1 s          35.6 s
#:     64                  20.5       0.69 s    0.55 s        33.7 s          35.5 s
#:     32                  39.4       0.30 s    0.25 s        33.3 s          35.1 s
#:     16                  76.5       0.13 s    0.12 s        30.0 s          31.7 s
#:
#: (7 short chats alone: ~200 tok/s.) The smallest chunk is best for both sides: the short chats
#: finish in ~6 s, then the long prompt is read in full chunks; bigger chunks keep both slow longer.
#: 8 a step was better still for the short chats (95 tok/s, worst gap 0.10 s) at no measured cost to
#: the long one here, but while chats keep decoding the long prompt then reads at ~45 % of its
#: speed (16: ~65 %; from the same runs' steps), and a slow model wastes more weight reads a token
MIN_CHUNK = 16
#: a prompt with at most this many tokens left to read is read whole in one step beside the decoding
#: chats (a chat's question with its template is ~40 tokens; 128 tokens read in ~0.5-1.3 s on the
#: packaged model, once); longer prompts are read in paced chunks
WHOLE_PROMPT = 128
#: a capped step's whole reads together: at most this many tokens (or the allowance, if larger).
#: Two of the longest short prompts, or 7 chats' ~36-token questions; ~0.5-1.1 s of reading on
#: the packaged model and the 360M shape, once, where 7 x 100 tokens unbounded would be ~3 s
WHOLE_STEP = 256
#: chunk sizes are rounded down to this many tokens
CHUNK_ALIGN = 16
#: weight of the newest step in the moving average of seconds a prompt token
EMA = 0.5


class PrefillPacer:
    def __init__(self, n_batch: int, budget_s: float | None) -> None:
        self.n_batch = n_batch
        #: None: no cap (every step reads up to n_batch prompt tokens a lane)
        self.budget_s = budget_s
        self.min_chunk = MIN_CHUNK
        self.s_per_token: float | None = None
        #: steps that left a prompt partly unread because of the cap
        self.capped_steps = 0
        #: short prompts read whole beside decoding chats (not cut, see ``WHOLE_PROMPT``)
        self.whole_reads = 0

    def allowance(self, decoding: bool) -> int | None:
        """Prompt tokens this step may read, all lanes together; None: no cap."""
        if not decoding or self.budget_s is None:
            return None
        if self.s_per_token is None:  # nothing measured yet: a small first chunk measures it
            return self.min_chunk
        fit = int(self.budget_s / self.s_per_token) // CHUNK_ALIGN * CHUNK_ALIGN
        return max(self.min_chunk, min(self.n_batch, fit))

    def whole(self, pending: int, seated: int) -> bool:
        """Whether a prompt with ``pending`` tokens left of the ``seated`` it came with is read
        whole in a capped step: short, and none of it read yet (a long prompt's tail stays paced)."""
        return pending == seated and pending <= WHOLE_PROMPT

    def measured(self, n_tokens: int, n_prompt: int, seconds: float) -> None:
        """One ``llama_decode`` of ``n_tokens`` (``n_prompt`` of them prompt) took ``seconds``."""
        if n_prompt < CHUNK_ALIGN or n_tokens <= 0:  # a decode-only step says little about reading
            return
        cost = seconds / n_tokens
        self.s_per_token = cost if self.s_per_token is None else EMA * cost + (1 - EMA) * self.s_per_token

    def stats(self) -> dict[str, float | int | None]:
        return {
            "prefill_step_budget_s": self.budget_s,
            "prefill_s_per_token": self.s_per_token,
            "prefill_capped_steps": self.capped_steps,
            "prefill_whole_reads": self.whole_reads,
        }
