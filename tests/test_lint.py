"""The whole repository passes `ruff check` (rules in pyproject.toml), so a finding fails the suite, not review."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    assert importlib.util.find_spec("ruff") is not None, "ruff is missing: pip install -e .[test]"
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"ruff check found problems:\n{done.stdout}{done.stderr}"


def test_test_file_names_are_unique():
    """pytest imports test files by their base name (no __init__.py here): two test_x.py in different folders
    stop the whole run at collection, so each name is used once."""
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a name: rename one"
        seen[path.name] = path
