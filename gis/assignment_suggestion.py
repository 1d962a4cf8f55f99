"""Street-head suggestions (街长制): a head for every segment, connected and balanced.

:func:`suggest_heads` proposes a level-3 head for every segment so that each head's
segments are connected along the road network and workloads (:func:`workload`:
segment length and problem load, weights configurable) are balanced; existing
assignments can be locked so that only gaps are filled. The partitioner itself
(:mod:`gis.partition`) is a plain graph algorithm; this module turns segments, people
and locks into its inputs and its labels back into people.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from gis.assignment_rules import require_columns
from gis.errors import DataError
from gis.partition import balanced_partition


def workload(
    segments: pd.DataFrame, *, length_weight: float = 0.5, load_weight: float = 0.5
) -> pd.Series:
    """Workload of each segment: weighted length and problem load, each relative to its mean.

    A segment of average length with an average number of problems weighs
    ``length_weight + load_weight``; with no problems anywhere only length counts.

    Parameters
    ----------
    segments
        Columns ``length_m`` and, optionally, ``problems`` (a count over some period).
    length_weight, load_weight
        Non-negative weights of the two parts.

    Examples
    --------
    >>> segs = pd.DataFrame({"length_m": [100.0, 300.0], "problems": [3, 3]})
    >>> workload(segs).round(3).tolist()
    [0.75, 1.25]
    """
    require_columns(segments, ("length_m",), "segments", "workload")
    if length_weight < 0 or load_weight < 0 or length_weight + load_weight <= 0:
        msg = (
            f"workload: weights must be non-negative and not both zero, got length "
            f"{length_weight} and problem load {load_weight}"
        )
        raise DataError(msg)
    length = segments["length_m"].astype("float64")
    if length.isna().any() or (length < 0).any():
        bad = segments.index[length.isna() | (length < 0)]
        msg = (
            f"workload: {len(bad)} segment(s) have no or a negative length_m (first: "
            f"{', '.join(map(str, bad[:5]))}); recompute lengths from the geometry"
        )
        raise DataError(msg)
    problems = (
        segments["problems"].astype("float64").fillna(0.0)
        if "problems" in segments.columns
        else pd.Series(0.0, index=segments.index)
    )
    out = pd.Series(0.0, index=segments.index, name="workload")
    if length.mean() > 0:
        out += length_weight * length / length.mean()
    if problems.mean() > 0:
        out += load_weight * problems / problems.mean()
    return out


@dataclass(frozen=True)
class Suggestion:
    """A proposed street head for every segment, with the workloads it gives.

    ``assignment`` is indexed like the segments (``person_id``, ``workload``, ``locked``);
    ``heads`` is indexed by person (``n_segments``, ``length_m``, ``problems``,
    ``workload``, ``ratio`` to the mean, ``pieces`` along the network, 1 = connected).
    """

    assignment: pd.DataFrame
    heads: pd.DataFrame
    max_over_mean: float
    min_over_mean: float
    connected: bool
    balanced: bool
    notes: tuple[str, ...]


def suggest_heads(
    segments: pd.DataFrame,
    adjacency: sp.spmatrix | sp.sparray,
    people: Sequence[int],
    *,
    locked: pd.Series | None = None,
    length_weight: float = 0.5,
    load_weight: float = 0.5,
    max_imbalance: float = 0.05,
    seed: int = 0,
    time_limit_s: float = 4.0,
) -> Suggestion:
    """Propose a street head for every segment: connected areas, balanced workloads.

    Parameters
    ----------
    segments
        Indexed by segment id, with ``length_m`` and optionally ``problems``.
    adjacency
        Which segments meet along the network (:func:`gis.network.segment_adjacency`),
        rows in ``segments`` order.
    people
        Ids of the people available.
    locked
        Existing assignments to keep (segment id -> person id); their holders are added
        to ``people`` when missing, and only the other segments are given out.
    length_weight, load_weight
        Weights of length and problem load in the workload (see :func:`workload`).
    max_imbalance
        Target: the heaviest workload at most this fraction above the mean.
    seed
        Makes the suggestion reproducible (unless the time limit cuts it short).
    time_limit_s
        Wall-clock time the balancing may take (see :func:`gis.partition.balanced_partition`).

    Notes
    -----
    With a metric ``geometry`` column, a piece of network too small for a head of its
    own (under half a mean workload: typically a stray segment cut off by a gap in the
    road data) is joined to the nearest segment of another piece; the notes say so.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> segs = pd.DataFrame({"length_m": [100.0] * 4}, index=[11, 12, 13, 14])
    >>> path = sp.diags([1.0, 1.0], [-1, 1], shape=(4, 4))
    >>> s = suggest_heads(segs, path, [7, 8], locked=pd.Series({14: 8}))
    >>> s.assignment["person_id"].tolist(), s.max_over_mean, s.connected
    ([7, 7, 8, 8], 1.0, True)
    """
    ids = [int(p) for p in dict.fromkeys(people)]
    lock_map = {} if locked is None else {int(k): int(v) for k, v in locked.dropna().items()}
    unknown = sorted(set(lock_map) - set(segments.index))
    if unknown:
        msg = (
            f"suggest_heads: {len(unknown)} locked segment(s) are not among the segments "
            f"(first: {', '.join(map(str, unknown[:5]))}); lock only segments being planned"
        )
        raise DataError(msg)
    notes: list[str] = []
    extra = sorted(set(lock_map.values()) - set(ids))
    if extra:
        notes.append(f"{len(extra)} holder(s) of locked segments added to the people available")
        ids += extra
    if not ids:
        msg = "suggest_heads: no people available; name at least one person"
        raise DataError(msg)
    part_of = {p: i for i, p in enumerate(ids)}
    lock = np.full(len(segments), -1, dtype=np.intp)
    if lock_map:
        lock[segments.index.get_indexer(list(lock_map))] = [part_of[p] for p in lock_map.values()]
    weights = workload(segments, length_weight=length_weight, load_weight=load_weight)
    if "geometry" in segments.columns:
        adjacency, joined = _bridge_small_pieces(segments, adjacency, weights, len(ids))
        if joined:
            notes.append(joined)
    part = balanced_partition(
        adjacency,
        weights.to_numpy(),
        n_parts=len(ids),
        locked=lock,
        max_imbalance=max_imbalance,
        seed=seed,
        time_limit_s=time_limit_s,
    )
    person = np.asarray(ids, dtype=np.int64)[part.labels]
    assignment = pd.DataFrame(
        {"person_id": person, "workload": weights.to_numpy(), "locked": lock >= 0},
        index=segments.index,
    )
    problems = segments["problems"] if "problems" in segments.columns else 0
    per = pd.DataFrame(
        {"person_id": person, "length_m": segments["length_m"].to_numpy(), "problems": problems}
    ).groupby("person_id")
    mean = float(part.loads.mean()) or 1.0
    heads = pd.DataFrame(
        {
            "n_segments": np.bincount(part.labels, minlength=len(ids)),
            "length_m": per["length_m"].sum().reindex(ids, fill_value=0.0).to_numpy(),
            "problems": per["problems"].sum().reindex(ids, fill_value=0).to_numpy(),
            "workload": part.loads,
            "ratio": part.loads / mean,
            "pieces": part.pieces,
        },
        index=pd.Index(ids, name="person_id"),
    )
    return Suggestion(
        assignment=assignment,
        heads=heads,
        max_over_mean=part.max_over_mean,
        min_over_mean=part.min_over_mean,
        connected=part.connected,
        balanced=part.balanced,
        notes=tuple(notes) + tuple(_in_words(n, segments.index, ids) for n in part.notes),
    )


def _bridge_small_pieces(
    segments: pd.DataFrame, adjacency: Any, weights: pd.Series, n_people: int
) -> tuple[sp.csr_matrix, str]:
    """Join each network piece under half a mean workload to its nearest other piece."""
    adj = sp.csr_matrix(adjacency)
    n_comp, comp_raw = sp.csgraph.connected_components(adj, directed=False)
    if n_comp <= 1:
        return adj, ""
    comp = np.asarray(comp_raw)
    load = np.bincount(comp, weights=weights.to_numpy(), minlength=n_comp)
    small = np.flatnonzero(load < 0.5 * float(weights.sum()) / max(n_people, 1))
    if len(small) == 0 or len(small) == n_comp:
        return adj, ""
    geoms = np.asarray(segments.geometry.values, dtype=object)
    big = np.flatnonzero(~np.isin(comp, small))
    tree = shapely.STRtree(geoms[big])
    mine = np.flatnonzero(np.isin(comp, small))
    (src, dst), dist = tree.query_nearest(geoms[mine], return_distance=True, all_matches=False)
    best = pd.DataFrame({"comp": comp[mine[src]], "a": mine[src], "b": big[dst], "d": dist})
    best = best.sort_values("d").drop_duplicates("comp")
    extra = sp.coo_matrix(
        (np.ones(2 * len(best)), (np.r_[best["a"], best["b"]], np.r_[best["b"], best["a"]])),
        shape=adj.shape,
    )
    note = (
        f"{len(best)} small piece(s) of network ({int(np.isin(comp, small).sum())} segments) "
        f"are not connected to the rest; each was joined to its nearest segment (gaps up to "
        f"{best['d'].max():,.0f} m), so the heads given them are connected only across that gap"
    )
    return (adj + extra).tocsr(), note


def _in_words(note: str, segment_ids: pd.Index, people: list[int]) -> str:
    """Name segments and people in a partitioner note instead of vertex and part numbers."""
    note = note.replace("vertex/vertices", "segment(s)").replace("part(s)", "head(s)")
    note = note.replace("locked vertices", "locked segments").replace("vertices", "segments")
    note = re.sub(r"vertex (\d+)", lambda m: f"segment {segment_ids[int(m.group(1))]}", note)
    note = re.sub(r"part (\d+)", lambda m: f"person {people[int(m.group(1))]}", note)
    return note.replace("mean part load", "mean workload").replace("heaviest part", "heaviest head")
