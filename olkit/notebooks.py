"""Execute notebooks headless with injected parameters, render them to HTML, collect headlines.

Every notebook has one cell tagged ``parameters`` holding its defaults.  :func:`run_notebook`
inserts a cell right after it with the overrides (as papermill does), executes the notebook with
nbclient in the notebook's own folder, and optionally writes the executed HTML (plotly figures
embedded, so reports open offline).  Tests use it with small parameters so notebooks never rot.

Headless runs show text progress bars: ``tqdm.auto`` in a kernel would draw ipywidgets, which
neither the HTML report nor a log can show, so a setup cell (removed again before the HTML is
written) points ``tqdm.auto`` at the plain-text bar; ``progress=`` echoes those bars to the caller.

A notebook publishes its headline numbers with :func:`headline`; the tour lists them in its index::

    from olkit.notebooks import headline
    headline(false_rejection=0.032, synthetic_auroc=0.997)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from olkit.errors import OlkitError

PARAMETERS_TAG = "parameters"
SETUP_TAG = "olkit-headless-setup"
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: MIME type of the display output :func:`headline` writes (a JSON object of name -> value).
HEADLINE_MIME = "application/vnd.olkit.headline+json"

_SETUP_SOURCE = """# headless run (olkit.notebooks): text progress bars instead of ipywidgets
import tqdm.auto as _olkit_tqdm_auto, tqdm.autonotebook as _olkit_tqdm_nb, tqdm.std as _olkit_tqdm_std
_olkit_tqdm_auto.tqdm = _olkit_tqdm_nb.tqdm = _olkit_tqdm_std.tqdm
_olkit_tqdm_auto.trange = _olkit_tqdm_nb.trange = _olkit_tqdm_std.trange"""


class NotebookFailed(OlkitError):
    """A cell raised, timed out, or the kernel died; the message names the notebook and the cell.

    ``nb`` holds the notebook as far as it ran (outputs included), ``kind`` is ``"error"``,
    ``"timeout"`` or ``"budget"``.
    """

    def __init__(self, message: str, *, nb: nbformat.NotebookNode | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.nb = nb
        self.kind = kind


# -- headline numbers --------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def headline(values: Mapping[str, Any] | None = None, /, **named: Any) -> dict[str, Any]:
    """Publish a notebook's headline numbers: the tour's index lists them next to the notebook.

    Call it anywhere in a notebook, as often as you like (later values of a name win); names
    with spaces go in a mapping.  Values are numbers or short strings.  Shows one text line.

    >>> headline(false_rejection=0.032, n_items=850)
    headline: false_rejection = 0.032, n_items = 850
    {'false_rejection': 0.032, 'n_items': 850}
    """
    data = {str(k): _jsonable(v) for k, v in {**(values or {}), **named}.items()}
    text = "headline: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in data.items())
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is a dependency
        shell = None
    if shell is None:
        print(text)
    else:
        from IPython.display import display

        display({HEADLINE_MIME: data, "text/plain": text}, raw=True)
    return data


def collect_headlines(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The headline numbers an executed notebook published with :func:`headline` (in order)."""
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if HEADLINE_MIME in data:
                out.update(data[HEADLINE_MIME])
    return out


# -- running -----------------------------------------------------------------------------------
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


def _first_line(cell: Any) -> str:
    src = (cell.get("source") or "").strip().splitlines()
    return src[0][:80] if src else ""


def _client_class() -> type:
    from nbclient import NotebookClient

    class _EchoClient(NotebookClient):
        """nbclient that also hands every stream output to ``echo(text, cell_index)``."""

        echo: Callable[[str, int], None] | None = None

        def output(self, outs, msg, display_id, cell_index):  # noqa: ANN001, ANN201 - nbclient's signature
            if self.echo is not None and msg.get("msg_type") == "stream":
                try:
                    self.echo(msg["content"].get("text", ""), cell_index)
                except Exception:  # noqa: BLE001 - a progress echo must never break a run
                    pass
            return super().output(outs, msg, display_id, cell_index)

    return _EchoClient


