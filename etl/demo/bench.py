"""Benchmark grid generation and road segmentation on demo districts, against peers.

``python -m etl.demo.bench --sizes S L --repeat 3`` prints a Markdown table. Peers,
run in the same process on the same inputs:

- grid: what a GIS engineer does by hand, a square fishnet of the target cell size
  intersected with the communities (``geopandas.overlay``), which leaves slivers and
  ignores roads;
- segments: noding every road at every crossing (``shapely.union_all`` of the lines),
  which cuts at hutong entrances too and names nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import click
import geopandas as gpd
import numpy as np
import shapely

from etl.demo.build import STREET_CLASSES, layout
from gis.grid import grid_cells
from gis.segments import segment_roads

TARGET_M2 = 10_000.0


def _median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` runs (CPU time kept in ``_CPU`` for the table)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    _CPU.append(statistics.median(cpu))
    return statistics.median(times), out


_CPU: list[float] = []


def fishnet_overlay(communities: gpd.GeoDataFrame, *, cell_m: float = 100.0) -> gpd.GeoDataFrame:
    """The peer: a square fishnet clipped to the communities."""
    x0, y0, x1, y1 = communities.total_bounds
    xs = np.arange(x0, x1, cell_m)
    ys = np.arange(y0, y1, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell_m, gy.ravel() + cell_m)
    net = gpd.GeoDataFrame(geometry=boxes, crs=communities.crs)
    return gpd.overlay(net, communities[["code", "geometry"]], how="intersection")


def run(size: str, *, repeat: int) -> list[dict[str, Any]]:
    """Timings of one size."""
    t = time.perf_counter()
    lay = layout(size)
    t_layout = time.perf_counter() - t
    comms = lay.communities
    streets = lay.roads[lay.roads.road_class.isin(STREET_CLASSES)]
    rows: list[dict[str, Any]] = []

    _CPU.clear()
    t_roads, cells = _median_time(lambda: grid_cells(comms, roads=streets), repeat)
    t_plain, plain = _median_time(lambda: grid_cells(comms), repeat)
    t_peer, peer = _median_time(lambda: fishnet_overlay(comms), repeat)
    c_roads, c_plain, c_peer = _CPU
    sliver = float((peer.area < 0.35 * TARGET_M2).mean())
    ours_sliver = float((cells.area_m2 < 0.35 * TARGET_M2).mean())
    rows.append(
        {"size": size, "task": "grid cells, following streets", "n": len(cells),
         "ours_s": t_roads, "ours_cpu": c_roads, "peer_s": t_peer, "peer_cpu": c_peer,
         "note": f"slivers {ours_sliver:.1%}"}
    )  # fmt: skip
    rows.append(
        {"size": size, "task": "grid cells, plain", "n": len(plain), "ours_s": t_plain,
         "ours_cpu": c_plain, "peer_s": t_peer, "peer_cpu": c_peer,
         "note": f"peer (fishnet overlay): {len(peer):,} cells, slivers {sliver:.1%}"}
    )  # fmt: skip
    geoms = np.asarray(lay.roads.geometry.values)
    _CPU.clear()
    t_seg, segs = _median_time(lambda: segment_roads(lay.roads), repeat)
    t_node, noded = _median_time(lambda: shapely.get_parts(shapely.union_all(geoms)), repeat)
    c_seg, c_node = _CPU
    rows.append(
        {"size": size, "task": "road segments", "n": len(segs), "ours_s": t_seg,
         "ours_cpu": c_seg, "peer_s": t_node, "peer_cpu": c_node,
         "note": f"peer (node all): {len(noded):,} unnamed pieces"}
    )  # fmt: skip
    rows.append(
        {"size": size, "task": "layout (roads, offices, communities)", "n": len(lay.roads),
         "ours_s": t_layout, "ours_cpu": float("nan"), "peer_s": float("nan"),
         "peer_cpu": float("nan"), "note": "one run"}
    )  # fmt: skip
    return rows


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["S", "L"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    click.echo(
        "| size | task | n | ours wall s | ours CPU s | peer wall s | peer CPU s "
        "| ours / peer (wall) | note |"
    )
    click.echo("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for size in args.sizes:
        for r in run(size, repeat=args.repeat):
            ratio = r["ours_s"] / r["peer_s"]
            click.echo(
                f"| {r['size']} | {r['task']} | {r['n']:,} | {r['ours_s']:.2f} | "
                f"{r['ours_cpu']:.2f} | {r['peer_s']:.2f} | {r['peer_cpu']:.2f} | {ratio:.2f} "
                f"| {r['note']} |".replace(" nan ", " - ")
            )


if __name__ == "__main__":
    main()
