"""CLI verbs. Each module defines ``add_parser(subparsers)`` and ``run(args) -> int``.

Modules here must import only light things at top level: heavy libraries (torch,
transformers, datasets, faiss) are imported inside ``run`` so that ``gener --help`` and
fast verbs such as ``gener match`` start quickly.
"""

# Verb name -> module name under gener.commands, in the order `gener --help` lists them.
VERBS = {
    "recipes": "recipes",
    "ask": "ask",
    "index": "index",
    "retriever": "retriever",
    "build": "build",
    "match": "match",
    "materialize": "materialize",
    "train": "train",
    "evaluate": "evaluate",
    "tag": "tag",
    "finetune": "finetune",
    "tables": "tables",
    "demo": "demo",
    "publish": "publish",
}
