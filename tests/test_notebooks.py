"""The tutorials are stored clean and wired up: no outputs, a smoke switch, a place in the docs nav.
(`make notebooks` executes them; this checks what a reviewer would otherwise check by eye.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_tutorials_are_there():
    names = {path.stem for path in NOTEBOOKS}
    assert {"00_quickstart", "01_prompt_modalities", "02_custom_prompt_encoder", "05_code_stream"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs_and_has_a_smoke_mode(path):
    book = json.loads(path.read_text())
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code), (
        f"{path.name}: strip outputs (jupyter nbconvert --clear-output --inplace {path.name})"
    )
    assert book["cells"][0]["cell_type"] == "markdown" and "".join(book["cells"][0]["source"]).startswith("# ")
    assert any("CODECSEP_MM_SMOKE" in "".join(cell["source"]) for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_in_the_docs_nav(path):
    lines = (ROOT / "mkdocs.yml").read_text().splitlines()
    entries = [line for line in lines if f"notebooks/{path.name}" in line and not line.strip().startswith("#")]
    assert entries, f"add notebooks/{path.name} to the nav in mkdocs.yml (uncomment its entry)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_that_makes_a_temporary_folder_removes_it_at_the_end(path):
    cells = json.loads(path.read_text())["cells"]
    if not any("tempfile.mkdtemp(" in "".join(cell["source"]) for cell in cells):
        return
    last = cells[-1]
    assert last["cell_type"] == "code" and "shutil.rmtree(" in "".join(last["source"]), (
        f"{path.name}: end with a cell that removes its temporary folder (`make notebooks` runs every one)"
    )
