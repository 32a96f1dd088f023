"""Render a report document as HTML (Jinja2, inline CSS and SVG), PDF (WeasyPrint) or JSON.

Templates live in the top-level ``audit/templates/`` so an auditor can read them without
Python; the wheel installs them under ``share/securetune/audit/templates``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from securetune.errors import SecuretuneError

TEMPLATE = "report.html.j2"


class RenderError(SecuretuneError):
    """The report could not be rendered (missing template, PDF engine unavailable)."""


def template_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [
        here.parents[3] / "audit" / "templates",
        Path(sys.prefix) / "share" / "securetune" / "audit" / "templates",
    ]


def _json_safe(value: Any) -> Any:
    """JSON has no infinity: an unbounded epsilon (a --no-dp run) is written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def to_json(doc: dict[str, Any]) -> bytes:
    return (
        json.dumps(_json_safe(doc), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode()


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞ (no DP)"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def to_html(doc: dict[str, Any]) -> str:
    import jinja2

    dirs = [d for d in template_dirs() if (d / TEMPLATE).is_file()]
    if not dirs:
        raise RenderError("report templates not found (audit/templates); reinstall securetune")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(dirs[0])),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    return env.get_template(TEMPLATE).render(doc=doc, figures=_figures(doc))


def _figures(doc: dict[str, Any]) -> dict[str, Any]:
    from markupsafe import Markup

    from securetune.report.plots import line_svg

    series = (doc.get("training") or {}).get("series")
    if not series or not series.get("step"):
        return {}
    target = (doc.get("guarantee") or {}).get("epsilon_target")
    figures = {
        "loss": Markup(
            line_svg(
                series["step"],
                {"train loss": series["loss"]},
                xlabel="step",
                ylabel="loss (non-private)",
            )
        ),
    }
    if any(e is not None for e in series["epsilon"]):
        figures["epsilon"] = Markup(
            line_svg(
                series["step"],
                {"epsilon": series["epsilon"]},
                xlabel="step",
                ylabel="epsilon spent",
                hline=(float(target), f"target {target:g}") if target else None,
            )
        )
    return figures


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # The report is self-contained; WeasyPrint must never reach for a URL (offline by design).
    raise RenderError(f"the report tried to load an external resource: {url[:60]}")


def to_pdf(html: str) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango system library is missing
        raise RenderError(
            f"PDF output needs WeasyPrint and the Pango library ({type(exc).__name__}); "
            "install them or use --format html"
        ) from None
    return weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
