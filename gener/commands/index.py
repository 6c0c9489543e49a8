"""``gener index build|info``: build (or rebuild) and describe the corpus's phrase index."""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "index", help="build or describe the phrase index of a corpus",
        description="`build` makes the phrase index if it is absent or stale (--rebuild: "
                    "always); `info` prints its manifest. Indexes are cached under "
                    "$GENER_CACHE or ~/.cache/gener.")
    parser.add_argument("action", choices=["build", "info"])
    parser.add_argument("--corpus", default=None, help="corpus spec (default: wiki-vital)")
    parser.add_argument("--encoder", default="minilm",
                        help="encoder name, model folder, Hub id, or DensePhrases checkpoint")
    parser.add_argument("--cache-dir", default=None, help="index cache folder")
    parser.add_argument("--index-type", choices=["flat", "ivfpq"], default="flat",
                        help="FAISS index: exact flat inner product (default) or IVF-PQ")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if current")
    parser.set_defaults(run=run)


def run(args) -> int:
    from gener.corpus import open_corpus
    from gener.errors import GenerError
    from gener.retrieval.encoders import load_encoder
    from gener.retrieval.index import IndexSettings, index_dir, open_index, read_manifest

    corpus = open_corpus(args.corpus)
    encoder = load_encoder(args.encoder)
    settings = IndexSettings(index_type=args.index_type)
    if args.action == "build":
        index = open_index(corpus, encoder, args.cache_dir, settings,
                           progress=sys.stderr.isatty(), rebuild=args.rebuild)
        path, manifest = index.path, index.manifest
    else:
        path = index_dir(corpus, encoder, settings, args.cache_dir)
        if not path.exists():
            raise GenerError(f"no phrase index for {corpus.name} with encoder {args.encoder!r} "
                             f"(run `gener index build`)")
        manifest = read_manifest(path)
        if manifest["fingerprint"] != corpus.fingerprint():
            manifest = {**manifest, "stale": True}
    print(json.dumps({"path": str(path), **manifest}, indent=1, ensure_ascii=False))
    return 0