def run_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    html_out: str | Path | None = None,
    executed_out: str | Path | None = None,
    timeout: int = 1800,
    budget: float | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> nbformat.NotebookNode:
    """Execute a notebook; return the executed notebook.  Raises :class:`NotebookFailed`.

    ``timeout``: seconds per cell; ``budget``: seconds for the whole notebook (a cell still
    running when it is spent is interrupted: ``NotebookFailed(kind="budget")``).  ``progress``
    gets the stream text (progress bars included) of the running cells as it arrives.
    On failure ``html_out`` still gets the notebook as far as it ran, with the error in it.

    >>> nb = run_notebook(NOTEBOOK_DIR / "01_ingestion.ipynb", {"n_contributors": 12})  # doctest: +SKIP
    >>> collect_headlines(nb)                                                           # doctest: +SKIP
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = inject_parameters(nbformat.read(path, as_version=4), parameters or {})
    setup = nbformat.v4.new_code_cell(_SETUP_SOURCE)
    setup.metadata["tags"] = [SETUP_TAG]
    nb.cells.insert(0, setup)
    env_backup = dict(os.environ)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_MININTERVAL", "5")  # a text bar line every 5 s, not every update
    os.environ["OLKIT_HEADLESS"] = "1"  # plotly renders inline HTML for nbconvert
    start = time.monotonic()
    current: dict[str, Any] = {"index": 0, "cell": None}

    def cell_timeout(cell: Any) -> int:
        if budget is None:
            return timeout
        return max(1, min(timeout, math.ceil(budget - (time.monotonic() - start))))

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        current.update(index=cell_index, cell=cell)

    failure: NotebookFailed | None = None
    client = _client_class()(nb, timeout=timeout, timeout_func=cell_timeout, kernel_name="python3",
                             coalesce_streams=True, on_cell_start=on_start,
                             resources={"metadata": {"path": str(path.parent)}})
    client.echo = progress
    # cell numbers count the notebook's own cells from 0 (the setup cell is not one of them)
    where = lambda: f"cell {current['index'] - 1} ({_first_line(current['cell'] or {})!r})"  # noqa: E731
    try:
        client.execute()
    except CellExecutionError as err:
        ename = getattr(err, "ename", "") or "Error"
        evalue = (getattr(err, "evalue", "") or str(err).strip().splitlines()[-1])[:500]
        failure = NotebookFailed(f"{path.name}: {where()} raised {ename}: {evalue}", nb=nb)
    except CellTimeoutError:
        spent = time.monotonic() - start
        if budget is not None and spent >= budget - 1:
            failure = NotebookFailed(f"{path.name}: over its time budget of {budget:.0f} s "
                                     f"(stopped in {where()} after {spent:.0f} s)", nb=nb, kind="budget")
        else:
            failure = NotebookFailed(f"{path.name}: {where()} ran past the {timeout} s cell timeout",
                                     nb=nb, kind="timeout")
    except DeadKernelError as err:
        failure = NotebookFailed(f"{path.name}: the kernel died in {where()}: {str(err)[:300]}", nb=nb)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    nb.cells = [c for c in nb.cells if SETUP_TAG not in c.get("metadata", {}).get("tags", [])]
    if executed_out:
        nbformat.write(nb, str(executed_out))
    if html_out:
        write_html(nb, html_out)
    if failure is not None:
        raise failure
    return nb


def write_html(nb: nbformat.NotebookNode, out: str | Path) -> Path:
    """Render an executed notebook to standalone HTML (atomically)."""
    from nbconvert import HTMLExporter

    from olkit.kit import write_text_atomic

    body, _ = HTMLExporter().from_notebook_node(nb)
    return write_text_atomic(out, body)


def cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Error outputs left in an executed notebook (empty when every cell ran)."""
    return [o.get("ename", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
