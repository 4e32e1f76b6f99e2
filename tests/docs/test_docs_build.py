"""The documentation site builds strictly, documents every public name and finds every page.

``mkdocs build --strict`` fails on a broken link, an unknown cross-reference, a page left out
of the navigation and any docstring warning from griffe; the build here is the one
``make docs`` runs, into a temporary directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .snippets import DOCS, blocks, program

ROOT = DOCS.parent


def _public_modules() -> tuple[str, ...]:
    """Every public module of the package (no part of its name starts with ``_``) that has an
    ``__all__``: each of its names needs an entry in the reference. Found by walking the
    package, so a new public module cannot be left out."""
    import coreclaw_async

    names = ["coreclaw_async"]
    for info in pkgutil.walk_packages(coreclaw_async.__path__, "coreclaw_async."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return tuple(name for name in names if hasattr(importlib.import_module(name), "__all__"))


PUBLIC_MODULES = _public_modules()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The site built by ``mkdocs build --strict``, and what the build printed."""
    target = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target, done.stdout + done.stderr


def test_the_site_builds_strictly_without_a_warning(site: tuple[Path, str]) -> None:
    target, output = site

    assert "WARNING" not in output
    assert (target / "index.html").is_file()
    assert (target / "reference" / "client.html").is_file()


def test_every_public_name_has_an_entry_in_the_api_reference(site: tuple[Path, str]) -> None:
    target, _ = site
    anchors: set[str] = set()
    for page in (target / "reference").rglob("*.html"):
        anchors |= set(re.findall(r'id="(coreclaw_async[\w.]*)"', page.read_text(encoding="utf-8")))
    modules = {name: importlib.import_module(name) for name in PUBLIC_MODULES}

    def documented(owner: ModuleType, name: str) -> bool:
        target_object = getattr(owner, name)
        return any(
            f"{path}.{name}" in anchors and getattr(module, name, None) is target_object
            for path, module in modules.items()
        )

    missing = [f"{path}.{name}" for path, module in modules.items() for name in module.__all__]
    missing = [
        dotted
        for dotted in missing
        if not documented(modules[dotted.rsplit(".", 1)[0]], dotted.rsplit(".", 1)[1])
    ]
    assert missing == []


def test_the_search_index_holds_every_page(site: tuple[Path, str]) -> None:
    target, _ = site
    index = json.loads((target / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {entry["location"].split("#", 1)[0] for entry in index["docs"]}
    pages = {page.relative_to(DOCS).with_suffix(".html").as_posix() for page in DOCS.rglob("*.md")}

    assert pages <= locations


def test_the_benchmark_chart_is_drawn_from_the_latest_results() -> None:
    spec = importlib.util.spec_from_file_location("benchmark_chart", ROOT / "benchmarks" / "chart.py")
    assert spec is not None
    assert spec.loader is not None
    chart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chart)
    results = json.loads(chart.RESULTS.read_text(encoding="utf-8"))

    assert chart.CHART.read_text(encoding="utf-8") == chart.render(results), "run benchmarks/chart.py"


def test_the_snippet_reader_runs_only_unmarked_python_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nprint(1)\n```\n\n<!-- no-run -->\n```python\nfragment()\n```\n\n"
        "```bash\nls\n```\n\n```pycon\n>>> 2\n```\n\n!!! note\n    ```python\n    print(3)\n    ```\n",
        encoding="utf-8",
    )

    assert [(block.info, block.runs) for block in blocks(page)] == [
        ("python", True),
        ("python", False),
        ("bash", False),
        ("pycon", False),
        ("python", True),
    ]
    assert "print(1)" in program(page)
    assert "print(3)\n" in program(page)
    assert "fragment()" not in program(page)


def test_the_readme_quick_start_is_the_landing_page_example_the_tests_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.DOTALL)

    assert quick_start is not None, "the README lost its quick start"
    assert quick_start.group(1) in program(DOCS / "index.md")
