"""The plain HTML status page: every experiment's arms with posterior means and intervals.

Each arm is one table row; its last cell draws the posterior on a fixed ``BAR_WIDTH``-pixel
axis from 0 to 1: the 90% credible interval as a bar of colour ``INTERVAL_COLOUR`` from
``lower * BAR_WIDTH`` to ``upper * BAR_WIDTH`` and the mean as a ``MEAN_COLOUR`` tick.  Fixed
colours and geometry make a screenshot checkable pixel by pixel.
"""

from __future__ import annotations

from html import escape

BAR_WIDTH = 400
INTERVAL_COLOUR = "#1f77b4"
MEAN_COLOUR = "#d62728"

_STYLE = f"""
body {{ font-family: sans-serif; margin: 16px; background: #ffffff; color: #111111; }}
table {{ border-collapse: collapse; margin-bottom: 24px; }}
td, th {{ padding: 4px 10px; text-align: left; border-bottom: 1px solid #dddddd; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.axis {{ position: relative; width: {BAR_WIDTH}px; height: 14px; background: #f2f2f2; }}
.interval {{ position: absolute; top: 0; height: 14px; background: {INTERVAL_COLOUR}; }}
.mean {{ position: absolute; top: 0; width: 2px; height: 14px; background: {MEAN_COLOUR}; }}
"""


def _row(arm: dict) -> str:
    left = round(arm["lower"] * BAR_WIDTH)
    width = max(1, round(arm["upper"] * BAR_WIDTH) - left)
    mean = min(BAR_WIDTH - 2, round(arm["mean"] * BAR_WIDTH))
    return (f'<tr class="arm"><td class="name">{escape(arm["arm"])}</td>'
            f'<td class="num">{arm["pulls"]}</td><td class="num">{arm["mean"]:.3f}</td>'
            f'<td class="num">[{arm["lower"]:.3f}, {arm["upper"]:.3f}]</td>'
            f'<td class="num">{arm["p_best"]:.3f}</td>'
            f'<td><div class="axis"><div class="interval" style="left:{left}px;'
            f'width:{width}px"></div><div class="mean" style="left:{mean}px"></div></div>'
            f'</td></tr>')


def render(experiments: list[tuple[str, list[dict]]]) -> str:
    """The page for ``[(experiment name, summarize(...) rows), ...]``."""
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
             "<title>bayesrec bandits</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Thompson sampling experiments</h1>"]
    if not experiments:
        parts.append("<p>No experiments yet: POST /experiments to create one.</p>")
    for name, arms in experiments:
        parts.append(f'<h2 class="experiment">{escape(name)}</h2>')
        parts.append("<table><tr><th>arm</th><th>pulls</th><th>mean</th>"
                     "<th>90% interval</th><th>P(best)</th><th>posterior on [0, 1]</th></tr>")
        parts.extend(_row(arm) for arm in arms)
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
