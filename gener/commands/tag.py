"""``gener tag MODEL [INPUT ...]``: tag text files, JSON lines or stdin with a saved model."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from gener.commands.options import positive_int
from gener.errors import GenerError
from gener.models import PRECISIONS

JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Lines tagged together: their windows are sorted by length and batched across lines.
CHUNK_LINES = 512


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "tag", help="tag text files or stdin with a trained model",
        description="Tag each input line (one document per line; any length: long lines are "
                    "tagged in sliding windows) with a model folder written by `gener train`, "
                    "with the same predictions as trainers.inference.Tagger and the Space. "
                    "Writes one JSON object per input line (the text, or the input record, "
                    "with its entities: label, text, start, end, score), or CoNLL "
                    "(word<TAB>tag, a blank line after each document).")
    parser.add_argument("model", help="model folder written by `gener train`")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="text files (one document per line) or .jsonl files; none or '-' "
                             "reads stdin")
    parser.add_argument("--text-field", default=None,
                        help="read every input as JSON lines with the text in this field "
                             "(default: .jsonl/.ndjson files, field 'text')")
    parser.add_argument("--format", choices=("jsonl", "conll"), default="jsonl",
                        help="output format (default: jsonl)")
    parser.add_argument("--out", default=None,
                        help="output file, written only when every input is tagged "
                             "(default: stdout)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="windows per forward pass (default: 64)")
    parser.add_argument("--max-length", type=positive_int, default=256,
                        help="window length in sub-tokens (default: 256)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: run the model under bf16 autocast, about twice as fast on "
                             "CPUs with AVX512-BF16 or AMX (slower on others), with a word's "
                             "label differing from fp32's on about 1%% of sentences "
                             "(default: fp32, the model's own predictions)")
    parser.set_defaults(run=run)


def _field(args, path: str) -> str | None:
    """The JSON field holding the text of ``path``, or None for plain text."""
    if args.text_field:
        return args.text_field
    return "text" if Path(path).suffix in JSONL_SUFFIXES else None


def _check_inputs(args) -> list[str]:
    """The inputs ('-' for stdin), checked before the model loads."""
    inputs = args.inputs or ["-"]
    if inputs.count("-") > 1:
        raise GenerError("stdin ('-') given more than once")
    for path in inputs:
        if path == "-":
            continue
        if not Path(path).is_file():
            raise GenerError(f"{path}: input file not found")
        field = _field(args, path)
        if field:
            with open(path, encoding="utf-8") as f:
                first = next(((n, line) for n, line in enumerate(f, 1) if line.strip()), None)
            if first is not None:
                _parse(first[1], field, path, first[0])
    if args.out:
        from gener.dataset import check_writable

        if Path(args.out).is_dir():
            raise GenerError(f"--out {args.out}: is a folder")
        check_writable(Path(args.out).absolute().parent)
    return inputs


def _parse(line: str, field: str, name: str, number: int) -> tuple[str, dict]:
    """The text and record of one JSON line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise GenerError(f"{name}:{number}: not valid JSON: {err.msg}") from None
    if not isinstance(record, dict):
        raise GenerError(f"{name}:{number}: not a JSON object")
    if field not in record:
        raise GenerError(f"{name}:{number}: no field {field!r} (fields: "
                         f"{', '.join(map(str, record)) or 'none'}; name one with --text-field)")
    return str(record[field] or ""), record


def _documents(path: str, field: str | None) -> Iterator[tuple[str, dict | None]]:
    """(text, JSON record or None) for each line of an input."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    name = "stdin" if path == "-" else path
    try:
        for number, line in enumerate(stream, 1):
            line = line.rstrip("\n").rstrip("\r")
            if field is None:
                yield line, None
                continue
            if line.strip():
                yield _parse(line, field, name, number)
    except UnicodeDecodeError:
        raise GenerError(f"{name}: not UTF-8 text") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _format(text: str, record: dict | None, entities, fmt: str) -> str:
    if fmt == "jsonl":
        out = dict(record) if record is not None else {"text": text}
        out["entities"] = [e.to_dict() for e in entities]
        return json.dumps(out, ensure_ascii=False) + "\n"
    from trainers.inference import split_words

    words = split_words(text)
    tags = ["O"] * len(words)
    for entity in entities:
        inside = [i for i, (_, start, _) in enumerate(words) if entity.start <= start < entity.end]
        for n, i in enumerate(inside):
            tags[i] = f"{'I' if n else 'B'}-{entity.label}"
    return "".join(f"{w}\t{t}\n" for (w, _, _), t in zip(words, tags, strict=True)) + "\n"


def _line_count(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _progress(inputs: list[str]):
    """A tqdm bar on stderr counting input lines, only for files and a terminal."""
    from tqdm import tqdm

    files = [p for p in inputs if p != "-"]
    enabled = bool(files) and sys.stderr.isatty()
    total = sum(_line_count(p) for p in files) if enabled and len(files) == len(inputs) else None
    return tqdm(total=total, unit=" lines", disable=not enabled, file=sys.stderr)


def run(args) -> int:
    inputs = _check_inputs(args)
    from trainers.inference import Tagger

    tagger = Tagger(args.model, max_length=args.max_length, batch_size=args.batch_size,
                    precision=args.precision)
    if args.precision == "bf16":
        from gener.retrieval.meanpool import native_bf16

        if not native_bf16(tagger.device):
            print(f"warning: this {tagger.device} has no native bf16 (AVX512-BF16 or AMX): "
                  "--precision bf16 will be slower than fp32", file=sys.stderr)
    if args.out:
        from gener.io import atomic_file

        sink = atomic_file(args.out)
    else:
        sink = contextlib.nullcontext(sys.stdout)
    with sink as out, _progress(inputs) as bar:
        for path in inputs:
            for chunk in _chunks(_documents(path, _field(args, path)), CHUNK_LINES):
                texts = [text for text, _ in chunk]
                for (text, record), entities in zip(chunk, tagger.tag_many(texts), strict=True):
                    out.write(_format(text, record, entities, args.format))
                out.flush()
                bar.update(len(chunk))
    return 0
