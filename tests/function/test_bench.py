"""`make bench` cannot break silently: `python -m bench --quick` runs every step with tiny counts, on every
`make test`. Its figures are printed, never asserted (they mean little at these counts); only that it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.__main__ import FIGURES
from local.fnrun import ROOT


def test_every_benchmark_step_runs_in_quick_mode(archives: dict[str, Path]) -> None:
    folder = {path.parent for path in archives.values()}
    assert len(folder) == 1
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--archives", str(folder.pop())], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert all(f"  ({name}: " in result.stdout for name in FIGURES), output[-4000:]
    assert "| PASS |" not in result.stdout and "| MISS |" not in result.stdout  # tiny counts: no verdicts
    assert "no verdicts in quick mode" in result.stdout
