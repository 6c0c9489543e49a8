"""Matching in forked processes: chunks of sentences, and a retrieval folder read in halves.

Each child sends its result to the parent through a pipe (or writes its lines into the
output file); when a child fails, its part is redone in the parent, so the output never
depends on the number of processes.
"""

from __future__ import annotations

import os
import sys
from itertools import accumulate
from pathlib import Path

from gener.dictionary import PseudoDictionary
from gener.errors import GenerError
from gener.matching.dictionary import Group, phrase_counts
from gener.matching.engine import Matcher, merged_stats
from gener.matching.records import MatchResult, Records

# Sentences per forked worker below which forking does not pay off.
MIN_SENTENCES_PER_WORKER = 2000


def worker_count(workers: int | None, sentences: int) -> int:
    """How many processes to match ``sentences`` in (``workers``; None: by CPUs and size)."""
    if not hasattr(os, "fork"):
        return 1
    if workers is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count() or 1
        workers = min(cpus, 4, sentences // MIN_SENTENCES_PER_WORKER)
    return max(1, min(workers, sentences))


def run_chunks(matcher: Matcher, items: list, bounds: list[int], progress: bool) -> list:
    """``matcher.chunk`` of each ``bounds`` range: the first here, the others in forked
    processes (a failed child's chunk is redone here)."""
    bar = progress_bar(len(items), progress)
    children = []
    try:
        for a, b in zip(bounds[1:-1], bounds[2:], strict=True):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: match, send the result, leave without any cleanup
                code = 1
                try:
                    os.close(r)
                    with os.fdopen(w, "wb") as pipe:
                        _send_chunk(pipe, *matcher.chunk(items[a:b], range(a, b), [b - a]))
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, os.fdopen(r, "rb"), a, b))
        results = [matcher.chunk(items[:bounds[1]], range(bounds[1]), [bounds[1]])]
        if bar is not None:
            bar.update(bounds[1])
        for pid, pipe, a, b in children:
            data = pipe.read()
            pipe.close()
            _, status = os.waitpid(pid, 0)
            received = _received_chunk(data) if status == 0 else None
            results.append(received or matcher.chunk(items[a:b], range(a, b), [b - a]))
            if bar is not None:
                bar.update(b - a)
    finally:
        for pid, pipe, _, _ in children:
            if not pipe.closed:
                pipe.close()
                os.waitpid(pid, 0)
        if bar is not None:
            bar.close()
    return results


# The parent's share of the sentences in annotate_folder: the parent merges the dictionary,
# the child waits for it and writes it, which about evens out (measured at 1k-70k phrases).
PARENT_SHARE = 0.5


