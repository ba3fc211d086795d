"""The navigation bar at the top of every dashboard page.

Every notebook the dashboard serves starts with ``nav_bar("<this notebook>.ipynb")``:
one line of links to every page in the notebooks folder (landing page, analyses,
apps), the current page marked. The same output carries the page's small style
sheet: cells tagged :data:`TEST_ONLY_TAG` (they exist for the notebook tests, e.g.
``# NBVAL_CHECK_OUTPUT`` cells) or :data:`NOTEBOOK_ONLY_TAG` (notes for notebook
users, such as the table of environment variables) are hidden in the dashboard,
whose template marks each cell with a ``celltag_<tag>`` class; Jupyter and nbval
still run and show them.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

__all__ = ["NOTEBOOK_ONLY_TAG", "PAGES", "PLOTLY_SETDATA_GUARD", "TEST_ONLY_TAG", "nav_bar", "nav_html", "page_list"]

#: cell tag of the cells that exist for the notebook tests only: hidden by the dashboard's style sheet
TEST_ONLY_TAG = "test-only"
#: cell tag of notes for notebook users only (the environment-variable table): hidden in the dashboard too
NOTEBOOK_ONLY_TAG = "notebook-only"

#: short link text and group of the known pages, in reading order; other notebooks follow, named by file
PAGES = {
    "index.ipynb": ("Home", "home"),
    "00_overview.ipynb": ("Overview", "analyses"),
    "01_block_accuracy.ipynb": ("Table 1", "analyses"),
    "01b_probe.ipynb": ("Every layer", "analyses"),
    "02_clustering.ipynb": ("Clustering", "analyses"),
    "04_reduced_space.ipynb": ("Table 2", "analyses"),
    "07_reproduce.ipynb": ("Reproduce", "analyses"),
    "05_retrieval_app.ipynb": ("Retrieval", "apps"),
    "06_extractor_app.ipynb": ("Extractor", "apps"),
    "03_umap_explorer.ipynb": ("UMAP explorer", "apps"),
    "08_catalog_audit.ipynb": ("Catalog audit", "apps"),
}
_GROUPS = {"home": "", "analyses": "Analyses", "apps": "Apps", "other": "More"}

#: Voilà (0.5) renders a page's static outputs by handing each renderer the output's plain JSON object, where
#: JupyterLab hands it an output model. The Plotly extension (jupyterlab-plotly >= 6) draws the figure, then caches a
#: PNG of it in the model with ``model.setData(...)``: on a plain object that throws ``TypeError: r.setData is not a
#: function`` once per static figure, after the figure is drawn. Nothing in Voilà reads that PNG back (a page is never
#: saved), so only that one rejection is stopped here; every other error still reaches the console.
PLOTLY_SETDATA_GUARD = """
<script>
(function () {
  if (window.attrUtilsPlotlyGuard) { return; }
  window.attrUtilsPlotlyGuard = true;
  window.addEventListener("unhandledrejection", function (event) {
    var r = event.reason;
    if (r instanceof TypeError && /\\.setData is not a function$/.test(r.message)
        && /jupyterlab-plotly/.test(String(r.stack))) {
      event.preventDefault();
    }
  });
})();
</script>
"""

_CSS = f"""
<style>
.celltag_{TEST_ONLY_TAG}, .celltag_{NOTEBOOK_ONLY_TAG} {{ display: none !important; }}
.attr-utils-nav {{ display: flex; flex-wrap: wrap; align-items: center; gap: 4px 14px; padding: 6px 10px;
  margin: 0 0 10px 0; background: #263238; border-radius: 4px; font-size: 13px; line-height: 1.6; }}
.attr-utils-nav .attr-utils-nav-group {{ color: #b0bec5; text-transform: uppercase; font-size: 11px;
  letter-spacing: .05em; margin-left: 6px; }}
.attr-utils-nav a.attr-utils-nav-link {{ color: #eceff1 !important; text-decoration: none; padding: 1px 6px; border-radius: 3px; }}
.attr-utils-nav a.attr-utils-nav-link:hover {{ background: #37474f; }}
.attr-utils-nav a.attr-utils-nav-link[aria-current="page"] {{ background: #eceff1; color: #263238 !important;
  font-weight: bold; }}
</style>
"""


def page_list(notebooks: str | os.PathLike | None = None) -> list[tuple[str, str, str]]:
    """The dashboard's pages: ``(file name, link text, group)`` for every notebook in ``notebooks``.

    Parameters
    ----------
    notebooks : path-like, optional
        The notebooks folder (default: the working directory, which is the
        running notebook's folder in Jupyter, in Voilà and under nbval).

    Returns
    -------
    list of (str, str, str)
        Known pages first in :data:`PAGES` order, then any other ``*.ipynb``
        by name (link text: the file name without ``.ipynb``, group
        ``"other"``). Only notebooks that exist are listed.
    """
    if notebooks is None:
        notebooks = Path.cwd()
    present = {p.name for p in Path(notebooks).glob("*.ipynb") if not p.name.startswith(".")}
    known = [(name, text, group) for name, (text, group) in PAGES.items() if name in present]
    others = [(name, name[: -len(".ipynb")], "other") for name in sorted(present - set(PAGES))]
    return known + others


def nav_html(current: str, *, notebooks: str | os.PathLike | None = None) -> str:
    """The navigation bar as HTML (see :func:`nav_bar`).

    Links are relative (``05_retrieval_app.ipynb``): on a page served at
    ``/voila/render/<page>.ipynb`` they open ``/voila/render/<other>.ipynb``,
    under any base URL the server runs at.
    """
    esc = html.escape
    parts, group_shown = [], None
    for name, text, group in page_list(notebooks):
        if group != group_shown and _GROUPS.get(group):
            parts.append(f'<span class="attr-utils-nav-group">{esc(_GROUPS[group])}</span>')
        group_shown = group
        here = ' aria-current="page"' if name == current else ""
        # target: JupyterLab's HTML renderer opens links without one in a new tab
        parts.append(f'<a class="attr-utils-nav-link" href="{esc(name)}" target="_self"{here}>{esc(text)}</a>')
    return f'{_CSS}{PLOTLY_SETDATA_GUARD}<nav class="attr-utils-nav" aria-label="dashboard pages">{"".join(parts)}</nav>'


def nav_bar(current: str, *, notebooks: str | os.PathLike | None = None):
    """The navigation bar for the page ``current``, to display in a notebook's first cell.

    Parameters
    ----------
    current : str
        File name of the page showing the bar, e.g. ``"01_block_accuracy.ipynb"``;
        its link is marked ``aria-current="page"``.
    notebooks : path-like, optional
        The notebooks folder (default: the working directory, the running
        notebook's folder).

    Returns
    -------
    IPython.display.HTML
        One line of links to every page (:func:`page_list`), plus the style
        sheet that hides cells tagged :data:`TEST_ONLY_TAG` in the dashboard.
    """
    from IPython.display import HTML

    return HTML(nav_html(current, notebooks=notebooks))
