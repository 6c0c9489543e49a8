"""Bad inputs a new user tries: each command's exit code, last message line and leftovers.

Every case runs the installed ``gener`` in a fresh scratch folder (tiny corpus, tiny model
trained by the test helpers) and prints one Markdown table row: the command, the exit code,
the last line on stderr, and the files it left where it was told to write. A case passes
when the exit code is not 0 (or 0 for a closed pipe), the message is one line without a
traceback, and nothing partial is left.

    python bench/bad_inputs.py
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GENER = str(Path(sys.executable).with_name("gener"))
DOCS = ["Tuberculosis is an infectious disease caused by bacteria.",
        "Malaria is a mosquito-borne disease that affects humans.",
        "France is a country in Western Europe. Its capital is Paris."]


def leftovers(path: Path | None) -> str:
    """Files written under ``path``, apart from the build's work folder (kept so that a
    build resumes)."""
    if path is None or not path.exists():
        return "none"
    files = ([p for p in path.rglob("*") if p.is_file() and ".gener-work" not in p.parts]
             if path.is_dir() else [path])
    work = " (work folder kept for resuming)" if (path / ".gener-work").is_dir() else ""
    return ("none" if not files else f"{len(files)} files") + work


def run(argv: list[str], cwd: Path, pipe_to_head: bool = False, interrupt_after: float = 0,
        ) -> tuple[int, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GENER_CACHE=str(cwd / "cache"))
    if pipe_to_head:
        command = " ".join(shlex.quote(a) for a in argv) + " | head -1"
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env,
                              capture_output=True, text=True)
        return done.returncode, done.stderr
    if interrupt_after:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(interrupt_after)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
        return process.returncode, err
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    return done.returncode, done.stderr


def main() -> int:
    from tests.tiny_models import save_tiny_bert

    rows = ["| input | command | exit | message (last line on stderr) | leftovers |",
            "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "docs.txt").write_text("\n".join(DOCS) + "\n", encoding="utf-8")
        (root / "docs.jsonl").write_text(json.dumps({"body": DOCS[0]}) + "\n")
        readonly = Path("/sys/gener-bad-input")  # a read-only file system, even for root
        (root / "notes").mkdir()
        (root / "notes" / "todo.txt").write_text("x\n")
        model = save_tiny_bert(root / "tiny")
        corpus = ["--corpus", str(root / "docs.txt")]
        cases = [
            ("closed pipe", [GENER, "ask", "Which disease?", *corpus, "--json"], None,
             {"pipe_to_head": True}),
            ("read-only --out", [GENER, "build", "--question", "Which disease?", *corpus,
                                 "--out", str(readonly / "out")], readonly / "out", {}),
            ("punctuation-only question", [GENER, "build", "--question", "?!?!", *corpus,
                                           "--out", str(root / "q")], root / "q", {}),
            ("JSONL corpus without the text field",
             [GENER, "build", "--question", "Which disease?", "--corpus",
              str(root / "docs.jsonl"), "--out", str(root / "j")], root / "j", {}),
            ("--out holds other files", [GENER, "build", "--question", "Which disease?",
                                         *corpus, "--out", str(root / "notes")], None, {}),
            ("corpus without confident answers",
             [GENER, "build", "--question", "Which disease?", *corpus, "--out",
              str(root / "c")], root / "c", {}),
            ("evaluate a folder that is no model",
             [GENER, "evaluate", str(root / "notes"), "--data", str(root / "docs.txt")],
             None, {}),
            ("evaluate on a missing data file",
             [GENER, "evaluate", model, "--data", str(root / "missing.conll")], None, {}),
            ("unknown benchmark", [GENER, "evaluate", model, "--benchmark", "my.conll"],
             None, {}),
            ("tag a missing input", [GENER, "tag", model, str(root / "missing.txt"),
                                     "--out", str(root / "tags.jsonl")],
             root / "tags.jsonl", {}),
            ("tag into a read-only folder", [GENER, "tag", model, str(root / "docs.txt"),
                                             "--out", str(readonly / "t.jsonl")],
             readonly / "t.jsonl", {}),
            ("unknown policy field", [GENER, "build", "--question", "Which disease?",
                                      *corpus, "--set", "colour=red", "--out",
                                      str(root / "p")], root / "p", {}),
            ("publish with nothing built", [GENER, "publish", "--datasets"], None, {}),
            ("Ctrl-C during a build", [GENER, "build", "--question", "Which disease?",
                                       "--out", str(root / "i")], root / "i",
             {"interrupt_after": 8}),
        ]
        for name, argv, out, options in cases:
            code, err = run(argv, root, **options)
            lines = [line for line in err.splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            traceback = "Traceback" in err
            shown = " ".join(shlex.quote(a) for a in argv[1:]).replace(str(root), ".")
            shown = shown.replace(model, "MODEL")
            last = last.replace(str(root), ".").replace(model, "MODEL").replace("|", "\\|")
            left = leftovers(out) if out is not None and out.name != "notes" else "none new"
            rows.append(f"| {name} | `gener {shown}` | {code} | "
                        f"{'TRACEBACK ' if traceback else ''}{last[:160]} | {left} |")
            print(rows[-1], flush=True)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
