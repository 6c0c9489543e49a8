"""``gener retriever train``: fine-tune the ``gener-retriever`` encoder."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "retriever", help="train the gener-retriever encoder from the corpus",
        description="Fine-tune MiniLM's question and phrase encoders on the default "
                    "corpus, using article descriptions as supervision ('Infectious disease "
                    "caused by ...' makes the title an answer to 'Which disease?'). Articles "
                    "of every shipped recipe's types are left out, and some types are held "
                    "out as a dev set. Use the result with `--encoder gener-retriever`.")
    parser.add_argument("action", choices=["train"])
    parser.add_argument("--out", default=None,
                        help="model folder to write (default: $GENER_CACHE/models/"
                             "gener-retriever, where `--encoder gener-retriever` looks)")
    parser.add_argument("--cache-dir", default=None,
                        help="index cache (default: $GENER_CACHE or ~/.cache/gener)")
    parser.add_argument("--towers", choices=["both", "question"], default="both",
                        help="fine-tune question and phrase encoders (both, default; the "
                             "result has its own index) or the question encoder only")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--temperature", type=float, default=None, help="softmax temperature")
    parser.add_argument("--seed", type=int, default=None)
    parser.set_defaults(run=run)


def run(args) -> int:
    from gener.corpus import WikiVitalCorpus
    from gener.errors import GenerError
    from gener.retrieval.encoders import DEFAULT_ENCODER, retriever_dir
    from gener.retrieval.search import open_searcher
    from gener.retrieval.training import TrainSettings, train_retriever

    settings = TrainSettings(towers=args.towers)
    for name in ("epochs", "batch_size", "lr", "temperature", "seed"):
        value = getattr(args, name)
        if value is not None:
            if name != "seed" and value <= 0:
                raise GenerError(f"--{name.replace('_', '-')} must be positive")
            setattr(settings, name, value)
    corpus = WikiVitalCorpus()
    progress = sys.stderr.isatty()
    searcher = open_searcher(corpus, DEFAULT_ENCODER, args.cache_dir, progress=progress)
    train_retriever(args.out or retriever_dir(), searcher, corpus, settings,
                    cache_dir=args.cache_dir, progress=progress,
                    log=lambda line: print(line, file=sys.stderr))
    return 0
