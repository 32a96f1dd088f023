"""Inline SVG figures for the report (matplotlib, no files, no fonts embedded)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence


def line_svg(
    x: Sequence[float],
    series: dict[str, Sequence[float | None]],
    *,
    xlabel: str,
    ylabel: str,
    hline: tuple[float, str] | None = None,
) -> str:
    """A small line chart as an SVG string, ready to inline in HTML."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: searchable, and no glyph outlines bloat the file
            "svg.hashsalt": "securetune",  # deterministic element ids: same facts, same bytes
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        fig, ax = plt.subplots(figsize=(5.6, 2.4), dpi=100)
        for label, ys in series.items():
            points = [(a, b) for a, b in zip(x, ys, strict=False) if b is not None]
            if points:
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="o",
                    markersize=2.5,
                    linewidth=1.4,
                    label=label,
                    color="#1f4e79",
                )
        if hline is not None:
            ax.axhline(hline[0], color="#b03a2e", linestyle="--", linewidth=1)
            ax.annotate(
                hline[1],
                xy=(1, hline[0]),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                color="#b03a2e",
                fontsize=8,
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.ticklabel_format(axis="y", useOffset=False)  # no "+1.03e1" offset a reader must add back
        ax.grid(alpha=0.25)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: it is inlined in HTML
    return re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
