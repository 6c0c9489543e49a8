"""Run the gener CLI in a fresh interpreter and report which heavy modules it imported."""

import os
import subprocess
import sys

LOADED = "LOADED "


def run_cli(args: list[str], modules: tuple[str, ...]) -> tuple[subprocess.CompletedProcess, list]:
    """``gener ARGS`` in a subprocess (offline); returns it and the ``modules`` it imported."""
    code = ("import sys; from gener.cli import main; "
            f"status = main({args!r}); "
            f"print({LOADED!r} + repr(sorted(m for m in {modules!r} if m in sys.modules))); "
            "sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in done.stdout.splitlines() if line.startswith(LOADED)]
    loaded = eval(lines[-1][len(LOADED):]) if lines else None  # noqa: S307 - our own repr
    return done, loaded
