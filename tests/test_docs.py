"""Docs that cannot drift (issue 20): every name the docs cite is checked against the code.

Which documents: ``README.md`` and every ``docs/**/*.md``.

What counts as a citation (fenced code blocks are not read):

- **Repository paths**, written from the repository root and starting with a top-level folder
  of the repository (``FOLDERS``): every whitespace-separated word of an inline code span
  (so the path in a span such as "python scripts/screenshot_ui.py" counts too), and in plain
  text a path naming a file (its last part has a dot) or a folder (it ends with ``/``), which
  leaves prose such as "workflows/s" alone. The file or folder must exist; a trailing ``/``
  means a folder; a ``*`` is a glob that must match something; ``path.py::name`` (a pytest id)
  must also define ``name`` (``::`` nests into classes; a ``[param]`` suffix is dropped). A
  word holding a placeholder (``<``, ``{``, ``…``) is a pattern, not a path, and is not checked.
- **Relative Markdown links** (``[text](target)``, not ``http(s):``/``mailto:``), resolved from
  the document's folder: the target must exist, and a ``#fragment`` into a Markdown file must
  be one of its headings (GitHub's anchor for it).
- **Dotted Python names** in code spans that start with a top-level package (``PACKAGES``):
  ``services.routing.cover_for``, ``tests.workflows.histories.record``,
  ``api.app.create_app(settings=None)`` (what follows the name is ignored), ``cli.main:app``.
  The longest importable module prefix is imported and the rest looked up with ``getattr``.
  A word ending in a file extension (``api.md``) is a file name, not a Python name.
- **Class-qualified names** in code spans (``TimerLoop._settle``,
  ``InteractionState.applied_updates``): when this repository defines a class of that name at
  module level (anywhere in ``PACKAGES``), one of those classes must have the attribute
  (pydantic and dataclass fields count). ``ParentClosePolicy.ABANDON`` and other library names
  are not ours and not checked.
- **Replay fixtures** named bare in code spans (``interaction_contact_window.v4.json``,
  ``*.v7.json``): must match a file in ``tests/workflows/histories/``.

Not checked: bare file names (``calendar.py`` in a row about ``domain/``: relative to the prose
around it), bare identifiers (``TimerLoop``, ``_raise_trigger``), dotted names in plain text
(prose says "api.md"), anything in fenced code blocks.

Besides the citations, this file checks the enumerations the docs keep: the patch ids of
``workflows/`` against ``docs/adr/patching.md``, the settings against the table of
``docs/api.md`` §4.1, the CLI against §4.2, the HTTP routes against §4.3, the README's layout
table against the repository's top-level folders, and the code map of ``docs/architecture.md``
against the modules of the installed packages. Each failure names what is missing, and for a
citation the document and line.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top-level Python packages of this repository: a dotted name starting with one is checked.
PACKAGES = (
    "domain",
    "workflows",
    "activities",
    "store",
    "workers",
    "services",
    "api",
    "cli",
    "config",
    "bench",
    "drills",
    "tests",
)
# Top-level folders: a path starting with one (``docs/adr/x.md``) is checked.
FOLDERS = (*PACKAGES, "docs", "deploy", "scripts", ".ci")
# A word ending in one of these is a file name (``api.md``), not a dotted Python name.
FILE_EXTENSIONS = frozenset(
    ("md", "py", "json", "yaml", "yml", "toml", "lock", "txt", "png", "html", "js", "css")
)
HISTORIES = ROOT / "tests" / "workflows" / "histories"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


# ------------------------------------------------------------------------- reading Markdown
@dataclass(frozen=True)
class Citation:
    kind: str  # "span" (a word of an inline code span), "text" (plain text), "link"
    text: str
    where: str  # file:line


FENCE = re.compile(r"^\s*(```|~~~)")
SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PLAIN_PATH = re.compile(rf"(?<![\w/.\-])(?:{'|'.join(re.escape(f) for f in FOLDERS)})/[\w.*/\-]*")


def without_fences(text: str) -> str:
    """The text with fenced code blocks blanked out (line numbers kept)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return "\n".join(lines)


