"""``verifix demo``'s bundle: a tiny repository with a real bug, its issue, and a scripted
model that answers like an LLM would."""

from pathlib import Path

EXAMPLE_DIR = Path(__file__).parent
REPO_DIR = EXAMPLE_DIR / "repo"
ISSUE = EXAMPLE_DIR / "issue.md"
