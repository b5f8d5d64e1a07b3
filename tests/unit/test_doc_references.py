"""Every documentation pointer in the repository resolves inside the repository.

A newcomer with only this repository must be able to follow each one. The scan covers every tracked
(or new, not ignored) text file: code, tests, docs, the README. It fails on

* a path to a `.md` file that does not exist (`docs/engine.md`, `deploy/pod/README.md`), or a bare
  upper-case doc name (a design file's) that is neither at the top nor beside the file naming it;
* a cited section with no heading: `docs/engine.md §5` needs a heading numbered 5 in that file, and
  `docs/api.md#jobs` (or a markdown link `[x](api.md#jobs)`) a heading whose anchor is `jobs`;
* a markdown link, or a backticked repository path in a doc, to a file or folder that is not there;
* anything that points outside the repository: the parent folder's `shared` notes, or the names of
  the design files that once lived outside it.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Spelled in pieces so this file does not match its own patterns.
_OUTSIDE_NAMES = ("ENGINE", "DESIGN", "API", "STYLE", "FIELD-NOTES")
FORBIDDEN = re.compile(
    r"\b(?:"
    + "|".join(_OUTSIDE_NAMES)
    + r")\.md\b"
    + "|"
    + re.escape("..")
    + "/shared\\b"
    + "|"
    + re.escape("/work")
    + "/shared\\b"
)
_SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "build",
    "dist",
}
_MAX_BYTES = 2_000_000

# A path with at least one folder, ending in .md, not glued to a longer path or word on its left.
_MD_PATH = re.compile(r"(?<![\w/.<>-])((?:\.{1,2}/)?(?:[\w.-]+/)+[\w.-]+\.md)(#[\w-]+)?")
# A bare upper-case doc name (a design file's, say): a file at the top or beside the file that names it, or nothing.
_BARE_DOC = re.compile(r"(?<![\w/.<>-])([A-Z][A-Z0-9_-]*\.md)\b")
# Section numbers right after a path: "§5", "§2.1", "§3–4", "§2, §5".
_SECTIONS = re.compile(r"^(?:\s*(?:,|and)?\s*§\s*\d+(?:\.\d+)*(?:\s*[–-]\s*\d+(?:\.\d+)*)?)+")
_SECTION_ITEM = re.compile(r"§\s*(\d+(?:\.\d+)*)(?:\s*[–-]\s*(\d+(?:\.\d+)*))?")
_MD_LINK = re.compile(r"\]\(([^()\s]+)\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def repo_files(root: Path) -> list[Path]:
    """Tracked files and new ones git does not ignore; a plain walk when there is no git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        files = [root / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = list(root.rglob("*"))
    # Vendored and generated trees are not ours to fix, even before .gitignore learns of them.
    return sorted(p for p in files if p.is_file() and not (_SKIP_DIRS & set(p.relative_to(root).parts)))


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary or very large file."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_fences(text: str) -> Iterable[tuple[int, str]]:
    """(line number, line) of a markdown text, skipping fenced code blocks."""
    fenced = False
    for no, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield no, line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


class Headings:
    """Anchors and section numbers of markdown files, read once each."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[set[str], list[str]]] = {}

    def of(self, path: Path) -> tuple[set[str], list[str]]:
        if path not in self._cache:
            anchors: set[str] = set()
            titles: list[str] = []
            seen: dict[str, int] = {}
            for _, line in outside_fences(read_text(path) or ""):
                m = _HEADING.match(line)
                if not m:
                    continue
                title = m.group(2)
                base = slug(title)
                n = seen.get(base, 0)
                seen[base] = n + 1
                anchors.add(base if n == 0 else f"{base}-{n}")
                titles.append(title)
            self._cache[path] = (anchors, titles)
        return self._cache[path]

    def has_anchor(self, path: Path, anchor: str) -> bool:
        return anchor in self.of(path)[0]

    def has_section(self, path: Path, number: str) -> bool:
        """A heading that starts with the number: `## 5. Beliefs`, `### 2.1 Reading the seed`."""
        pattern = re.compile(rf"^§?\s*{re.escape(number)}(?:\.|\s|$)")
        return any(pattern.match(t) for t in self.of(path)[1])


def _section_numbers(cited: str) -> list[str]:
    numbers: list[str] = []
    for first, last in _SECTION_ITEM.findall(cited):
        numbers.append(first)
        if last and "." not in first and "." not in last:
            numbers.extend(str(n) for n in range(int(first) + 1, int(last) + 1))
        elif last:
            numbers.append(last)
    return numbers


def _resolve(root: Path, source: Path, target: str, *, markdown_link: bool) -> Path | None:
    """Where a pointer leads: links in markdown are relative to their file; paths in text to the root
    (or to the file, for a doc that names a sibling folder's file)."""
    bases = [source.parent] if markdown_link else [root, source.parent]
    for base in bases:
        candidate = (base / target).resolve()
        if candidate.exists():
            return candidate
    return None


def find_problems(root: Path, files: Iterable[Path]) -> list[str]:
    """Every unresolvable or outside pointer in `files`, as 'path:line: what is wrong'."""
    root = root.resolve()
    headings = Headings()
    problems: list[str] = []

    def check_target(where: str, source: Path, target: str, anchor: str, cited: str, *, link: bool) -> None:
        found = _resolve(root, source, target, markdown_link=link) if target else source.resolve()
        if found is None:
            problems.append(f"{where}: {target} does not exist in the repository")
            return
        if found != root and root not in found.parents:
            problems.append(f"{where}: {target} points outside the repository")
            return
        if found.suffix != ".md":
            return
        if anchor and not headings.has_anchor(found, anchor):
            problems.append(f"{where}: {target or found.name} has no heading with the anchor #{anchor}")
        for number in _section_numbers(cited):
            if not headings.has_section(found, number):
                problems.append(f"{where}: {target} has no section {number} (a heading starting '{number}.')")

    for path in files:
        text = read_text(path)
        if text is None:
            continue
        rel = path.resolve().relative_to(root).as_posix()
        is_md = path.suffix == ".md"
        lines = outside_fences(text) if is_md else enumerate(text.splitlines(), 1)
        for no, line in lines:
            where = f"{rel}:{no}"
            for m in FORBIDDEN.finditer(line):
                problems.append(f"{where}: '{m.group(0)}' points outside the repository; cite docs/ instead")
            for m in _BARE_DOC.finditer(line):
                if (
                    not FORBIDDEN.match(m.group(1))
                    and _resolve(root, path, m.group(1), markdown_link=False) is None
                ):
                    problems.append(f"{where}: {m.group(1)} does not exist in the repository")
            for m in _MD_PATH.finditer(line):
                target, anchor = m.group(1), (m.group(2) or "")[1:]
                cited = _SECTIONS.match(line[m.end() :])
                check_target(where, path, target, anchor, cited.group(0) if cited else "", link=False)
            if not is_md:
                continue
            for m in _MD_LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                target, _, anchor = target.partition("#")
                if target.endswith(".md") and _MD_PATH.fullmatch(target):
                    continue  # already checked as a path above
                text_before = line[: m.start()]
                cited = re.search(r"(§[^\[\]]*)$", text_before[text_before.rfind("[") + 1 :])
                check_target(where, path, target, anchor, cited.group(1) if cited else "", link=True)
            for m in _CODE_SPAN.finditer(line):
                check_code_path(where, root, path, m.group(1), problems)
    return problems


_TOP_DIRS = (
    "contracts/",
    "engine/",
    "services/",
    "simswarm/",
    "tests/",
    "bench/",
    "deploy/",
    "docs/",
    ".ci/",
)


def check_code_path(where: str, root: Path, source: Path, span: str, problems: list[str]) -> None:
    """A backticked repository path in a doc (`services/kit/bus.py`, `docs/adr/`) must exist."""
    candidate = re.split(r"[\s:(]", span.strip(), maxsplit=1)[0].rstrip(".,;")
    if not candidate.startswith(_TOP_DIRS) or re.search(r"[<>*{}…$]", candidate):
        return
    if candidate.endswith(".md") or ".md#" in candidate:
        return  # checked as a path, with its section or anchor
    if not (root / candidate).exists() and not is_build_output(root, candidate):
        problems.append(f"{where}: `{candidate}` does not exist in the repository")


def is_build_output(root: Path, candidate: str) -> bool:
    """A path .gitignore names (e.g. the web bundle an install builds): absent from a fresh clone by design."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    path = candidate.rstrip("/")
    for line in lines:
        pattern = line.strip()
        if not pattern or pattern.startswith(("#", "!")):
            continue
        pattern = pattern.strip("/")
        if "/" in pattern:
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in path.split("/")):
            return True
    return False


# -- the repository --------------------------------------------------------------------------------


def test_every_doc_reference_in_the_repository_resolves() -> None:
    problems = find_problems(ROOT, repo_files(ROOT))
    assert problems == [], "broken or outside doc references:\n" + "\n".join(problems)


def _md_pages() -> list[str]:
    docs = ROOT / "docs"
    return sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md") if p.name != "README.md")


def test_the_docs_index_and_the_readme_list_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/README.md" in readme
    for page in _md_pages():
        assert f"]({page})" in index, f"docs/README.md does not link {page}"
        if "/" not in page:  # the README lists the pages; the ADRs are listed by the index
            assert f"](docs/{page})" in readme, f"README.md's table of docs does not link docs/{page}"


# -- the checker itself: it must be able to fail ----------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## 1. Inputs\n\n## 2. Pipeline\n\n### Sections (computed, no LLM)\n\n```\n## 7. not a heading\n```\n"
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / ".gitignore").write_text("# built by the install\nservices/web/bundle/\n*.pyc\n")
    return tmp_path


def _problems_of(tree: Path, name: str, text: str) -> list[str]:
    path = tree / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return find_problems(tree, [path])


# The references below are assembled from pieces ({_D} is "docs"), so the scan of this very file does
# not take them for pointers of the repository.
_D = "docs"
GOOD = [
    ("pkg/a.py", f'"""See {_D}/guide.md §2 and {_D}/guide.md §1–2."""\n'),
    ("pkg/b.py", f"# {_D}/guide.md#sections-computed-no-llm, {_D}/guide.md §1, §2\n"),
    (
        f"{_D}/other.md",
        f"[the guide](guide.md#2-pipeline), [top](#other), `{_D}/guide.md`, `pkg/`\n\n# Other\n",
    ),
    ("pkg/c.py", "KEY = 'jobs/<job_id>/report/report.md'  # an object key, not a doc\n"),
    (f"{_D}/k.md", "the install builds the bundle into `services/web/" + "bundle/`\n"),
]
BAD = [
    ("pkg/a.py", f'"""See {_D}/missing.md."""\n', "does not exist"),
    ("pkg/b.py", f"# {_D}/guide.md §7\n", "no section 7"),
    ("pkg/c.py", f"# {_D}/guide.md §1–3\n", "no section 3"),
    ("pkg/d.py", f"# {_D}/guide.md#no-such-heading\n", "anchor #no-such-heading"),
    ("pkg/e.py", "# see " + "ENGINE" + ".md §5\n", "points outside"),
    ("pkg/p.py", "# the column names of " + "PLAN" + ".md\n", "does not exist"),
    ("pkg/f.py", "# see " + ".." + "/shared/notes\n", "points outside"),
    (f"{_D}/g.md", "[gone](" + "gone.md)\n", "does not exist"),
    (f"{_D}/h.md", "[the guide](" + "guide.md#nowhere)\n", "anchor #nowhere"),
    (f"{_D}/i.md", "the bus is in `services/kit/" + "nowhere.py`\n", "does not exist"),
    (f"{_D}/j.md", "[outside](" + "../../x" + ".md)\n", "exist"),
]


@pytest.mark.parametrize(("name", "text"), GOOD)
def test_the_checker_accepts_pointers_that_resolve(tree: Path, name: str, text: str) -> None:
    assert _problems_of(tree, name, text) == []


@pytest.mark.parametrize(("name", "text", "expected"), BAD)
def test_the_checker_reports_pointers_that_do_not(tree: Path, name: str, text: str, expected: str) -> None:
    problems = _problems_of(tree, name, text)
    assert len(problems) == 1 and expected in problems[0], problems


def test_slugs_follow_github() -> None:
    assert slug("4. Markets (LMSR)") == "4-markets-lmsr"
    assert slug("The LLM policy (`engine/llm/`)") == "the-llm-policy-enginellm"
    assert slug("Live events (SSE)") == "live-events-sse"
    assert slug("Guarantees (see [ADR 0002](" + "adr/0002" + ".md))") == "guarantees-see-adr-0002"
