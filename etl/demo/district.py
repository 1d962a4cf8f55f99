"""Street offices and communities as polygons, derived from their centres.

The real data gives codes, names and (for most communities) a centre, but no
boundaries. Boundaries are derived the way a planner would draw them: each piece of
the district goes to the nearest centre (a Voronoi tiling), boundaries are moved onto
the nearest main or secondary road where the piece cut off is small, and every
street office and community is made one connected piece. Street offices come first
(from the centres of their communities), then the communities inside each one;
communities with no known centre are placed in the emptiest part of their office.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from gis.faces import absorb_detached, dissolve, polygonize_within, shared_borders
from gis.voronoi import place_seeds, voronoi_faces


@dataclass
class Divisions:
    """Street offices and communities with derived polygons (metric CRS)."""

    street_offices: gpd.GeoDataFrame  # code, name, geometry
    communities: gpd.GeoDataFrame  # code, name, parent_code, geometry, seed_x, seed_y, known


def _snap_to_blocks(
    faces: NDArray[np.object_],
    labels: NDArray[np.intp],
    blocks: NDArray[np.object_],
    *,
    max_area_m2: float,
    max_share: float,
    keep_one: bool,
) -> NDArray[np.intp]:
    """Within each road block, hand small minority pieces to the block's main label."""
    areas = shapely.area(faces)
    tree = shapely.STRtree(blocks)
    face_pt, block_idx = tree.query(shapely.point_on_surface(faces), predicate="intersects")
    block_of = np.full(len(faces), -1)
    block_of[face_pt] = block_idx
    df = pd.DataFrame({"block": block_of, "label": labels, "area": areas})
    df = df[df.block >= 0]
    per = df.groupby(["block", "label"], as_index=False)["area"].sum()
    total = per.groupby("block")["area"].transform("sum")
    main = per.loc[per.groupby("block")["area"].idxmax(), ["block", "label"]]
    main_of = dict(zip(main.block, main.label, strict=True))
    per["share"] = per.area / total
    small = per[(per.area < max_area_m2) | (per.share < max_share)]
    small = small[small.label.to_numpy() != small.block.map(main_of).to_numpy()]
    new = labels.copy()
    label_total = df.groupby("label")["area"].sum()
    for row in small.sort_values("area").itertuples():
        if keep_one:
            # never take a community's last piece of land
            remaining = label_total.get(row.label, 0.0) - row.area
            if remaining <= 1.0:
                continue
            label_total[row.label] = remaining
        hit = (block_of == row.block) & (new == row.label)
        new[hit] = main_of[row.block]
    return new


def _regions(
    extent: shapely.Geometry,
    seeds_xy: NDArray[np.float64],
    seed_label: NDArray[np.intp],
    n_labels: int,
    roads: NDArray[np.object_],
    *,
    max_area_m2: float,
    max_share: float,
    keep_one: bool,
) -> NDArray[np.object_]:
    """Polygons of ``n_labels`` labels: Voronoi of the seeds, snapped to road blocks,
    each label in one piece."""
    faces, nearest = voronoi_faces(seeds_xy, extent, lines=roads)
    labels = seed_label[nearest]
    blocks = polygonize_within(extent, roads)
    labels = _snap_to_blocks(
        faces, labels, blocks, max_area_m2=max_area_m2, max_share=max_share, keep_one=keep_one
    )
    areas = shapely.area(faces)
    borders = shared_borders(faces)
    # anchor: the face holding each label's first seed still labelled with it
    anchor = []
    tree = shapely.STRtree(faces)
    pts, idx = tree.query(shapely.points(seeds_xy), predicate="intersects")
    for s, f in zip(pts, idx, strict=True):
        if labels[f] == seed_label[s]:
            anchor.append(f)
    labels = absorb_detached(labels, areas, borders, anchor=np.array(anchor, dtype=np.intp))
    return dissolve(faces, labels, n_labels)


def derive_divisions(
    district: shapely.Geometry,
    divisions: pd.DataFrame,
    *,
    office_roads: NDArray[np.object_],
    community_roads: NDArray[np.object_],
    crs: int,
) -> Divisions:
    """Polygons for the street offices and communities in ``divisions``.

    ``divisions`` has code, name, level, parent_code and metric ``x``/``y`` of the
    centre (NaN when unknown). Street-office boundaries follow ``office_roads`` (main
    and secondary roads), community boundaries ``community_roads`` (down to branch
    roads) where the piece moved is small.
    """
    offices = divisions[divisions.level == "street_office"].reset_index(drop=True)
    comms = divisions[divisions.level == "community"].reset_index(drop=True)
    office_idx = {c: i for i, c in enumerate(offices.code)}
    comm_office = comms.parent_code.map(office_idx).to_numpy()

    known = comms.x.notna().to_numpy().copy()
    xy = comms[["x", "y"]].to_numpy(dtype=float)
    inside = np.zeros(len(comms), dtype=bool)
    inside[known] = shapely.contains_xy(district, xy[known, 0], xy[known, 1])
    known &= inside
    # a centre repeating another (within 40 m) says nothing new: treat it as unknown
    order = np.flatnonzero(known)
    if len(order) > 1:
        pairs = cKDTree(xy[order]).query_pairs(40.0, output_type="ndarray")
        known[order[pairs[:, 1]]] = False
    k = np.flatnonzero(known)

    office_geoms = _regions(
        district, xy[k], comm_office[k], len(offices), office_roads,
        max_area_m2=250_000.0, max_share=0.5, keep_one=True,
    )  # fmt: skip

    comm_geoms = np.full(len(comms), shapely.Polygon(), dtype=object)
    seeds = np.full((len(comms), 2), np.nan)
    for o, region in enumerate(office_geoms):
        members = np.flatnonzero(comm_office == o)
        if region.is_empty or len(members) == 0:
            continue
        have = members[known[members]]
        have = have[shapely.contains_xy(region, xy[have, 0], xy[have, 1])]
        need = np.setdiff1d(members, have)
        placed = place_seeds(region, xy[have], len(need), spacing_m=20.0)
        seeds[have] = xy[have]
        seeds[need] = placed
        local_roads = community_roads[shapely.intersects(community_roads, region)]
        geoms = _regions(
            region, seeds[members], np.arange(len(members)), len(members), local_roads,
            max_area_m2=30_000.0, max_share=0.3, keep_one=True,
        )  # fmt: skip
        comm_geoms[members] = geoms

    street_offices = gpd.GeoDataFrame(
        {"code": offices.code, "name": offices.name}, geometry=list(office_geoms), crs=crs
    )
    communities = gpd.GeoDataFrame(
        {
            "code": comms.code,
            "name": comms.name,
            "parent_code": comms.parent_code,
            "seed_x": seeds[:, 0],
            "seed_y": seeds[:, 1],
            "known": known,
        },
        geometry=list(comm_geoms),
        crs=crs,
    )
    return Divisions(street_offices=street_offices, communities=communities)
