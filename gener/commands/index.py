"""``gener index build|info``: build (or rebuild) and describe the corpus's phrase index."""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    from gener.commands.options import add_corpus_options

    parser = subparsers.add_parser(
        "index", help="build or describe the phrase index of a corpus",
        description="`build` makes the phrase index if it is absent or stale (--rebuild: "
                    "always); `info` prints its manifest. Indexes are cached under "
                    "$GENER_CACHE or ~/.cache/gener. With --shards N, or under `accelerate "
                    "launch -m gener index build`, the corpus is streamed and cut into N "
                    "shards (default: one per process) that are built by the launched "
                    "processes and kept until they are merged into one index, so that an "
                    "interrupted build resumes.")
    parser.add_argument("action", choices=["build", "info"])
    add_corpus_options(parser)
    parser.add_argument("--encoder", default="minilm",
                        help="encoder name, model folder, Hub id, or DensePhrases checkpoint")
    parser.add_argument("--cache-dir", default=None, help="index cache folder")
    parser.add_argument("--index-type", "--index", default="flat",
                        help="FAISS index: flat (exact inner product, default) or ivfpq "
                             "(inverted lists + product quantization, about 60 bytes a phrase)")
    parser.add_argument("--shards", type=int, default=None,
                        help="build in this many shards, resumably (see above)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if current")
    parser.set_defaults(run=run)


def open_index_corpus(args):
    """The corpus of the arguments; a local file with --streaming is read through datasets."""
    from pathlib import Path

    from gener.commands.options import open_corpus_from_args
    from gener.retrieval.sharding import DatasetsStreamCorpus

    if args.streaming and args.corpus and Path(args.corpus).is_file():
        return DatasetsStreamCorpus(args.corpus, args.text_field)
    return open_corpus_from_args(args)


def run(args) -> int:
    from gener.errors import GenerError
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.index import ensure_index, open_index
    from gener.retrieval.index_format import INDEX_TYPES, IndexSettings, index_dir, read_manifest
    from gener.retrieval.sharding import distributed_state

    if args.index_type not in INDEX_TYPES:
        raise GenerError(f"unknown index type {args.index_type!r} "
                         f"(known: {', '.join(INDEX_TYPES)})")
    if args.shards is not None and args.shards < 1:
        raise GenerError(f"--shards must be at least 1 (got {args.shards})")
    corpus = open_index_corpus(args)
    settings = IndexSettings(index_type=args.index_type)
    progress = sys.stderr.isatty()
    if args.action == "build" and (args.shards is not None or distributed_state()):
        state = distributed_state()
        device = str(state.device) if state and state.device.type == "cuda" else None
        encoder = load_encoder(args.encoder, device)
        path, manifest = ensure_index(corpus, encoder, args.cache_dir, settings, progress,
                                      args.rebuild, args.shards, state)
        if manifest is None or (state and not state.is_main_process):
            return 0  # the main process prints the manifest
    elif args.action == "build":
        encoder = load_encoder(args.encoder)
        index = open_index(corpus, encoder, args.cache_dir, settings, progress=progress,
                           rebuild=args.rebuild)
        path, manifest = index.path, index.manifest
    else:
        encoder = load_encoder(args.encoder)
        path = index_dir(corpus, encoder, settings, args.cache_dir)
        if not path.exists():
            raise GenerError(f"no phrase index for {corpus.name} with encoder {args.encoder!r} "
                             f"(run `gener index build`)")
        manifest = read_manifest(path)
        if manifest["fingerprint"] != corpus.fingerprint():
            manifest = {**manifest, "stale": True}
    print(json.dumps({"path": str(path), **manifest}, indent=1, ensure_ascii=False))
    return 0
