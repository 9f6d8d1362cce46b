"""Where the tests find the repository's own files (never the current directory)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
