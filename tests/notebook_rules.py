"""The conventions every chapter notebook follows, as one checker used by tests/test_book.py."""

from __future__ import annotations

import re

SETUP_URL = re.compile(r'git\+(https://[^"\s]+)')


def problems(nb: dict, repository_url: str) -> list[str]:
    """Everything wrong with a chapter notebook (a dict as read by nbformat/json); empty if none."""
    out: list[str] = []
    cells = nb.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    if not code:
        return ["no code cells"]
    counts = [c.get("execution_count") for c in code]
    unrun = sum(n is None for n in counts)
    if unrun:
        out.append(f"{unrun} code cell(s) were never executed")
    elif counts != list(range(1, len(counts) + 1)):
        out.append(f"execution counts {counts} are not 1..{len(counts)}: not one fresh top-to-bottom run")
    for i, c in enumerate(code):
        tags = c.get("metadata", {}).get("tags", [])
        if "raises-exception" in tags:
            out.append(f"code cell {i} is allowed to raise (tag raises-exception)")
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"code cell {i} stored an error ({o.get('ename')})")
            data = o.get("data", {})
            if "image/svg+xml" in data:
                out.append(f"code cell {i} stored an SVG output (PNG only)")
            if "application/vnd.jupyter.widget-view+json" in data:
                out.append(f"code cell {i} stored a widget (a progress bar?)")
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(o.get("text", ""))
                if "it/s]" in text or "%|" in text:
                    out.append(f"code cell {i} stored a progress bar")
    if nb.get("metadata", {}).get("execution", {}).get("allow_errors"):
        out.append("notebook metadata allows errors")
    first = code[0]
    src = "".join(first.get("source", ""))
    if "remove-cell" not in first.get("metadata", {}).get("tags", []):
        out.append("first code cell (the Colab setup cell) is not tagged remove-cell")
    if "google.colab" not in src:
        out.append("first code cell is not the Colab setup cell")
    urls = SETUP_URL.findall(src)
    if urls != [repository_url]:
        out.append(f"setup cell installs from {urls}, not from the configured repository {repository_url}")
    if len(code) < 2 or "setup(" not in "".join(code[1].get("source", "")):
        out.append("second code cell does not call aevae.book.setup(...)")
    last = "".join(code[-1].get("source", ""))
    if "assert" not in last:
        out.append("the last code cell is not a claims cell (no assert)")
    return out