def annotate_halves(files, numbered, subquestions, labels, seed, deterministic, progress,
                    jsonl: Path | None, dictionary_json, normalize: bool = True,
                    retrieved_tokens: str = "aligned") -> MatchResult | None:
    """The two-process part of :func:`gener.matching.annotate_folder` (None: do it
    sequentially); ``normalize``: rules 1-7 on the phrases, else taken as they are;
    ``retrieved_tokens``: see :func:`gener.matching.match`."""
    import marshal

    from gener.artifacts import SubquestionRetrieval
    from gener.interop import parse_lines

    order = {label: i for i, label in enumerate(labels)}
    total = sum(map(len, numbered))
    cut = min(max(1, round(total * PARENT_SHARE)), total - 1)
    firsts = list(accumulate(map(len, numbered), initial=0))[:-1]

    def side(child: bool):
        """This side's dictionary additions (one list per subquestion), items, record ids."""
        adds, items, ids = [], [], []
        for sq, path, lines, first in zip(subquestions, files, numbered, firsts, strict=True):
            h = min(max(cut - first, 0), len(lines))
            a, b = (h, len(lines)) if child else (0, h)
            if a == b:
                adds.append([])
                continue
            retrieval = SubquestionRetrieval(sq, parse_lines(path, lines[a:b]))
            counts, parts, keys = phrase_counts(retrieval, normalize)
            group = Group(sq, order.get(sq.label, -1), parts, keys)
            adds.append(counts)
            items += [(group, sent) for sent in retrieval.sentences]
            ids += range(first + a, first + b)
        return adds, items, ids

    fd = tmp = None
    if jsonl is not None:  # both sides write into one temporary file, renamed when complete
        import tempfile

        jsonl.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=jsonl.parent, prefix=f".{jsonl.name}.")
    down_r, down_w = os.pipe()  # parent -> child: its additions, then where to write
    up_r, up_w = os.pipe()  # child -> parent: its additions, then its lines or their size
    pid = os.fork()
    if pid == 0:  # child: leaves without any cleanup
        code = 1
        try:
            os.close(down_w)
            os.close(up_r)
            with os.fdopen(up_w, "wb") as up, os.fdopen(down_r, "rb") as down:
                adds, items, ids = side(True)
                _send(up, marshal.dumps(adds))
                theirs = _receive(down)
                dictionary = None if theirs is None else _merged(
                    labels, subquestions, marshal.loads(theirs), adds)
                if dictionary is not None and dictionary.counts:
                    if dictionary_json is not None:
                        dictionary.save(dictionary_json)
                    matcher = Matcher(dictionary, seed, deterministic, None,
                                      retrieved_tokens=retrieved_tokens)
                    texts, stats = matcher.chunk(items, ids, [len(items)])
                    if fd is None:
                        _send_chunk(up, texts, stats)
                        code = 0
                    else:
                        data = texts[0].encode("utf-8")
                        at = _receive(down)
                        if at is not None:
                            at = int.from_bytes(at, "little")
                            _pwrite(fd, data, at)
                            _pwrite(fd, b"\n", at + len(data))
                            _send(up, marshal.dumps(stats))
                            code = 0
        finally:
            os._exit(code)
    os.close(down_r)
    os.close(up_w)
    up, down = os.fdopen(up_r, "rb"), os.fdopen(down_w, "wb")
    done, bar = False, None
    try:
        try:
            adds, items, ids = side(False)
        except GenerError:
            return None
        theirs = _receive(up)
        if theirs is None:
            return None
        _send(down, marshal.dumps(adds))  # each side merges both sides' counts
        dictionary = _merged(labels, subquestions, adds, marshal.loads(theirs))
        if not dictionary.counts:
            return None
        matcher = Matcher(dictionary, seed, deterministic, None,
                          retrieved_tokens=retrieved_tokens)
        bar = progress_bar(total, progress)
        texts, stats = matcher.chunk(items, ids, [len(items)])
        del items
        if bar is not None:
            bar.update(len(ids))
        if fd is None:
            down.close()
            received = _received_chunk(up.read())
            if received is None:
                return None
            other_texts, other_stats = received
            records = Records(texts + other_texts)
        else:
            data = texts[0].encode("utf-8")
            _send(down, (len(data) + 1).to_bytes(8, "little"))
            down.close()
            _pwrite(fd, data, 0)
            _pwrite(fd, b"\n", len(data))
            del data, texts
            received = _receive(up)
            if received is None:
                return None
            other_stats = marshal.loads(received)
            os.close(fd)
            fd = None
            os.chmod(tmp, 0o644)
            os.replace(tmp, jsonl)
            records = Records(path=jsonl)
        if bar is not None:
            bar.update(total - len(ids))
        done = True
    except GenerError:
        return None
    finally:
        if bar is not None:
            bar.close()
        up.close()
        if not down.closed:
            down.close()
        os.waitpid(pid, 0)
        if fd is not None:
            os.close(fd)
        if tmp is not None and not done:
            Path(tmp).unlink(missing_ok=True)
    return MatchResult(records, dictionary, merged_stats(dictionary, [stats, other_stats]))


def _merged(labels, subquestions, first, second) -> PseudoDictionary:
    """The dictionary of two sides' additions (one list per subquestion), ``first`` first."""
    dictionary = PseudoDictionary(labels)
    for side in (first, second):
        for sq, add in zip(subquestions, side, strict=True):
            dictionary.add_keys(add, sq.label)
    return dictionary


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        offset += n
        view = view[n:]


def _send(pipe, data: bytes) -> None:
    pipe.write(len(data).to_bytes(8, "little"))
    pipe.write(data)
    pipe.flush()


def _receive(pipe) -> bytes | None:
    head = pipe.read(8)
    if len(head) < 8:
        return None
    data = pipe.read(int.from_bytes(head, "little"))
    return data if len(data) == int.from_bytes(head, "little") else None


def _send_chunk(pipe, texts: list[str], stats: dict) -> None:
    """Write a chunk's result: marshalled (stats, text sizes), then the UTF-8 texts."""
    import marshal

    blobs = [text.encode("utf-8") for text in texts]
    head = marshal.dumps((stats, [len(b) for b in blobs]))
    pipe.write(len(head).to_bytes(8, "little") + head)
    for blob in blobs:
        pipe.write(blob)


def _received_chunk(data: bytes) -> tuple[list[bytes], dict] | None:
    """The ``(texts, stats)`` written by :func:`_send_chunk` (None if incomplete)."""
    import marshal

    if len(data) < 8:
        return None
    size = int.from_bytes(data[:8], "little")
    stats, sizes = marshal.loads(data[8:8 + size])
    pos, texts = 8 + size, []
    for n in sizes:
        texts.append(data[pos:pos + n])
        pos += n
    return (texts, stats) if pos == len(data) else None


def progress_bar(total: int, progress: bool):
    """A tqdm bar on a terminal when ``progress`` (None otherwise)."""
    if not progress or not total or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="matching", unit="sent")
