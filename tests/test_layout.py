"""README.md's layout table names every top-level folder of the tree, and nothing that is not there (issue 18)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracked_top_folders() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {f.split("/", 1)[0] for f in files if "/" in f and not f.startswith(".")}


def test_readme_layout_matches_the_tree() -> None:
    text = (ROOT / "README.md").read_text()
    table = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([^`]+)/` \|", table, flags=re.MULTILINE))
    assert named, "no layout table under ## Layout"
    for folder in named:
        assert (ROOT / folder).is_dir(), f"README names {folder}/, which is not in the tree"
    missing = tracked_top_folders() - {n.split("/", 1)[0] for n in named}
    assert not missing, f"top-level folders the README layout does not name: {sorted(missing)}"


def test_every_top_folder_with_a_readme_is_linked() -> None:
    table = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    for readme in sorted(ROOT.glob("*/README.md")):
        if readme.parent.name in tracked_top_folders():
            assert f"]({readme.parent.name}/README.md)" in table, f"README's layout does not link {readme}"
