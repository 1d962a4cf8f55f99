"""A map of a demo district as a PNG (for the README): cells, roads, hutongs, hotspots.

Run ``python -m etl.demo.mapimage --size S --out docs/images/demo-district.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import shapely

from etl.demo.build import DemoData, build

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

FONT = "WenQuanYi Micro Hei"
_ROAD_STYLE = {  # class: (colour, width, z)
    "快速路": ("#f2f2f2", 3.2, 6),
    "主干路": ("#fbe3a0", 2.4, 5),
    "次干路": ("#ffffff", 1.4, 4),
    "支路": ("#ffffff", 0.8, 3),
    "胡同": ("#d9d4cc", 0.35, 2),
    "小街巷": ("#d9d4cc", 0.35, 2),
}


def render(
    data: DemoData,
    path: Path,
    *,
    days: int = 90,
    dpi: int = 150,
    zoom: tuple[float, float, float] | None = None,
) -> Path:
    """Draw ``data`` and save it as a PNG at ``path``.

    ``zoom`` = (x, y, half-width in m) adds a close-up of that square beside the map.
    """
    plt.rcParams["font.family"] = FONT
    cells = data.cells.copy()
    lon_lat = gpd.points_from_xy(data.problems.lon, data.problems.lat, crs=4326).to_crs(data.crs)
    recent = pd.to_datetime(data.problems.reported_at.str[:19]) >= pd.Timestamp(
        data.as_of - dt.timedelta(days=days)
    )
    pts = np.asarray(lon_lat[recent.to_numpy()])
    tree = shapely.STRtree(np.asarray(cells.geometry.values))
    p, c = tree.query(pts, predicate="intersects")
    counts = np.bincount(c[np.unique(p, return_index=True)[1]], minlength=len(cells))
    cells["rate"] = counts / (cells.area_m2 / 1e4)

    x0, y0, x1, y1 = data.admin[data.admin.level == "district"].total_bounds
    height = 13.0
    width = max(6.0, height * (x1 - x0) / (y1 - y0) + 1.5)
    if zoom is not None:
        width += 7.5
    fig = plt.figure(figsize=(width, height), facecolor="#1d2630")
    main_w = (width - 7.5) / width if zoom is not None else 1.0
    ax = fig.add_axes((0.0, 0.0, main_w, 0.95))
    ax.set_facecolor("#1d2630")
    heat = LinearSegmentedColormap.from_list(
        "heat", ["#2b3a47", "#3d5366", "#8c6d46", "#d9822b", "#f0b233", "#fff1a8"]
    )
    vmax = float(np.quantile(cells.rate, 0.985)) or 1.0
    cells.plot(ax=ax, column="rate", cmap=heat, vmin=0, vmax=vmax, edgecolor="#1d2630",
               linewidth=0.15, zorder=1)  # fmt: skip
    data.parks.clip(data.admin.union_all()).plot(ax=ax, color="#2f5d3a", alpha=0.85, zorder=1.5)
    for cls, (colour, width_pt, z) in _ROAD_STYLE.items():
        sel = data.roads[data.roads.road_class == cls]
        if len(sel):
            sel.plot(ax=ax, color=colour, linewidth=width_pt, zorder=z, alpha=0.9)
    offices = data.admin[data.admin.level == "street_office"]
    offices.boundary.plot(ax=ax, color="#7fd1ff", linewidth=1.0, linestyle="--", zorder=7)
    data.admin[data.admin.level == "district"].boundary.plot(ax=ax, color="#7fd1ff",
                                                             linewidth=2.0, zorder=8)  # fmt: skip
    for row in offices.itertuples():
        rp = row.geometry.representative_point()
        ax.text(rp.x, rp.y, row.name.replace("街道办事处", ""), color="#e8f6ff",
                fontsize=9 if len(offices) < 25 else 6, ha="center", va="center", zorder=9,
                bbox={"boxstyle": "round,pad=0.2", "fc": "#1d2630", "ec": "none", "alpha": 0.6})  # fmt: skip
    mk = data.markets.geometry.centroid
    ax.scatter(mk.x, mk.y, marker="s", s=14, color="#ff5c5c", zorder=10, linewidths=0)
    ax.set_xlim(x0 - 200, x1 + 200)
    ax.set_ylim(y0 - 200, y1 + 200)
    ax.set_aspect("equal")
    ax.set_axis_off()
    # scale bar, 1 km
    sx, sy = x0 + 100, y0 + 150
    ax.plot([sx, sx + 1000], [sy, sy], color="white", linewidth=2.5, zorder=11)
    ax.text(sx + 500, sy + 120, "1 km", color="white", ha="center", fontsize=9, zorder=11)
    title = data.admin[data.admin.level == "district"].name.iloc[0]
    n_recent = int(recent.sum())
    ax.set_title(
        f"{title} 演示区：{len(cells):,} 个单元网格 · {len(data.segments):,} 个路段 · "
        f"近{days}天问题 {n_recent:,} 件",
        color="white", fontsize=13, loc="left",
    )  # fmt: skip
    legend = [
        Line2D([], [], color=_ROAD_STYLE["主干路"][0], lw=2.4, label="主干路 / 快速路"),
        Line2D([], [], color="#ffffff", lw=1.2, label="次干路 / 支路"),
        Line2D([], [], color=_ROAD_STYLE["胡同"][0], lw=0.8, label="胡同 / 小街巷"),
        Line2D([], [], color="#7fd1ff", lw=1, ls="--", label="街道边界"),
        Patch(color="#f0b233", label="问题热点（每公顷件数）"),
        Patch(color="#2f5d3a", label="公园"),
        Line2D([], [], marker="s", color="#ff5c5c", lw=0, label="市场"),
    ]
    leg = ax.legend(handles=legend, loc="upper right", fontsize=8, facecolor="#1d2630",
                    edgecolor="#3d5366", labelcolor="white")  # fmt: skip
    leg.set_zorder(12)
    fig.text(0.01, 0.005, "合成演示数据；行政区划代码与边界：adcode (Vonng), CC BY 4.0",
             color="#8aa0b3", fontsize=7)  # fmt: skip
    if zoom is not None:
        _inset(fig, ax, data, cells, zoom, heat=heat, vmax=vmax)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor())
    plt.close(fig)
    return path


def _inset(
    fig: plt.Figure,
    ax: plt.Axes,
    data: DemoData,
    cells: gpd.GeoDataFrame,
    zoom: tuple[float, float, float],
    *,
    heat: LinearSegmentedColormap,
    vmax: float,
) -> None:
    """A close-up: cells with their outlines, every hutong, segment ends."""
    x, y, r = zoom
    w = fig.get_figwidth()
    box = shapely.box(x - r, y - r, x + r, y + r)
    zx = fig.add_axes((1 - 7.3 / w, 0.2, 7.0 / w, 0.6))
    zx.set_facecolor("#1d2630")
    sel = cells[cells.intersects(box)]
    sel.plot(ax=zx, column="rate", cmap=heat, vmin=0, vmax=vmax, edgecolor="#7f93a6",
             linewidth=0.4)  # fmt: skip
    for cls, (colour, width_pt, z) in _ROAD_STYLE.items():
        roads = data.roads[(data.roads.road_class == cls) & data.roads.intersects(box)]
        if len(roads):
            lane = z < 3
            roads.plot(ax=zx, color="#c3ced8" if lane else colour,
                       linewidth=1.0 if lane else width_pt * 1.5, zorder=z)  # fmt: skip
    segs = data.segments[data.segments.intersects(box)]
    ends = shapely.get_point(np.asarray(segs.geometry.values), -1)
    zx.scatter(shapely.get_x(ends), shapely.get_y(ends), s=4, color="#7fd1ff", zorder=9)
    streets = segs[segs.kind == "street"]
    for row in streets.itertuples():
        mid = row.geometry.interpolate(0.5, normalized=True)
        if box.buffer(-120).contains(mid) and row.length_m > 180:
            zx.text(mid.x, mid.y, row.road_name, fontsize=6.5, color="#fff1a8", ha="center",
                    va="center", zorder=10)  # fmt: skip
    lanes = segs[(segs.kind == "lane") & (segs.length_m > 120)]
    for row in lanes.iloc[::3].itertuples():
        mid = row.geometry.interpolate(0.5, normalized=True)
        if box.buffer(-100).contains(mid):
            zx.text(mid.x, mid.y + 6, row.road_name, fontsize=5, color="#c9d3dc", ha="center",
                    zorder=10)  # fmt: skip
    zx.set_xlim(x - r, x + r)
    zx.set_ylim(y - r, y + r)
    zx.set_aspect("equal")
    zx.set_xticks([])
    zx.set_yticks([])
    zx.set_xlabel("")
    zx.set_ylabel("")
    for spine in zx.spines.values():
        spine.set_color("#7fd1ff")
    zx.set_title(f"局部放大 {2 * r / 1000:.1f} km × {2 * r / 1000:.1f} km：单元网格、胡同与路段端点",
                 color="white", fontsize=11, loc="left")  # fmt: skip
    ax.add_patch(plt.Rectangle((x - r, y - r), 2 * r, 2 * r, fill=False, edgecolor="#7fd1ff",
                               linewidth=1.5, zorder=12))  # fmt: skip


def main() -> None:
    """Command line: build a district and draw it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="S")
    parser.add_argument("--seed", type=int, default=2004)
    parser.add_argument("--out", type=Path, default=Path("docs/images/demo-district.png"))
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--zoom", type=float, nargs=3, default=None, metavar=("X", "Y", "R"),
                        help="close-up square: centre x, y and half-width (m)")  # fmt: skip
    args = parser.parse_args()
    data = build(args.size, seed=args.seed)
    zoom = tuple(args.zoom) if args.zoom else _default_zoom(data)
    render(data, args.out, dpi=args.dpi, zoom=zoom)


def _default_zoom(data: DemoData, half_m: float = 600.0) -> tuple[float, float, float]:
    """A close-up of the old city: the square with the most hutong per square metre."""
    lanes = np.asarray(data.segments.geometry[data.segments.kind == "lane"].values)
    mids = shapely.get_coordinates(shapely.line_interpolate_point(lanes, 0.5, normalized=True))
    length = shapely.length(lanes)
    x0, y0, x1, y1 = data.admin.total_bounds
    best, where = -1.0, (float(x0 + x1) / 2, float(y0 + y1) / 2)
    for x in np.arange(x0 + half_m, x1 - half_m, 150.0):
        for y in np.arange(y0 + half_m, y1 - half_m, 150.0):
            inside = (np.abs(mids[:, 0] - x) < half_m) & (np.abs(mids[:, 1] - y) < half_m)
            total = float(length[inside].sum())
            if total > best:
                best, where = total, (float(x), float(y))
    return (where[0], where[1], half_m)


if __name__ == "__main__":
    main()
