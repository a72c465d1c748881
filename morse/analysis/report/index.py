"""``reports/index.html``: every experiment under ``reports/`` with its verdict matrix in small,
read from the ``verdicts.json`` each report writes next to its ``index.html``, linked to it.

Rebuilt by ``morse-bench index`` (the workflow's ``index`` rule runs it after each report); it
lists what it finds, so a report made by another config (another experiment) appears too. An
experiment whose summary is missing or unreadable is listed with the reason, never an error.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import jinja2

from morse.analysis.inputs.answer import read_summaries
from morse.analysis.report.answer import LEGEND
from morse.analysis.report.build import SUMMARY_NAME, TEMPLATE_DIR
from morse.common import atomic_path

__all__ = ["INDEX_TEMPLATE", "build_index"]

INDEX_TEMPLATE = "index.html.j2"
_KEYS = ("line", "reading", "matrix", "generated", "phantoms")


def _problem(data: dict | None) -> str:
    """Why a summary cannot be shown ("" when it can)."""
    if data is None:
        return ""
    missing = [k for k in _KEYS if k not in data]
    matrix = data.get("matrix")
    if not missing and not (isinstance(matrix, dict) and isinstance(matrix.get("rows"), list)
                            and isinstance(matrix.get("columns"), list)):  # fmt: skip
        missing = ["matrix.rows", "matrix.columns"]
    return f"{SUMMARY_NAME} lacks {', '.join(missing)}; rerun its report" if missing else ""


def build_index(reports_dir: Path, out_html: Path | None = None) -> Path:
    """Write ``reports_dir/index.html`` (or ``out_html``) atomically and return its path."""
    reports_dir = Path(reports_dir)
    out_html = Path(out_html) if out_html is not None else reports_dir / "index.html"
    summaries = read_summaries(reports_dir, SUMMARY_NAME)
    entries = []
    for s in summaries:
        problem = s.problem or _problem(s.data)
        entries.append({"experiment": s.experiment, "link": f"{s.folder.name}/index.html",
                        "has_report": (s.folder / "index.html").is_file(),
                        "data": None if problem else s.data, "problem": problem})  # fmt: skip
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    html = env.get_template(INDEX_TEMPLATE).render(
        entries=entries, legend=LEGEND,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))  # fmt: skip
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out_html
