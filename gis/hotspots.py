"""Getis-Ord Gi* hot and cold spots, with a false-discovery-rate correction.

Gi* compares the total of a feature *and its neighbours* with what the whole area's
mean would give for that many features. A large positive z says "this
neighbourhood has far more problems than the district as a whole"; a large
negative z, far fewer. Every result carries the plain quantities behind z: how many
neighbours were counted, their mean (the local mean) and the global mean.

Conventions (those of ``esda.G_Local(y, w, star=True, transform=...)``, to which the
z-scores are tested to 1e-6):

- ``transform="binary"`` (ArcGIS's default): every neighbour weighs 1 and the
  feature itself is added with weight 1. Then z is the textbook Gi* of Getis and Ord
  (1992) / ArcGIS: ``(sum_j w_ij x_j - xbar W_i) / (S sqrt((n W_i - W_i^2) / (n - 1)))``
  with ``S`` the population standard deviation.
- ``transform="row"``: the same neighbourhood (self included) is row-standardised,
  and the moments are esda's (each row's weights sum to 1), so z reduces to
  ``(local mean - global mean) / S``.

p-values are two-sided, from the normal distribution of z. The false-discovery-rate
correction is Benjamini-Hochberg, as in ArcGIS's Hot Spot Analysis: a feature is
significant at 90/95/99 % when its BH-adjusted p-value is at most 0.10/0.05/0.01;
the class (ArcGIS's ``Gi_Bin``) is then +/-1, 2 or 3, the sign of z saying hot or cold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from gis.errors import DataError

Transform = Literal["binary", "row"]
Floats = NDArray[np.float64]

#: Confidence levels of the classes: class k is significant at LEVELS[k - 1].
LEVELS = ((1, 0.10), (2, 0.05), (3, 0.01))

#: Class -> (Chinese, English) label.
CLASS_LABELS: dict[int, tuple[str, str]] = {
    3: ("热点（99%置信）", "Hot spot, 99% confidence"),
    2: ("热点（95%置信）", "Hot spot, 95% confidence"),
    1: ("热点（90%置信）", "Hot spot, 90% confidence"),
    0: ("不显著", "Not significant"),
    -1: ("冷点（90%置信）", "Cold spot, 90% confidence"),
    -2: ("冷点（95%置信）", "Cold spot, 95% confidence"),
    -3: ("冷点（99%置信）", "Cold spot, 99% confidence"),
}

_LABELS_ZH = np.array([CLASS_LABELS[k][0] for k in range(-3, 4)], dtype=object)
_LABELS_EN = np.array([CLASS_LABELS[k][1] for k in range(-3, 4)], dtype=object)


@dataclass(frozen=True)
class GiStar:
    """Gi* of every feature, with what it was computed from.

    ``z`` and ``p`` (two-sided, normal) are per feature; ``n_neighbours`` excludes the
    feature itself; ``local_mean`` is the (weighted) mean over the feature and its
    neighbours; ``global_mean`` and ``global_sd`` (population) are over all features.
    """

    z: Floats
    p: Floats
    n_neighbours: NDArray[np.int64]
    local_mean: Floats
    global_mean: float
    global_sd: float


def _values(values: ArrayLike, *, func: str) -> Floats:
    y = np.asarray(values, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(y))
    if len(bad):
        msg = (
            f"{func}: values must be finite numbers; {len(bad)} are missing or infinite "
            f"(first at positions {bad[:5].tolist()}); fill them (e.g. with 0 for counts)"
        )
        raise DataError(msg)
    return y


def _with_self(weights: sp.spmatrix, n: int, *, func: str) -> sp.csr_matrix:
    """Binary neighbourhood including the feature itself (esda's diagonal of 1)."""
    if weights.shape != (n, n):
        msg = (
            f"{func}: weights are {weights.shape[0]}x{weights.shape[1]} but there are "
            f"{n} values; build the weights from the same features, in the same order"
        )
        raise DataError(msg)
    coo = sp.coo_matrix(weights)
    off = (coo.row != coo.col) & (coo.data != 0)
    idx = np.arange(n)
    rows = np.concatenate([coo.row[off], idx])
    cols = np.concatenate([coo.col[off], idx])
    m = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    m.data[:] = 1.0
    return m


def gi_star_from_sums(
    local_sum: Floats, weight_sum: Floats, *, mean: float, sd: float, n: int
) -> Floats:
    """Gi* z for binary weights from each neighbourhood's total and size.

    ``local_sum`` is the sum of values over the neighbourhood (self included),
    ``weight_sum`` its number of members, ``mean`` and ``sd`` (population) are over
    all ``n`` observations. Where the variance is zero (all values equal, or a
    neighbourhood of everything) z is 0: there is nothing to test.

    >>> gi_star_from_sums(np.array([30.0]), np.array([3.0]), mean=5.0, sd=5.0, n=9).round(4)
    array([2.])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = sd * np.sqrt((n * weight_sum - weight_sum**2) / (n - 1))
        z = (local_sum - mean * weight_sum) / spread
    return np.where(np.isfinite(z) & (spread > 0), z, 0.0)


def gi_star(values: ArrayLike, weights: sp.spmatrix, *, transform: Transform = "binary") -> GiStar:
    """Getis-Ord Gi* of every feature (the feature counts as its own neighbour).

    Parameters
    ----------
    values
        One non-negative number per feature (problem counts, rates).
    weights
        Square sparse matrix of neighbours (non-zero = neighbour), in the order of
        ``values``; its diagonal is ignored (Gi* always includes the feature itself).
    transform
        ``"binary"`` or ``"row"`` (row-standardised, esda's moments).

    Examples
    --------
    A 3x3 lattice with queen neighbours and a busy corner:

    >>> from gis.weights import contiguity_weights
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoSeries([box(x, y, x + 1, y + 1) for y in range(3) for x in range(3)],
    ...                       crs=4548)
    >>> g = gi_star([9, 8, 0, 7, 0, 0, 0, 0, 0], contiguity_weights(cells))
    >>> g.z.round(2).tolist()
    [2.22, 1.4, -0.44, 1.4, 0.0, -1.4, -0.61, -1.58, -1.78]
    >>> g.n_neighbours.tolist(), float(g.local_mean[0]), round(g.global_mean, 3)
    ([3, 5, 3, 5, 8, 5, 3, 5, 3], 6.0, 2.667)
    """
    y = _values(values, func="gi_star")
    n = len(y)
    if transform not in ("binary", "row"):
        msg = f"gi_star: transform must be 'binary' or 'row', got {transform!r}"
        raise DataError(msg)
    if n < 3:
        msg = f"gi_star: needs at least 3 features to compare, got {n}"
        raise DataError(msg)
    w = _with_self(weights, n, func="gi_star")
    size = np.asarray(w.sum(axis=1)).ravel()
    local_sum = w @ y
    mean = float(y.mean())
    sd = float(np.sqrt(max(float((y**2).mean()) - mean**2, 0.0)))
    local_mean = local_sum / size
    if transform == "binary":
        z = gi_star_from_sums(local_sum, size, mean=mean, sd=sd, n=n)
    else:
        # Row-standardised weights sum to 1 per row; esda's moments then give
        # E[G] = 1/n and Var[G] = S^2 / (n xbar)^2, i.e. z = (local mean - xbar) / S.
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (local_mean - mean) / sd
        z = np.where(np.isfinite(z), z, 0.0)
    p = 2.0 * special.ndtr(-np.abs(z))
    return GiStar(
        z=np.asarray(z, dtype=np.float64),
        p=np.asarray(p, dtype=np.float64),
        n_neighbours=(size - 1).astype(np.int64),
        local_mean=np.asarray(local_mean, dtype=np.float64),
        global_mean=mean,
        global_sd=sd,
    )


def fdr_adjust(p: ArrayLike) -> Floats:
    """Benjamini-Hochberg adjusted p-values (q-values).

    A feature is significant at level alpha after the correction exactly when its
    adjusted value is at most alpha (the step-up rule of Benjamini and Hochberg).

    >>> fdr_adjust([0.01, 0.04, 0.03, 0.5]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    arr = np.asarray(p, dtype=np.float64).ravel()
    if arr.size == 0:
        return arr
    return np.asarray(stats.false_discovery_control(arr, method="bh"), dtype=np.float64)


def confidence_classes(z: ArrayLike, p: ArrayLike, *, fdr: bool = True) -> NDArray[np.int8]:
    """Hot (+) and cold (-) classes at 90/95/99 % confidence: -3..3 (ArcGIS's Gi_Bin).

    >>> confidence_classes([3.0, -2.1, 1.7, 0.2], [0.0027, 0.0357, 0.0891, 0.84], fdr=False)
    array([ 3, -2,  1,  0], dtype=int8)
    """
    zz = np.asarray(z, dtype=np.float64).ravel()
    pp = np.asarray(p, dtype=np.float64).ravel()
    if zz.shape != pp.shape:
        msg = f"confidence_classes: {zz.size} z-scores but {pp.size} p-values"
        raise DataError(msg)
    q = fdr_adjust(pp) if fdr else pp
    level = np.zeros(zz.shape, dtype=np.int8)
    for k, alpha in LEVELS:
        level[q <= alpha] = k
    return (np.sign(zz).astype(np.int8) * level).astype(np.int8)


def hotspots(
    frame: pd.DataFrame,
    *,
    column: str,
    weights: sp.spmatrix,
    transform: Transform = "binary",
    fdr: bool = True,
) -> pd.DataFrame:
    """Gi* hot and cold spots of ``frame[column]``, as a new frame with the same index.

    Adds ``gi_z``, ``gi_p``, ``gi_p_fdr`` (BH-adjusted), ``gi_class`` (-3..3),
    ``gi_label_zh``, ``gi_label_en``, ``n_neighbours``, ``local_mean`` and
    ``global_mean`` to a copy of ``frame`` (a GeoDataFrame stays one).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from gis.weights import contiguity_weights
    >>> cells = gpd.GeoDataFrame(
    ...     {"n": [40, 30, 0, 0, 35, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]},
    ...     geometry=[box(x, y, x + 1, y + 1) for y in range(4) for x in range(4)], crs=4548)
    >>> out = hotspots(cells, column="n", weights=contiguity_weights(cells), fdr=False)
    >>> out[["gi_class", "gi_label_en"]].head(2).to_dict("list")
    {'gi_class': [3, 2], 'gi_label_en': ['Hot spot, 99% confidence', 'Hot spot, 95% confidence']}
    """
    if column not in frame.columns:
        msg = f"hotspots: column {column!r} not found; columns are: {', '.join(map(str, frame.columns))}"
        raise DataError(msg)
    result = gi_star(frame[column].to_numpy(), weights, transform=transform)
    classes = confidence_classes(result.z, result.p, fdr=fdr)
    out = frame.copy()
    out["gi_z"] = result.z
    out["gi_p"] = result.p
    out["gi_p_fdr"] = fdr_adjust(result.p)
    out["gi_class"] = classes
    out["gi_label_zh"] = _LABELS_ZH[classes + 3]
    out["gi_label_en"] = _LABELS_EN[classes + 3]
    out["n_neighbours"] = result.n_neighbours
    out["local_mean"] = result.local_mean
    out["global_mean"] = result.global_mean
    return out
