"""A small in-memory stand-in for the Hugging Face Hub HTTP API, for tests.

It speaks the parts of the API that ``huggingface_hub`` (uploads), ``datasets`` and
``transformers`` (downloads) use: whoami-v2, repos/create, validate-yaml, preupload, commit
(ndjson), the LFS batch API and the upload/verify URLs it hands out, tree listing,
paths-info, revision info and ``resolve`` downloads (HEAD and GET, with ranges).

It binds to 127.0.0.1 on a free port, serves from daemon threads, and shuts itself down
after ``lifetime`` seconds if a test forgets to stop it. Every request is recorded in
``requests`` as ``(method, path)``; commits are counted per repo.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".pt", ".arrow", ".npy")
LFS_THRESHOLD = 10 * 1024 * 1024
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
TYPE_FROM_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n" \
                b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """A file in a commit: its content and whether it is stored in LFS."""

    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(self.data)}\n").encode()

    @property
    def oid(self) -> str:
        """The git oid: of the content, or of the LFS pointer file."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    def entry(self, path: str) -> dict:
        """This file as a tree / paths-info entry."""
        entry = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data),
                            "pointerSize": len(self.pointer)}
        return entry


@dataclass
class Repo:
    """A repository: a linear history of commits, each a full snapshot of files."""

    repo_type: str
    repo_id: str
    sdk: str | None = None
    commits: list[tuple[str, str, dict[str, Blob]]] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1][0]

    def snapshot(self, revision: str) -> tuple[str, dict[str, Blob]] | None:
        """(commit oid, files) at a branch name (``main``) or commit oid; None if unknown."""
        if revision == "main":
            return self.commits[-1][0], self.commits[-1][2]
        for oid, _, files in self.commits:
            if oid == revision:
                return oid, files
        return None


class HubState:
    """Repositories, LFS objects and the request log, behind one lock."""

    def __init__(self, token: str, user: str, orgs: tuple[str, ...]):
        self.token, self.user, self.orgs = token, user, orgs
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._counter = itertools.count(1)

    def new_commit(self, repo: Repo, message: str, files: dict[str, Blob]) -> str:
        seed = f"{repo.repo_type}/{repo.repo_id}/{next(self._counter)}/{message}"
        oid = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits.append((oid, message, files))
        return oid

    def commit_count(self, repo_type: str, repo_id: str) -> int:
        with self.lock:
            return len(self.repos[(repo_type, repo_id)].commits)


