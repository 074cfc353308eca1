"""The appendix's table of nbval tags is an output of the other notebooks: it goes stale when a tag changes.

nbval would catch that only at the very end of the test run (it did, once, in CI); this test catches it in
seconds: the stored table must equal the one recomputed from the notebooks as they are now.
"""

import json
from pathlib import Path

import pandas as pd

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
PAGE = "09_reproducing.ipynb"


def tag_table() -> pd.DataFrame:
    rows = []
    names = sorted(p.name for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb") if p.name != PAGE) + [PAGE]
    for name in names:
        cells = [c for c in json.loads((CHAPTERS / name).read_text())["cells"] if c["cell_type"] == "code"]
        ignored = sum("nbval-ignore-output" in c["metadata"].get("tags", []) for c in cells)
        rows.append({"notebook": name, "code cells": len(cells), "outputs compared": len(cells) - ignored,
                     "nbval-ignore-output": ignored})
    return pd.DataFrame(rows).set_index("notebook")


def stored_table_text() -> str:
    nb = json.loads((CHAPTERS / PAGE).read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "nbval_table =" in "".join(c["source"])]
    assert len(cells) == 1, "the appendix should have one cell that builds nbval_table"
    results = [o for o in cells[0]["outputs"] if o.get("output_type") == "execute_result"]
    assert results, "the appendix's nbval_table cell has no stored output: execute the appendix"
    return "".join(results[0]["data"]["text/plain"])


def test_appendix_tag_table_is_current():
    expected = tag_table().to_string()
    assert stored_table_text() == expected, (
        "chapters/09_reproducing.ipynb shows stale nbval tag counts: a chapter's tags changed after the "
        "appendix was executed. Re-execute it: python tools/execute.py chapters/09_reproducing.ipynb"
    )
