"""Publish the dataset folder, trained models and the Space to the Hugging Face Hub.

A publication is a list of targets, one repository each: the dataset folder
written by ``gener materialize`` goes to the dataset repo ``ORG/gener``, each trained model
folder to a model repo ``ORG/gener-<name>``, and the Space folder to the Gradio Space
``ORG/gener``. :func:`plan` builds the targets from local folders only (no network);
:func:`publish` authenticates, creates the repositories when missing and uploads.

The Space gets the source of the ``gener``, ``trainers`` and ``builders`` packages next to
its ``app.py``: a Space installs only its ``requirements.txt`` (which lists gener's
dependencies) before the repository is copied in, so gener itself travels as source.

Re-publishing unchanged files makes no commit: each local file is compared with the remote
tree (sha256 for LFS files, the git blob sha1 for regular files) and a repository whose
files all match is skipped. Remote files that are no longer in the local folder are deleted
(except ``.gitattributes``), so each repository mirrors its folder.

The token comes from ``HF_TOKEN`` or the login cache (``hf auth login``) and is never
printed or logged; a missing or rejected token stops before anything is uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gener import __version__
from gener.dataset import MANIFEST, read_manifests
from gener.errors import GenerError, first_line

DATASET_REPO = "gener"
SPACE_REPO = "gener"
MODEL_PREFIX = "gener-"
ORG_ENV = "GENER_HUB_ORG"
KEEP_REMOTE = {".gitattributes"}
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Folders never uploaded: caches, trainer checkpoints and logs.
SKIP_DIRS = re.compile(r"^(__pycache__|checkpoint-\d+|runs|wandb)$")
PREFIX = {"dataset": "datasets/", "model": "", "space": "spaces/"}
# Packages uploaded with the Space, as source next to app.py.
SPACE_PACKAGES = ("gener", "trainers", "builders")


@dataclass
class Target:
    """One repository to publish: its type, name, local folder, files and commit message."""

    repo_type: str
    name: str
    folder: Path
    files: dict[str, int]  # path in repo -> size in bytes
    message: str
    description: str = ""
    version: str | None = None  # the data version, as named in commit messages
    # Files that do not live under ``folder``: path in repo -> local path.
    sources: dict[str, Path] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(self.files.values())

    def local_path(self, path: str) -> Path:
        """The local file behind repo path ``path``."""
        return self.sources.get(path) or self.folder / path


@dataclass
class Outcome:
    """What publishing one target did."""

    target: Target
    repo_id: str
    url: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commit: str | None = None


# -- the plan (local only) -------------------------------------------------------------------


def local_files(folder: Path) -> dict[str, int]:
    """Files to upload from ``folder`` (posix path -> size), without hidden files and caches."""
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not SKIP_DIRS.match(d))
        for name in sorted(names):
            if not name.startswith(".") and not name.endswith(".pyc"):
                path = Path(root, name)
                files[path.relative_to(folder).as_posix()] = path.stat().st_size
    return files


def dataset_target(folder: str | Path) -> Target:
    """The dataset repo target for a folder written by ``gener materialize``."""
    folder = Path(folder)
    manifests = read_manifests(folder) if folder.is_dir() else {}
    if not manifests or not (folder / "README.md").is_file():
        raise GenerError(f"{folder}: not a gener dataset folder (no README.md and "
                         f"<config>/{MANIFEST}); write one with `gener materialize --out {folder}`")
    versions = [f"{name}@{m.get('version', '?')}" for name, m in manifests.items()]
    summary = shorten(versions)
    return Target("dataset", DATASET_REPO, folder, local_files(folder),
                  f"Publish gener data {summary}", "Data versions:\n" + "\n".join(versions),
                  summary)


def model_target(folder: str | Path) -> Target:
    """The model repo target for a folder written by ``save_pretrained``."""
    folder = Path(folder)
    if not is_model_folder(folder):
        raise GenerError(f"{folder}: not a model folder (needs config.json and "
                         "model.safetensors, as written by save_pretrained)")
    name = re.sub(r"[^\w.-]+", "-", model_name(folder)).strip("-.")
    repo = name if name == "gener" or name.startswith(MODEL_PREFIX) else MODEL_PREFIX + name
    version = model_data_version(folder)
    message = f"Publish model {repo}" + (f" (data {version})" if version else "")
    return Target("model", repo, folder, local_files(folder), message,
                  f"Trained on gener data version {version or 'unknown'}.", version)


def space_target(folder: str | Path, data_version: str | None = None) -> Target:
    """The Gradio Space target for the Space folder."""
    folder = Path(folder)
    if not (folder / "app.py").is_file() or not (folder / "README.md").is_file():
        raise GenerError(f"{folder}: not a Space folder (needs app.py and README.md)")
    message = f"Publish gener Space (gener {__version__}"
    message += f", data {data_version})" if data_version else ")"
    files, sources = local_files(folder), {}
    for package in SPACE_PACKAGES:
        if (folder / package).exists():
            raise GenerError(f"{folder / package}: the Space folder must not hold a {package} "
                             "folder; publish adds the installed package's source there")
        root = package_root(package)
        for path, size in local_files(root).items():
            files[f"{package}/{path}"] = size
            sources[f"{package}/{path}"] = root / path
    return Target("space", SPACE_REPO, folder, files, message, version=data_version,
                  sources=sources)


def package_root(package: str) -> Path:
    """The source folder of an importable package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GenerError(f"the {package} package is not installed; install gener "
                         "(`make setup`) before publishing the Space")
    return Path(list(spec.submodule_search_locations)[0])