class HttpError(Exception):
    """An error response: status, Hub error code, message."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}
        self.extra = extra or {}


class Handler(BaseHTTPRequestHandler):
    """Routes each request to a method of this class."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    state: HubState  # set on the subclass made by HubServer
    base_url: str

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self.state.lock:
            self.state.requests.append((method, path))
        body = self._read_body() if method in ("POST", "PUT") else b""
        head = method == "HEAD"
        try:
            for pattern, verb, handler in ROUTES:
                match = re.fullmatch(pattern, path)
                if match and verb in (method, "GET" if method == "HEAD" else None):
                    with self.state.lock:
                        result = handler(self, body=body, query=query, **match.groupdict())
                    self._send(*result, head=head)
                    return
            raise HttpError(404, f"no route for {method} {path}")
        except HttpError as err:
            headers = {**err.headers, "X-Error-Message": str(err)}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, {"error": str(err), **err.extra}, headers, head)
        except Exception as err:  # a bug here: fail fast (no retries) and keep it for the test
            with self.state.lock:
                self.state.errors.append(f"{method} {path}: {err!r}")
            self._send(400, {"error": f"fake hub bug: {err!r}"}, head=head)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload, headers: dict | None = None, head: bool = False):
        if isinstance(payload, bytes):
            data, content_type = payload, "application/octet-stream"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _auth(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            raise HttpError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.state.repos.get((repo_type, repo_id))
        if repo is None:
            raise HttpError(404, "Repository not found", "RepoNotFound")
        return repo

    def _snapshot(self, repo: Repo, revision: str) -> tuple[str, dict[str, Blob]]:
        snap = repo.snapshot(unquote(revision))
        if snap is None:
            raise HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return snap

    # -- API ------------------------------------------------------------------------------------

    def whoami(self, **_):
        self._auth()
        return 200, {"type": "user", "name": self.state.user,
                     "orgs": [{"name": org, "type": "org"} for org in self.state.orgs],
                     "auth": {"type": "access_token", "accessToken": {"role": "write"}}}

    def create_repo(self, body, **_):
        self._auth()
        payload = json.loads(body)
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or self.state.user
        if namespace not in (self.state.user, *self.state.orgs):
            raise HttpError(403, f"You don't have the rights to create a repo under {namespace}")
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.base_url}/{PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.state.repos:
            raise HttpError(409, "You already created this repo", extra={"url": url})
        if repo_type == "space" and payload.get("sdk") not in ("gradio", "docker", "static",
                                                                 "streamlit"):
            raise HttpError(400, "sdk is required for Spaces")
        repo = Repo(repo_type, repo_id, payload.get("sdk"))
        self.state.new_commit(repo, "initial commit",
                              {".gitattributes": Blob(GITATTRIBUTES, lfs=False)})
        self.state.repos[(repo_type, repo_id)] = repo
        return 200, {"url": url, "name": repo_id}

    def validate_yaml(self, body, **_):
        content = json.loads(body)["content"]
        match = re.match(r"^---\n(.*?)\n---", content, re.S)
        try:
            yaml.safe_load(match.group(1) if match else "")
        except yaml.YAMLError as err:
            return 400, {"errors": [{"message": str(err)}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def repo_info(self, plural, repo_id, revision, **_):
        repo = self._repo(TYPE_FROM_PLURAL[plural], repo_id)
        sha, files = self._snapshot(repo, revision or "main")
        siblings = []
        for path, blob in sorted(files.items()):
            sibling = {"rfilename": path, "size": len(blob.data), "blobId": blob.oid}
            if blob.lfs:
                sibling["lfs"] = {"sha256": blob.sha256, "size": len(blob.data),
                                  "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        info = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id,
                "author": repo_id.split("/")[0], "sha": sha, "private": False, "gated": False,
                "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                "lastModified": "2024-01-01T00:00:00.000Z",
                "createdAt": "2024-01-01T00:00:00.000Z", "siblings": siblings}
        if repo.repo_type == "space":
            info.update(sdk=repo.sdk, runtime={"stage": "BUILDING", "hardware": {}})
        return 200, info

    def tree(self, plural, repo_id, revision, path, query, **_):
        repo = self._repo(TYPE_FROM_PLURAL[plural], repo_id)
        _, files = self._snapshot(repo, revision)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        path = (path or "").strip("/")
        prefix = f"{path}/" if path else ""
        entries, folders = [], set()
        for file_path, blob in sorted(files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                if recursive or depth == 1:
                    folders.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                entries.append(blob.entry(file_path))
        if prefix and not entries and not folders:
            raise HttpError(404, f"{path} does not exist", "EntryNotFound")
        entries += [{"type": "directory", "oid": git_blob_sha1(p.encode()), "size": 0,
                     "path": p} for p in sorted(folders)]
        return 200, entries

    def paths_info(self, plural, repo_id, revision, body, **_):
        repo = self._repo(TYPE_FROM_PLURAL[plural], repo_id)
        _, files = self._snapshot(repo, revision)
        form = parse_qs(body.decode())
        entries = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in files:
                entries.append(files[path].entry(path))
            elif any(p.startswith(path + "/") for p in files):
                entries.append({"type": "directory", "oid": git_blob_sha1(path.encode()),
                                "size": 0, "path": path})
        return 200, entries

    def preupload(self, plural, repo_id, revision, body, **_):
        self._auth()
        repo = self._repo(TYPE_FROM_PLURAL[plural], repo_id)
        _, files = self._snapshot(repo, revision)
        result = []
        for item in json.loads(body)["files"]:
            lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] > LFS_THRESHOLD
            remote = files.get(item["path"])
            oid = None
            if remote is not None:
                oid = remote.sha256 if remote.lfs else remote.oid
            result.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                           "shouldIgnore": False, "oid": oid})
        return 200, {"files": result, "commitOid": repo.sha}

    def lfs_batch(self, prefix, repo_id, body, **_):
        self._auth()
        self._repo({"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix or ""],
                   repo_id)
        objects = []
        for obj in json.loads(body)["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs_objects:
                href = f"{self.base_url}/_lfs/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href},
                                    "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def lfs_put(self, oid, body, **_):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HttpError(400, "content does not match oid")
        self.state.lfs_objects[oid] = body
        return 200, {}

    def lfs_verify(self, oid, body, **_):
        self._auth()
        if oid not in self.state.lfs_objects:
            raise HttpError(404, "object not uploaded")
        return 200, {}

    def commit(self, plural, repo_id, revision, body, **_):
        self._auth()
        repo = self._repo(TYPE_FROM_PLURAL[plural], repo_id)
        _, files = self._snapshot(repo, revision)
        files = dict(files)
        message = "commit"
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value["summary"]
            elif key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.state.lfs_objects.get(value["oid"])
                if data is None:
                    raise HttpError(400, f"LFS object {value['oid']} was not uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(prefix)}
            else:
                raise HttpError(400, f"unknown commit operation {key}")
        oid = self.state.new_commit(repo, message, files)
        url = f"{self.base_url}/{PREFIX[repo.repo_type]}{repo_id}/commit/{oid}"
        return 200, {"success": True, "commitOid": oid, "commitUrl": url,
                     "pullRequestUrl": None}

    def resolve(self, prefix, repo_id, revision, path, **_):
        repo = self._repo({"": "model", "datasets/": "dataset", "spaces/": "space"}[prefix or ""],
                          repo_id)
        sha, files = self._snapshot(repo, revision)
        blob = files.get(path)
        if blob is None:
            raise HttpError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        headers = {"X-Repo-Commit": sha, "ETag": f'"{blob.oid}"', "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"',
                            "X-Linked-Size": str(len(blob.data)),
                            "ETag": f'"{blob.sha256}"'})
        data, status = blob.data, 200
        ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if ranged and data:
            start_text, end_text = ranged.groups()
            if start_text:
                start = int(start_text)
                end = min(int(end_text), len(data) - 1) if end_text else len(data) - 1
            else:
                start, end = max(len(data) - int(end_text), 0), len(data) - 1
            if start >= len(data):
                raise HttpError(416, "range not satisfiable",
                                headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        return status, data, headers


REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
ROUTES = [
    (r"/api/whoami-v2", "GET", Handler.whoami),
    (r"/api/repos/create", "POST", Handler.create_repo),
    (r"/api/validate-yaml", "POST", Handler.validate_yaml),
    (rf"/api/(?P<plural>models|datasets|spaces)/{REPO}(?:/revision/(?P<revision>[^/]+))?",
     "GET", Handler.repo_info),
    (rf"/api/(?P<plural>models|datasets|spaces)/{REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?",
     "GET", Handler.tree),
    (rf"/api/(?P<plural>models|datasets|spaces)/{REPO}/paths-info/(?P<revision>[^/]+)",
     "POST", Handler.paths_info),
    (rf"/api/(?P<plural>models|datasets|spaces)/{REPO}/preupload/(?P<revision>[^/]+)",
     "POST", Handler.preupload),
    (rf"/api/(?P<plural>models|datasets|spaces)/{REPO}/commit/(?P<revision>[^/]+)",
     "POST", Handler.commit),
    (rf"/(?P<prefix>datasets/|spaces/)?{REPO}\.git/info/lfs/objects/batch", "POST",
     Handler.lfs_batch),
    (r"/_lfs/(?P<oid>[0-9a-f]{64})", "PUT", Handler.lfs_put),
    (r"/_lfs/(?P<oid>[0-9a-f]{64})/verify", "POST", Handler.lfs_verify),
    (rf"/(?P<prefix>datasets/|spaces/)?{REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", "GET",
     Handler.resolve),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients closing kept-alive connections is normal; other errors are printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HubServer:
    """Run the fake Hub on 127.0.0.1 in a background thread (a context manager)."""

    def __init__(self, token: str = "hf_test_token", user: str = "tester",
                 orgs: tuple[str, ...] = ("gener-org",), lifetime: float = 600):
        self.state = HubState(token, user, orgs)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        handler.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def start(self) -> HubServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self.state.lock:
            return list(self.state.requests)

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        with self.state.lock:
            return self.state.repos[(repo_type, repo_id)]
