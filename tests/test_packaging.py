"""The install path is what CI and users rely on: keep its declarations consistent."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    return dict(_split(r) for r in reqs)


def _environment() -> dict[str, str]:
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+[^#]*)$", line)
        if not m:
            continue
        name, spec = _split(m.group(1))
        if name in {"python", "pip", "conda-forge"} or (spec.startswith("=") and not spec.startswith("==")):
            continue
        out[name] = spec
    return out


def test_environment_matches_pyproject():
    assert _environment() == _pyproject()


def test_torch_pinned_to_cpu_wheel():
    assert _pyproject()["torch"] == "==2.13.0"


def test_readme_commands_are_the_ci_commands():
    readme = (ROOT / "README.md").read_text()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    test_cmd = ci[-1]
    assert test_cmd == "make test"
    assert test_cmd in readme
    assert "make all" in readme


def test_console_script_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["topotta-lite"] == "topotta_lite.cli.main:main"


def test_wheel_ships_the_paper_tables(tmp_path):
    """A non-editable install finds the paper's tables: they are package data."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("topotta_lite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for table in (ROOT / "topotta_lite" / "experiments" / "paper").glob("*.csv"):
        assert f"topotta_lite/experiments/paper/{table.name}" in names
    assert "topotta_lite/experiments/paper/README.md" in names
    assert not any(n.startswith(("tests/", "notebooks/")) for n in names)


def _imports(path: Path):
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("topotta_lite"):
            yield node.module, [a.name for a in node.names]


def test_no_private_names_across_subpackages():
    """A private name (``_x``) or module is used only inside the subpackage that defines it."""
    pkg = ROOT / "topotta_lite"
    bad = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).parts
        here = rel[0] if len(rel) > 1 else None  # subpackage of the importing file
        for module, names in _imports(path):
            parts = module.split(".")
            there = parts[1] if len(parts) > 2 else None
            if here is not None and there == here:
                continue
            private_module = any(p.startswith("_") and p != "__init__" for p in parts[1:])
            if module == "topotta_lite._validation":  # the shared input checks of every subpackage
                private_module = False
            if private_module or any(n.startswith("_") for n in names):
                bad.append(f"{path.relative_to(ROOT)}: from {module} import {names}")
    assert not bad, "\n".join(bad)


def test_notebooks_use_public_names_only():
    """Notebooks import from ``topotta_lite`` or a subpackage's ``__init__`` / a top-level module."""
    subpackages = {p.name for p in (ROOT / "topotta_lite").iterdir() if (p / "__init__.py").exists()}
    bad = []
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        for module, names in _imports(path):
            parts = module.split(".")
            deep = len(parts) > 2 or (len(parts) == 2 and parts[1].startswith("_"))
            if deep or any(n.startswith("_") for n in names):
                bad.append(f"{path.name}: from {module} import {names}")
        assert "import topotta_lite." not in path.read_text(encoding="utf-8"), path
    assert subpackages >= {"topology", "method", "operators", "experiments", "features", "data"}
    assert not bad, "\n".join(bad)


def test_repository_stands_on_its_own():
    """Nothing points at the developers' design notes or at files outside the repository."""
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".toml", ".yml"}
             and not any(part.startswith(".") or part in {"build", "figures"} for part in
                         p.relative_to(ROOT).parts)]
    hits = [str(p.relative_to(ROOT)) for p in files
            if "DESIGN" + ".md" in (t := p.read_text(encoding="utf-8")) or "../" + "shared" in t]
    assert not hits, hits


def test_environment_variables_are_read_in_one_module():
    """Only ``topotta_lite.config`` reads ``TOPOTTA_*`` variables, and it knows every one in use."""
    from topotta_lite.config import ENV_VARS

    pkg = ROOT / "topotta_lite"
    direct = re.compile(r"(environ\.get\(|getenv\(|environ\[)[\"']TOPOTTA_")
    readers = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py") if direct.search(p.read_text("utf-8"))]
    assert readers == [], readers
    used = set()
    for p in list(pkg.rglob("*.py")) + list((ROOT / "tests").glob("*.py")):
        used |= set(re.findall(r"TOPOTTA_[A-Z_]+", p.read_text("utf-8")))
    assert used - {"TOPOTTA_NOT_A_VARIABLE"} <= set(ENV_VARS), used - set(ENV_VARS)