def model_name(folder: Path) -> str:
    """A model folder's name: its parent's for a folder called ``model``
    (``artifacts/demo/model`` is ``demo``), else its own."""
    folder = Path(folder)
    return folder.parent.name if folder.name == "model" else folder.name


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a saved transformers model."""
    return (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHTS)


def find_models(*roots: str | Path) -> list[Path]:
    """Every model folder at or under ``roots`` (trainer checkpoints excluded), sorted."""
    found = set()
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        for dirpath, dirs, _ in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and not SKIP_DIRS.match(d)]
            if is_model_folder(Path(dirpath)):
                found.add(Path(dirpath))
                dirs[:] = []
    return sorted(found)


def model_data_version(folder: Path) -> str | None:
    """The data version a model was trained on: ``data_version`` in the model card's YAML,
    else ``version`` in a ``gener.json`` next to the weights; None when neither says."""
    card = folder / "README.md"
    if card.is_file():
        import yaml
        from huggingface_hub import metadata_load

        try:
            version = (metadata_load(card) or {}).get("data_version")
        except yaml.YAMLError as err:
            raise GenerError(f"{card}: the model card's YAML is invalid ({err.problem})") from None
        if version:
            return str(version)
    manifest = folder / MANIFEST
    if manifest.is_file():
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        return str(version) if version else None
    return None


def plan(datasets_dir: str | Path | None = None, model_dirs: Iterable[str | Path] = (),
         space_dir: str | Path | None = None) -> list[Target]:
    """The targets for the given folders, checked and listed; nothing is uploaded."""
    targets = [dataset_target(datasets_dir)] if datasets_dir is not None else []
    models = [model_target(folder) for folder in model_dirs]
    names = [t.name for t in models]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise GenerError(f"two model folders would publish to the same repo: {', '.join(dupes)}")
    targets += models
    if space_dir is not None:
        targets.append(space_target(space_dir, targets[0].version if datasets_dir else None))
    return targets


def shorten(items: list[str], limit: int = 150) -> str:
    """``items`` joined by commas, or as many as fit in ``limit`` characters and "N more"."""
    if len(", ".join(items)) <= limit:
        return ", ".join(items)
    shown = [items[0]]
    while len(", ".join(items[:len(shown) + 1])) <= limit - 12:
        shown.append(items[len(shown)])
    return f"{', '.join(shown)} and {len(items) - len(shown)} more"


def repo_url(endpoint: str, repo_type: str, repo_id: str) -> str:
    """The web address of a repository."""
    return f"{endpoint.rstrip('/')}/{PREFIX[repo_type]}{repo_id}"


def format_size(n: float) -> str:
    """``n`` bytes in a short human unit."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"


def format_plan(targets: list[Target], org: str, endpoint: str) -> str:
    """The plan as text: each repository, its files and sizes, and the commit message."""
    lines = []
    for t in targets:
        repo_id = f"{org}/{t.name}"
        lines.append(f"{t.repo_type} {repo_id}  ({len(t.files)} files, {format_size(t.size)}) "
                     f"<- {t.folder}")
        lines.append(f"  url: {repo_url(endpoint, t.repo_type, repo_id)}")
        lines.append(f"  commit: {t.message}")
        lines += [f"    {format_size(size):>9}  {path}" for path, size in t.files.items()
                  if path not in t.sources]
        for package in sorted({path.split("/")[0] for path in t.sources}):
            paths = [p for p in t.sources if p.split("/")[0] == package]
            size = sum(t.files[p] for p in paths)
            lines.append(f"    {format_size(size):>9}  {package}/  ({len(paths)} files of the "
                         "installed package's source)")
    lines.append("Unchanged repos get no commit; remote files missing from a folder are deleted "
                 "(except .gitattributes).")
    return "\n".join(lines)


# -- authentication --------------------------------------------------------------------------


