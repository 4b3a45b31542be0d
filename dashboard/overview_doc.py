"""The overview's asset grid as one document, and its server-rendered first paint.

The overview is aggregated once for all sessions (``DashboardContext.cached``) into a small
document; ``assets/grid.js`` renders it in the browser as plain ``<a>`` tiles, and refreshes it
live. The first paint does not wait for Dash: the index page of ``/`` already carries the same
grid as static HTML (outside the React root), so the operator sees every asset's state as soon
as the HTML arrives; the live grid replaces it as soon as Dash has rendered (grid.js removes the
static copy), and navigating to another page removes it too. Both are built from the same
document by equivalent code (here and in grid.js), which the browser test checks.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import flask

from dashboard.context import DashboardContext, current, current_user
from dashboard.data.live import plant_overview
from dashboard.data.overview import Overview, Tile

CACHE_TTL_S = 1.0
MARKER = "<!--plantwatch:static-overview-->"
INDEX = f"""<!DOCTYPE html>
<html>
    <head>
        {{%metas%}}
        <title>{{%title%}}</title>
        {{%favicon%}}
        {{%css%}}
    </head>
    <body>
        {{%app_entry%}}
        {MARKER}
        <footer>
            {{%config%}}
            {{%scripts%}}
            {{%renderer%}}
        </footer>
    </body>
</html>"""


def overview(ctx: DashboardContext | None = None) -> Overview | None:
    """The shared overview (fresh within 1 s; up to ``refresh_s`` old while it is recomputed)."""
    ctx, user = ctx or current(), current_user()
    if user is None:
        return None
    return ctx.cached(
        "overview",
        CACHE_TTL_S,
        lambda: plant_overview(ctx.plant, ctx.api, ctx.store, user.token),
        stale_s=ctx.refresh_s,
    )


def _tile(t: Tile) -> list[str]:
    """[asset, health, CSS status(, silent sensors)]: the tooltip is written from these."""
    health = "--" if t.health is None else f"{t.health:.0f}"
    return [t.asset, health, t.status, *(["/".join(t.silent)] if t.silent else [])]


def grid_document(ov: Overview) -> dict:
    """The grid as plain data; assets/grid.js turns it into tiles in one pass."""
    return {
        "areas": [
            {
                "name": b.name,
                "n": len(b.tiles),
                "abnormal": b.abnormal,
                "tiles": [_tile(t) for t in b.tiles],
            }
            for b in ov.areas
        ]
    }


def grid_html(doc: dict) -> str:
    """The same markup grid.js writes, for the first paint."""
    esc = html.escape
    parts = []
    for area in doc["areas"]:
        parts.append(
            f'<section class="area"><h3>{esc(area["name"])} ({area["n"]} assets, '
            f'{area["abnormal"]} abnormal)</h3><div class="tiles">'
        )
        for t in area["tiles"]:
            tip = f"{t[0]}: health {t[1]}"
            tip += f", alarm {t[2][2:]}" if t[2].startswith("p-") else ""
            tip += f", silent: {t[3]}" if len(t) > 3 else ""
            href = "/asset/" + quote(t[0], safe="")
            parts.append(
                f'<a class="tile {esc(t[2])}" href="{href}" title="{esc(tip)}">'
                f"{esc(t[0])} {esc(t[1])}</a>"
            )
        parts.append("</div></section>")
    return "".join(parts)


def static_overview(index: str) -> str:
    """Dash index hook: on ``/`` for a logged-in user, the grid as HTML after the React root."""
    if MARKER not in index:
        return index
    wanted = flask.request.args.get("first_paint") != "0"  # ?first_paint=0: Dash only (A/B)
    if flask.request.path != "/" or current_user() is None or not wanted:
        return index.replace(MARKER, "")
    try:
        ov = overview()
    except Exception:  # the live page will say what is down; never block the index on it
        return index.replace(MARKER, "")
    block = (
        '<main class="content" id="overview-static"><div class="asset-grid">'
        + grid_html(grid_document(ov))
        + "</div></main>"
    )
    return index.replace(MARKER, block)
