"""Every fact the code relies on is stated in the repository: no pointer to a guide outside it, and every
"docs/<page>.md, <Section>" pointer names a page and a section that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE = ("rl_rerank", "rewards", "eval", "launch", "configs", "benchmarks", "tests", "README.md", "docs")
POINTER = re.compile(r"docs/([\w-]+\.md)(?:,\s*([A-Z][\w -]*[\w]))?")


def _files():
    for top in TREE:
        path = REPO / top
        for f in [path] if path.is_file() else sorted(path.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".md", ".yaml", ".sh", ".json", ".txt") \
                    and "__pycache__" not in f.parts:
                yield f


def test_no_pointer_to_a_guide_outside_the_repository():
    hits = [f"{f.relative_to(REPO)}:{i}" for f in _files() if f.name != "test_docs.py"
            for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1) if "GUIDE" in line]
    assert hits == []


def test_doc_pointers_name_existing_sections():
    pointers = [(f, m.group(1), m.group(2)) for f in _files() for m in POINTER.finditer(f.read_text(errors="replace"))]
    assert len(pointers) >= 4  # the code does point here (policy, benchmarks, reward tests, README)
    for f, page, section in pointers:
        doc = REPO / "docs" / page
        assert doc.is_file(), f"{f.relative_to(REPO)}: no docs/{page}"
        if section:
            headings = {h.strip() for h in re.findall(r"^#+ (.+)$", doc.read_text(), re.M)}
            assert section in headings, f"{f.relative_to(REPO)}: docs/{page} has no section {section!r}"