def resolve_token() -> str:
    """The Hub token from ``HF_TOKEN`` or the login cache; a GenerError when there is none."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise GenerError("no Hugging Face token: set HF_TOKEN or run `hf auth login` "
                         "(a token with write access)")
    return token


def authenticate(api) -> str:
    """The user name behind ``api``'s token; a GenerError if the Hub rejects it."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return api.whoami()["name"]
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else "?"
        if status == 401:
            raise GenerError("the Hugging Face token was rejected (HTTP 401); set a valid "
                             "HF_TOKEN or run `hf auth login`") from None
        raise GenerError(f"could not check the Hugging Face token (HTTP {status})") from None
    except _network_errors() as err:
        raise GenerError(f"cannot reach {api.endpoint}: {type(err).__name__}") from None


def _network_errors() -> tuple[type[Exception], ...]:
    """The exceptions the Hub client raises when it cannot reach the server."""
    try:
        from httpx2 import HTTPError  # huggingface_hub >= 2
    except ImportError:
        from httpx import HTTPError  # huggingface_hub 1.x
    return HTTPError, OSError


# -- publishing -------------------------------------------------------------------------------


def file_matches(path: Path, remote) -> bool:
    """Whether local ``path`` has the content of remote ``RepoFile`` ``remote``."""
    size = path.stat().st_size
    if size != remote.size:
        return False
    if remote.lfs is not None:
        digest, expected = hashlib.sha256(), remote.lfs.sha256
    else:
        digest, expected = hashlib.sha1(b"blob %d\0" % size), remote.blob_id
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == expected


def diff(api, target: Target, repo_id: str) -> tuple[list[str], list[str]]:
    """(local files that differ from or are missing in the repo, remote files not local)."""
    from huggingface_hub import RepoFile

    remote = {entry.path: entry
              for entry in api.list_repo_tree(repo_id, repo_type=target.repo_type, recursive=True)
              if isinstance(entry, RepoFile)}
    changed = [p for p in target.files
               if p not in remote or not file_matches(target.local_path(p), remote[p])]
    stale = sorted(p for p in remote if p not in target.files and p not in KEEP_REMOTE)
    return changed, stale


def publish_target(api, target: Target, org: str) -> Outcome:
    """Create ``target``'s repo if missing and upload what changed; no commit if nothing did."""
    repo_id = f"{org}/{target.name}"
    extra = {"space_sdk": "gradio"} if target.repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=target.repo_type, exist_ok=True, **extra)
    outcome = Outcome(target, repo_id, repo_url(api.endpoint, target.repo_type, repo_id))
    changed, stale = diff(api, target, repo_id)
    if changed or stale:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=target.local_path(p))
                      for p in changed]
        operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(
            repo_id=repo_id, repo_type=target.repo_type, operations=operations,
            commit_message=target.message, commit_description=target.description)
        outcome.uploaded, outcome.deleted, outcome.commit = changed, stale, info.oid
    return outcome


def publish(targets: list[Target], org: str | None = None, api=None,
            echo: Callable[[str], None] = print) -> list[Outcome]:
    """Authenticate, then publish every target, reporting each repository's URL via ``echo``.

    ``org`` defaults to ``$GENER_HUB_ORG``, then to the token's user. A missing or rejected
    token raises GenerError before any repository is created or file uploaded.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    if not targets:
        raise GenerError("nothing to publish")
    if constants.HF_HUB_OFFLINE:
        raise GenerError("the Hub is in offline mode (HF_HUB_OFFLINE=1); "
                         "publish with HF_HUB_OFFLINE=0")
    api = api or HfApi(token=resolve_token(), library_name="gener", library_version=__version__)
    user = authenticate(api)
    org = org or os.environ.get(ORG_ENV) or user
    outcomes = []
    for target in targets:
        try:
            outcome = publish_target(api, target, org)
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else "?"
            reason = getattr(err, "server_message", None) or first_line(err)
            raise GenerError(f"{target.repo_type} {org}/{target.name}: the Hub refused "
                             f"(HTTP {status}): {reason.strip()}") from None
        except _network_errors() as err:
            raise GenerError(f"{target.repo_type} {org}/{target.name}: cannot reach "
                             f"{api.endpoint}: {type(err).__name__}") from None
        except (ValueError, RuntimeError) as err:
            raise GenerError(f"{target.repo_type} {org}/{target.name}: upload failed: "
                             f"{first_line(err)}") from None
        if outcome.commit:
            echo(f"{target.repo_type} {outcome.repo_id}: {len(outcome.uploaded)} files uploaded, "
                 f"{len(outcome.deleted)} deleted (commit {outcome.commit[:8]})")
            for path in outcome.deleted:
                echo(f"  deleted {path}")
        else:
            echo(f"{target.repo_type} {outcome.repo_id}: up to date, no commit")
        echo(f"  {outcome.url}")
        outcomes.append(outcome)
    return outcomes
