"""A tiny repository with a real bug, and the patch that fixes it, for ``verifix demo``."""

from pathlib import Path

EXAMPLE_DIR = Path(__file__).parent
REPO_DIR = EXAMPLE_DIR / "repo"
FIX_PATCH = EXAMPLE_DIR / "fix.patch"
ISSUE = EXAMPLE_DIR / "issue.md"
