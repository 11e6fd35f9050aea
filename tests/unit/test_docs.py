"""The documentation cannot drift from the code: every variable `portal/config.py` reads is in
docs/configuration.md, and nothing in the project depends on files outside it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG_SOURCE = REPO / "portal" / "config.py"
CONFIGURATION_DOC = REPO / "docs" / "configuration.md"
ENV_NAMES = {"env", "environ"}  # what portal/config.py calls the environment mapping


def variables_read(source: str) -> set[str]:
    """Names read from the environment mapping: `env.get("X")`, `env["X"]`, or `helper(env, "X", …)`."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "get" and isinstance(func.value, ast.Name)
                    and func.value.id in ENV_NAMES and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
            else:  # the name is the argument right after the mapping; later ones are defaults
                for mapping, name in zip(node.args, node.args[1:]):
                    if isinstance(mapping, ast.Name) and mapping.id in ENV_NAMES and isinstance(name, ast.Constant):
                        names.add(name.value)
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ENV_NAMES
              and isinstance(node.slice, ast.Constant)):
            names.add(node.slice.value)
    return {name for name in names if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}


def documented_variables(markdown: str) -> set[str]:
    """Every `NAME` in the first column of a table row."""
    names = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ")[0]))
    return names


def test_the_scan_finds_the_ways_config_reads_a_variable():
    source = ('def f(env):\n    env.get("A_B")\n    _int(env, "C_D", 3)\n    _choice(env, "G_H", "DEFAULT")\n'
              '    env["E_F"]\n    other.get("NO")\n')
    assert variables_read(source) == {"A_B", "C_D", "E_F", "G_H"}


def test_every_configuration_variable_is_documented():
    read = variables_read(CONFIG_SOURCE.read_text())
    assert {"SECRET_KEY", "DATABASE_URL", "PAYMENT_RETRY_ATTEMPTS", "PORTAL_INSTANCE_PATH"} <= read
    missing = read - documented_variables(CONFIGURATION_DOC.read_text())
    assert not missing, f"add a row to docs/configuration.md for: {', '.join(sorted(missing))}"


# A relative path that climbs (../), e.g. "../x/y" or "../../x", must not land outside the project: in a
# document read from the document's folder (a link); in code read from its file's folder or from the
# project root (where make and the tests run).
CLIMB_RE = re.compile(r"(?<![\w./])((?:\.\./)+)(\w[\w.-]*)")
HOSTILE = "# hostile input"  # marks a line of attack data in a test: a string we refuse, not a path we use
SCANNED_SUFFIXES = {".py", ".md", ".txt", ".ini", ".cfg", ".toml", ".html", ".js", ".css", ".sh"}
SCANNED_NAMES = {"Makefile", "run"}  # run: .ci/run


def climbs_out(path: Path, climb: str, name: str) -> bool:
    bases = (path.parent,) if path.suffix in {".md", ".html"} else (path.parent, REPO)
    return any(not (base / (climb + name)).resolve().is_relative_to(REPO) for base in bases)


def project_files():
    for path in REPO.rglob("*"):
        if (path.is_file() and (path.suffix in SCANNED_SUFFIXES or path.name in SCANNED_NAMES)
                and not {".git", ".venv", "node_modules", "reference"} & set(path.relative_to(REPO).parts)
                and path != Path(__file__).resolve()):  # this file's own examples of what it refuses
            yield path


def test_the_guard_sees_a_path_that_climbs_out_and_lets_one_that_stays_in():
    assert climbs_out(REPO / "README.md", "../", "elsewhere")
    assert climbs_out(REPO / "tests" / "unit" / "test_docs.py", "../../../", "elsewhere")
    assert not climbs_out(REPO / "docs" / "endpoints.md", "../", "sandbox")
    assert [m.group(0) for m in CLIMB_RE.finditer("see ../x/y, .../update and ../../z")] == ["../x", "../../z"]


def test_nothing_points_outside_the_project():
    """The suite and the docs stand alone: a clone anywhere passes make test and reads its own docs, so no
    file refers to a path outside the project."""
    offenders = []
    for path in project_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if HOSTILE in line:
                continue
            offenders += [f"{path.relative_to(REPO)}:{number}: {m.group(0)}" for m in CLIMB_RE.finditer(line)
                          if climbs_out(path, m.group(1), m.group(2))]
    assert not offenders, offenders


def test_every_relative_link_in_the_docs_leads_to_a_file_in_the_project():
    broken = []
    for path in (p for p in project_files() if p.suffix == ".md"):
        for target in re.findall(r"\]\(([^)\s#]+)", path.read_text()):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                resolved = (path.parent / target).resolve()
                if not (resolved.is_relative_to(REPO) and resolved.exists()):
                    broken.append(f"{path.relative_to(REPO)}: {target}")
    assert not broken, broken