def citations(text: str, name: str) -> Iterator[Citation]:
    """Every code-span word, plain-text path and link target of one Markdown document."""
    text = without_fences(text)

    def line_of(offset: int) -> str:
        return f"{name}:{text.count(chr(10), 0, offset) + 1}"

    for m in SPAN.finditer(text):
        for word in m.group(2).replace("\\|", " ").split():
            yield Citation("span", word, line_of(m.start()))
    # Plain text: spans blanked (same length, so offsets keep their lines), link targets dropped.
    plain = SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in LINK.finditer(plain):
        yield Citation("link", m.group(1), line_of(m.start(1)))
    plain = LINK.sub(lambda m: re.sub(r"\([^)]*\)$", lambda p: " " * len(p.group(0)), m.group(0)), plain)
    for m in PLAIN_PATH.finditer(plain):
        yield Citation("text", m.group(0), line_of(m.start()))


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    heading = heading.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in without_fences(path.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_anchor(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(found)


# ------------------------------------------------------------------------- resolving names
def strip_word(word: str) -> str:
    """A word of prose or of a code span without the punctuation around it."""
    return word.strip("()[],;'\"").rstrip(".:")


def check_path(word: str) -> str | None:
    """Why a repository path does not resolve, or None."""
    if any(c in word for c in "<{…"):
        return None
    path, _, test_id = word.partition("::")
    if "*" in path:
        return None if any(ROOT.glob(path)) else "no file matches"
    target = ROOT / path
    if path.endswith("/"):
        return None if target.is_dir() else "no such folder"
    if not target.exists():
        return "no such file or folder"
    if test_id:
        return check_test_id(target, test_id)
    return None


def check_test_id(path: Path, test_id: str) -> str | None:
    body: list[ast.stmt] = ast.parse(path.read_text()).body
    for part in test_id.split("::"):
        part = part.split("[")[0]
        found = next(
            (
                node
                for node in body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return f"{path.relative_to(ROOT)} defines no {part}"
        body = found.body if isinstance(found, ast.ClassDef) else []
    return None


DOTTED = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*)?")
QUALIFIED = re.compile(r"^([A-Z]\w*)\.([A-Za-z_]\w*)")


def import_longest(parts: list[str]) -> tuple[Any, list[str]] | None:
    """Import the longest module prefix of ``parts``: (module, the rest), None if none imports.

    A module that exists but fails to import raises: that is a broken module, not a missing name.
    """
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            return importlib.import_module(name), parts[i:]
        except ModuleNotFoundError as e:
            if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
                raise
    return None


def check_dotted(word: str) -> str | None:
    m = DOTTED.match(word)
    if m is None or ("." not in m.group(0) and ":" not in m.group(0)):
        return None
    name = m.group(0)
    if ":" not in name and name.rsplit(".", 1)[1] in FILE_EXTENSIONS:
        return None  # a file name such as api.md
    module_name, _, attr = name.partition(":")
    found = import_longest(module_name.split("."))
    if found is None:
        return "no such module"
    obj, rest = found
    if attr:
        if rest:
            return f"no module {module_name}"
        rest = [attr]
    for part in rest:
        if not has_attribute(obj, part):
            return f"{getattr(obj, '__name__', obj)!s} has no {part}"
        obj = getattr(obj, part, None)
    return None


def has_attribute(obj: Any, name: str) -> bool:
    if hasattr(obj, name):
        return True
    fields = {**getattr(obj, "model_fields", {}), **getattr(obj, "__dataclass_fields__", {})}
    if isinstance(obj, type):
        for cls in obj.__mro__:
            fields.update(getattr(cls, "__annotations__", {}))
    return name in fields


@cache
def our_classes() -> dict[str, tuple[str, ...]]:
    """Class name -> the modules of PACKAGES that define a class of that name at top level."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    found.setdefault(node.name, []).append(module)
    return {name: tuple(modules) for name, modules in found.items()}


def check_qualified(word: str) -> str | None:
    m = QUALIFIED.match(word)
    if m is None or m.group(1) not in our_classes():
        return None
    cls_name, attr = m.groups()
    modules = our_classes()[cls_name]
    for module in modules:
        if has_attribute(getattr(importlib.import_module(module), cls_name), attr):
            return None
    return f"{cls_name} ({', '.join(modules)}) has no {attr}"


FIXTURE = re.compile(r"^[\w*]+\.v\d+\.json$")


def problem(c: Citation, document: Path) -> str | None:
    """Why a citation does not resolve, or None (also None for what is not a citation)."""
    if c.kind == "link":
        return check_link(c.text, document)
    word = strip_word(c.text)
    if word.split("/")[0] in FOLDERS and "/" in word:
        if c.kind == "text" and not (word.endswith("/") or "." in word.rsplit("/", 1)[1]):
            return None  # prose such as "workflows/s", not a path
        return check_path(word)
    if c.kind != "span":
        return None
    if FIXTURE.match(word):
        return None if any(HISTORIES.glob(word)) else "no such replay fixture in tests/workflows/histories/"
    return check_dotted(word) or check_qualified(word)


def check_link(target: str, document: Path) -> str | None:
    if re.match(r"^[a-z][a-z+.-]*:", target):  # http:, https:, mailto:
        return None
    path, _, fragment = target.partition("#")
    resolved = (document.parent / path).resolve() if path else document
    if not resolved.exists():
        return "link to a missing file"
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
        return f"{resolved.relative_to(ROOT)} has no heading #{fragment}"
    return None


def drift(document: Path, text: str | None = None) -> list[str]:
    """Every citation of a document that does not resolve, as ``file:line: `word`: why``."""
    name = str(document.relative_to(ROOT))
    found = []
    for c in citations(document.read_text() if text is None else text, name):
        why = problem(c, document)
        if why:
            found.append(f"{c.where}: `{c.text if c.kind == 'link' else strip_word(c.text)}`: {why}")
    return found


# ------------------------------------------------------------------------- the citations
@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_name_the_docs_cite_exists(document: Path) -> None:
    missing = drift(document)
    assert not missing, "the docs cite what does not exist:\n" + "\n".join(missing)


def test_the_check_finds_planted_drift() -> None:
    """The check can fail: a document citing what is gone is reported, line by line."""
    planted = "\n".join(
        [
            "Routing is `services.routing.cover_for`; `api.coverage.cover_for` is gone.",  # 1
            "Bench: `bench/p3_deadlines.py`, `bench/history.py`, and in text bench/fanout.py.",  # 2
            "```",
            "`bench/in_a_fence.py` is not read",  # 4
            "```",
            "`workflows.common.PATCHES_AT_START_PATCH`, `workflows.common.NO_SUCH_PATCH`,",  # 6
            "`TimerLoop._settle`, `TimerLoop._no_such_method`, `ParentClosePolicy.NOPE`,",  # 7
            "`tests/test_docs.py::test_the_check_finds_planted_drift`, `tests/test_docs.py::nope`,",  # 8
            "`*.v7.json`, `*.v99.json`, `tests/workflows/histories/*.v1.json`, `docs/adr/`, `docs/nope/`,",
            "[ok](docs/adr/patching.md#patches-in-force), [gone](docs/adr/gone.md),",  # 10
            "[bad anchor](docs/architecture.md#no-such-heading), `cli.main:app`, `cli.main:nope`,",  # 11
            "`python -m tests.workflows.histories.record`, `python -m bench.gone`, `api.md`.",  # 12
            "Prose: 50 workflows/s, docs/nope.md, and a folder deploy/nope/ in plain text.",  # 13
        ]
    )
    found = drift(ROOT / "README.md", planted)
    flagged = {line.split(": `")[0] + " " + line.split("`")[1] for line in found}
    assert flagged == {
        "README.md:1 api.coverage.cover_for",
        "README.md:2 bench/history.py",
        "README.md:2 bench/fanout.py",
        "README.md:6 workflows.common.NO_SUCH_PATCH",
        "README.md:7 TimerLoop._no_such_method",
        "README.md:8 tests/test_docs.py::nope",
        "README.md:9 *.v99.json",
        "README.md:9 docs/nope/",
        "README.md:10 docs/adr/gone.md",
        "README.md:11 docs/architecture.md#no-such-heading",
        "README.md:11 cli.main:nope",
        "README.md:12 bench.gone",
        "README.md:13 docs/nope.md",
        "README.md:13 deploy/nope/",
    }, "\n".join(found)


# ------------------------------------------------------------------------- patches
PATCHING_ADR = ROOT / "docs" / "adr" / "patching.md"


def patch_ids_in_code() -> dict[str, str]:
    """Every patch id in ``workflows/`` (id -> where it is defined or used): string constants
    named ``*_PATCH`` at any level (module or class), and what is passed to ``patched``,
    ``deprecate_patch`` or a wrapper named ``*patched``: a string literal, or the name of a
    string constant defined anywhere in ``workflows/`` (a wrapper's own parameter is neither)."""
    trees = {
        str(path.relative_to(ROOT)): ast.parse(path.read_text())
        for path in (ROOT / "workflows").rglob("*.py")
    }
    constants: dict[str, str] = {}  # NAME -> its string value
    found: dict[str, str] = {}
    for where, tree in sorted(trees.items()):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                    continue
                for target in targets:
                    name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                    constants.setdefault(name, node.value.value)
                    if name.endswith("_PATCH"):
                        found.setdefault(node.value.value, f"{where}:{node.lineno}")
    for where, tree in sorted(trees.items()):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not (called.endswith("patched") or called == "deprecate_patch"):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, f"{where}:{node.lineno}")
            elif isinstance(arg, ast.Name | ast.Attribute):
                name = arg.id if isinstance(arg, ast.Name) else arg.attr
                if name in constants:
                    found.setdefault(constants[name], f"{where}:{node.lineno}")
    return found


def patches_in_force_section() -> tuple[str, int]:
    """The text of the ADR's "Patches in force" section, and the line it starts on."""
    text = PATCHING_ADR.read_text()
    m = re.search(r"^## Patches in force\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "docs/adr/patching.md has no '## Patches in force' section"
    return m.group(1), text.count("\n", 0, m.start(1)) + 1


def test_the_patch_scan_finds_the_known_patches() -> None:
    assert {"keep-unchanged-timer", "contact-window-retry", "patches-at-start"} <= set(patch_ids_in_code())


def test_every_patch_in_the_code_is_listed_in_the_patching_adr() -> None:
    section, _ = patches_in_force_section()
    code = patch_ids_in_code()
    unlisted = [f"{where}: `{p}`" for p, where in sorted(code.items()) if f"`{p}`" not in section]
    assert not unlisted, "missing from docs/adr/patching.md (Patches in force):\n" + "\n".join(unlisted)


def test_every_patch_the_adr_lists_is_in_the_code() -> None:
    """A retired patch leaves the list (decision 4 of the ADR)."""
    section, start = patches_in_force_section()
    code = patch_ids_in_code()
    listed = [
        (start + i, m.group(1))
        for i, line in enumerate(section.splitlines())
        if (m := re.match(r"^- `([a-z0-9-]+)`", line))
    ]
    assert listed
    gone = [f"docs/adr/patching.md:{line}: `{p}`" for line, p in listed if p not in code]
    assert not gone, "patches listed in force that the code no longer has:\n" + "\n".join(gone)


# ------------------------------------------------------------------------- docs/api.md
API_DOC = ROOT / "docs" / "api.md"


def assert_same(in_code: set[str], in_docs: set[str], where: str) -> None:
    """The docs list exactly what the code has."""
    assert not in_code - in_docs, f"missing from {where}: {sorted(in_code - in_docs)}"
    assert not in_docs - in_code, f"{where} lists what the code does not have: {sorted(in_docs - in_code)}"


def section(path: Path, heading: str) -> str:
    """The text under a heading (``### 4.1 Settings``) up to the next heading of its level or above."""
    text = path.read_text()
    level = heading.split()[0]
    m = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#{{1,{len(level)}}} |\Z)", text, re.S | re.M)
    assert m, f"{path.relative_to(ROOT)} has no heading {heading!r}"
    return m.group(1)


def first_cells(table_text: str) -> list[str]:
    """The first cell of every row of the Markdown tables in a text (header rows included)."""
    return [m.group(1) for m in re.finditer(r"^\|((?:[^|\\\n]|\\.)*)\|", table_text, re.M)]


def test_every_setting_is_in_the_settings_table_and_every_row_is_a_setting() -> None:
    from config.settings import Settings

    fields = {name.upper() for name in Settings.model_fields}
    rows = section(API_DOC, "### 4.1 Settings")
    documented = {name for cell in first_cells(rows) for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert_same(fields, documented, "docs/api.md §4.1 (settings)")


def cli_commands() -> set[str]:
    """Every command path of the ``followthrough`` CLI (``absence add``, ``reconcile``, …)."""
    import typer

    from cli.main import app

    def walk(command: Any, prefix: str) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)  # a group (typer's own click, or click)
        if isinstance(subcommands, dict):
            for name, sub in subcommands.items():
                yield from walk(sub, f"{prefix} {name}".strip())
        else:
            yield prefix

    return set(walk(typer.main.get_command(app), ""))


def test_every_cli_command_is_in_the_cli_table_and_every_row_is_a_command() -> None:
    commands = cli_commands()
    rows = section(API_DOC, "### 4.2 CLI (`followthrough`)")
    documented: set[str] = set()
    for cell in first_cells(rows):
        for span in re.findall(r"`followthrough ([^`]*)`", cell):
            words = [w for w in span.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            # "absence add STAFF …" -> "absence add"; "token list" -> "token list"
            for n in (2, 1):
                if " ".join(words[:n]) in commands:
                    documented.add(" ".join(words[:n]))
                    break
            else:
                documented.add(" ".join(words[:2]) + " (no such command)")
    assert_same(commands, documented, "docs/api.md §4.2 (CLI)")


def normalise_route(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def api_routes(tmp_path: Path) -> set[str]:
    """``METHOD /path`` of every route of the API's OpenAPI document (the console's routes are
    not in it: docs/console.md describes the console)."""
    from api.app import create_app
    from config.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    try:
        paths = app.openapi()["paths"]
    finally:
        app.state.engine.dispose()
    return {
        f"{method.upper()} {normalise_route(path)}"
        for path, operations in paths.items()
        for method in operations
    }


def test_every_route_is_in_the_routes_table_and_every_row_is_a_route(tmp_path: Path) -> None:
    routes = api_routes(tmp_path)
    rows = section(API_DOC, "#### Routes")
    documented = {
        f"{method} {normalise_route(path)}"
        for cell in first_cells(rows)
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", cell)
    }
    assert_same(routes, documented, "docs/api.md §4.3 Routes")


# ------------------------------------------------------------------------- layout and code map
def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):  # no git (a copied tree): what is on disk
        return [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not any(part.startswith((".venv", ".git", "__pycache__")) for part in p.parts)
        ]
    return [line for line in out.splitlines() if (ROOT / line).exists()]


def test_the_readme_layout_table_names_every_top_level_folder() -> None:
    folders = {path.split("/")[0] for path in tracked_files() if "/" in path}
    table = section(ROOT / "README.md", "## Layout")
    named = {span.rstrip("/") for cell in first_cells(table) for span in re.findall(r"`([^`]+)`", cell)}
    assert not folders - named, f"missing from the README's layout table: {sorted(folders - named)}"
    top_level = {p.split("/")[0] for p in tracked_files()}
    assert not named - top_level, (
        f"the README's layout table names what is not there: {sorted(named - top_level)}"
    )


def application_modules() -> list[str]:
    """Every module of the packages the project installs (pyproject's package list), as paths;
    migration revisions excluded (the docs cite their folder)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    return sorted(
        path
        for path in tracked_files()
        if path.endswith(".py")
        and path.split("/")[0] in packages
        and not path.endswith("/__init__.py")
        and "/migrations/versions/" not in path
    )


def test_the_code_map_names_every_module() -> None:
    """docs/architecture.md §5.1 names every module of the installed packages (a new module
    gets its line; a moved one its new path, which the citation check then finds)."""
    code_map = section(ROOT / "docs" / "architecture.md", "### 5.1 Code map")
    cited = set(re.findall(r"`([\w/]+\.py)`", code_map))
    missing = [m for m in application_modules() if m not in cited]
    assert not missing, "modules missing from docs/architecture.md §5.1 Code map:\n" + "\n".join(missing)
