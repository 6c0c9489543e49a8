"""``gener ask "Which disease?"``: ranked unique phrases with an evidence sentence each."""

from __future__ import annotations

import json
import sys

from gener.errors import GenerError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "ask", help="ask a question such as 'Which disease?' and list the retrieved phrases",
        description="Retrieve phrases for a question from the corpus's phrase index (built on "
                    "first use and cached), normalized with the common rules, best first.")
    parser.add_argument("question", help='e.g. "Which disease?"')
    parser.add_argument("--corpus", default=None, help="corpus spec (default: wiki-vital)")
    parser.add_argument("--top-k", type=int, default=100, help="phrases to list (default 100)")
    parser.add_argument("--encoder", default="minilm",
                        help="encoder name, model folder, Hub id, or DensePhrases checkpoint")
    parser.add_argument("--cache-dir", default=None,
                        help="index cache (default: $GENER_CACHE or ~/.cache/gener)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: phrase, score, type, sentence, ...")
    parser.add_argument("--definition-weight", type=float, default=1.0, metavar="NU",
                        help="weight of the first sentence of the document a phrase names, in "
                             "corpora with titled documents; 0 turns it off (default 1)")
    parser.add_argument("--feedback-phrases", type=int, default=0, metavar="N",
                        help="ask the question again, moved toward the mean vector of its N "
                             "best phrases (default 0: off)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from gener.api import ask
    from gener.recipes import recipe_from_question
    from gener.retrieval.search import check_question

    if args.top_k < 1:
        raise GenerError("--top-k must be at least 1")
    question = check_question(args.question)
    entity_type = recipe_from_question(question).subquestions[0].type
    answers = ask(question, args.corpus, args.top_k, args.encoder, args.cache_dir,
                  args.definition_weight, args.feedback_phrases, progress=sys.stderr.isatty())
    if not args.json:
        print(f"{question}  (type: {entity_type})")
    for n, hit in enumerate(answers, 1):
        if args.json:
            print(json.dumps({"rank": n, "phrase": hit.phrase, "score": round(hit.score, 4),
                              "confidence": hit.confidence,
                              "type": entity_type, "sentence": hit.sentence,
                              "sentence_id": hit.sentence_id, "start": hit.start,
                              "end": hit.end}, ensure_ascii=False))
        else:
            confidence = "" if hit.confidence is None else f"  confidence {hit.confidence:.2f}"
            print(f"{n:4d}  {hit.score:.3f}  {hit.phrase}{confidence}\n      {hit.sentence}")
    return 0
