"""Execute notebooks headless with injected parameters, and render them to HTML.

Every notebook has one cell tagged ``parameters`` holding its defaults.  :func:`run_notebook`
inserts a cell right after it with the overrides (as papermill does), executes the notebook with
nbclient in the notebook's own folder, and optionally writes the executed HTML (plotly figures
embedded, so reports open offline).  Tests use it with small parameters so notebooks never rot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

from olkit.errors import OlkitError

PARAMETERS_TAG = "parameters"
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


class NotebookFailed(OlkitError):
    """A cell raised; the message names the notebook and the cell."""


def notebook_paths() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def inject_parameters(nb: nbformat.NotebookNode, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """Insert an ``injected-parameters`` cell after the ``parameters`` cell (or first)."""
    if not parameters:
        return nb
    lines = ["# Parameters injected by olkit.notebooks.run_notebook"]
    lines += [f"{key} = {value!r}" for key, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    index = next(
        (i + 1 for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])),
        0,
    )
    nb.cells.insert(index, cell)
    return nb


def run_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    html_out: str | Path | None = None,
    executed_out: str | Path | None = None,
    timeout: int = 1800,
) -> nbformat.NotebookNode:
    """Execute a notebook; return the executed notebook.  Raises :class:`NotebookFailed`."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = inject_parameters(nbformat.read(path, as_version=4), parameters or {})
    env_backup = dict(os.environ)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["OLKIT_HEADLESS"] = "1"  # plotly renders inline HTML for nbconvert
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    except CellExecutionError as err:
        raise NotebookFailed(f"{path.name}: a cell failed:\n{str(err)[-3000:]}") from None
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    if executed_out:
        nbformat.write(nb, str(executed_out))
    if html_out:
        write_html(nb, html_out)
    return nb


def write_html(nb: nbformat.NotebookNode, out: str | Path) -> Path:
    """Render an executed notebook to standalone HTML."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Error outputs left in an executed notebook (empty when every cell ran)."""
    return [o.get("ename", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
