"""Emerging hot spots: how each place's hot- or cold-spot status changes over time.

The method is that of ArcGIS's Emerging Hot Spot Analysis:

1. **Space-time Gi*.** Counts per place and period form a cube (places x periods).
   The neighbourhood of bin (place i, period t) is i and its spatial neighbours, in
   period t and in the ``time_steps`` periods before it (never later ones): ArcGIS's
   "neighbourhood time step". Gi* (binary weights, bin itself included) is computed
   against the mean and spread of the *whole cube* (ArcGIS's default global window),
   and its p-values are corrected for false discoveries over all bins at once.
2. **Trend.** The Mann-Kendall test (ties corrected in the variance,
   continuity-corrected z, two-sided p, as ``pymannkendall.original_test``) on each
   place's series of Gi* z-scores says whether clustering intensifies or fades.
3. **Patterns.** A bin is a significant hot (cold) spot when its corrected class is
   positive (negative) at the chosen confidence (90 % by default, as ArcGIS's bins
   of +/-1 and more). Each place gets one pattern, following ArcGIS's published
   definitions (checked in this order; cold patterns mirror hot ones, and a place
   that is a hot or cold spot in the final period is described by that kind, which
   takes precedence over a *historical* pattern of the other kind, as in sfdep):

   - *intensifying / diminishing*: hot in at least 90 % of periods including the
     final one, with a significant upward / downward trend;
   - *persistent*: hot in at least 90 % of periods including the final one, no
     significant trend;
   - *historical*: hot in at least 90 % of periods, but not in the final one;
   - *oscillating*: hot in the final period, hot in less than 90 %, and a
     significant cold spot in some earlier period;
   - *new*: hot in the final period and never before;
   - *consecutive*: hot in an uninterrupted run of at least two final periods,
     never before that run, less than 90 % of periods hot;
   - *sporadic*: hot in the final period, on and off before, less than 90 % hot,
     never cold;
   - otherwise *none* (no pattern detected).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy import special

from gis.errors import DataError
from gis.hotspots import _with_self, confidence_classes, fdr_adjust, gi_star_from_sums

Floats = NDArray[np.float64]

#: Pattern key -> (Chinese, English) label; keys are the values of ``pattern``.
PATTERN_LABELS: dict[str, tuple[str, str]] = {
    "new_hot": ("新增热点", "New hot spot"),
    "consecutive_hot": ("连续热点", "Consecutive hot spot"),
    "intensifying_hot": ("加剧热点", "Intensifying hot spot"),
    "persistent_hot": ("持续热点", "Persistent hot spot"),
    "diminishing_hot": ("减弱热点", "Diminishing hot spot"),
    "sporadic_hot": ("零星热点", "Sporadic hot spot"),
    "oscillating_hot": ("振荡热点", "Oscillating hot spot"),
    "historical_hot": ("历史热点", "Historical hot spot"),
    "new_cold": ("新增冷点", "New cold spot"),
    "consecutive_cold": ("连续冷点", "Consecutive cold spot"),
    "intensifying_cold": ("加剧冷点", "Intensifying cold spot"),
    "persistent_cold": ("持续冷点", "Persistent cold spot"),
    "diminishing_cold": ("减弱冷点", "Diminishing cold spot"),
    "sporadic_cold": ("零星冷点", "Sporadic cold spot"),
    "oscillating_cold": ("振荡冷点", "Oscillating cold spot"),
    "historical_cold": ("历史冷点", "Historical cold spot"),
    "none": ("无明显模式", "No pattern detected"),
}

_CONFIDENCE_CLASS = {90: 1, 95: 2, 99: 3}


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall trend test of each row: S, its variance, z, two-sided p, Kendall's tau."""

    s: Floats
    var_s: Floats
    z: Floats
    p: Floats
    tau: Floats


def mann_kendall(series: ArrayLike) -> MannKendall:
    """Mann-Kendall trend test of every row of a (places x periods) array, vectorised.

    Ties are corrected in the variance; z has the continuity correction; p is
    two-sided. Matches ``pymannkendall.original_test`` row by row.

    >>> r = mann_kendall([[1, 2, 3, 4, 5], [5, 3, 3, 2, 1]])
    >>> r.s.tolist(), r.tau.tolist()
    ([10.0, -9.0], [1.0, -0.9])
    >>> r.p.round(4).tolist()
    [0.0275, 0.0433]
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[1] < 3:
        msg = f"mann_kendall: needs a (places x periods) array with 3 or more periods, got shape {x.shape}"
        raise DataError(msg)
    if not np.isfinite(x).all():
        msg = "mann_kendall: series must be complete (no missing or infinite values)"
        raise DataError(msg)
    n = x.shape[1]
    s = np.zeros(x.shape[0])
    ties = np.zeros(x.shape[0])
    for k in range(n):
        later = x[:, k + 1 :] - x[:, k : k + 1]
        s += np.sign(later).sum(axis=1)
        # size of the tie group of element k, counted once per member
        t = (x == x[:, k : k + 1]).sum(axis=1).astype(np.float64)
        ties += (t - 1.0) * (2.0 * t + 5.0)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(
            s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s), 0.0)
        )
    z = np.where(np.isfinite(z), z, 0.0)
    p = 2.0 * special.ndtr(-np.abs(z))
    tau = s / (0.5 * n * (n - 1))
    return MannKendall(s=s, var_s=var_s, z=z, p=p, tau=tau)


def space_time_weights(
    weights: sp.spmatrix, n_periods: int, *, time_steps: int = 1
) -> sp.csr_matrix:
    """The explicit space-time neighbourhood matrix (bins ordered period-major).

    Bin ``t * n + i`` (place i, period t) has as neighbours place i and its spatial
    neighbours in periods ``t - time_steps .. t``, itself included (diagonal 1).
    :func:`space_time_gi_star` never builds it; it exists to explain and test.

    >>> w = sp.csr_matrix(np.array([[0, 1], [1, 0]]))
    >>> space_time_weights(w, 2, time_steps=1).toarray().astype(int).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    """
    n = weights.shape[0]
    spatial = _with_self(weights, n, func="space_time_weights")
    lag = np.zeros((n_periods, n_periods))
    for t in range(n_periods):
        lag[t, max(0, t - time_steps) : t + 1] = 1.0
    return sp.csr_matrix(sp.kron(sp.csr_matrix(lag), spatial, format="csr"))


def space_time_gi_star(
    counts: ArrayLike, weights: sp.spmatrix, *, time_steps: int = 1
) -> tuple[Floats, Floats]:
    """Gi* z and two-sided p of every bin of a (places x periods) cube.

    Equal to ``esda.G_Local(cube, space_time_weights(...), transform="B")`` on the
    flattened cube, without building the large matrix.

    >>> w = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))
    >>> z, p = space_time_gi_star([[0, 1, 9], [0, 2, 8], [1, 1, 0]], w, time_steps=1)
    >>> z.round(2).tolist()
    [[-1.12, -1.3, 1.96], [-1.12, -1.3, 1.96], [-0.44, -0.66, -0.89]]
    """
    y = np.asarray(counts, dtype=np.float64)
    if y.ndim != 2:
        msg = f"space_time_gi_star: counts must be (places x periods), got shape {y.shape}"
        raise DataError(msg)
    if time_steps < 0:
        msg = f"space_time_gi_star: time_steps must be 0 or more, got {time_steps}"
        raise DataError(msg)
    if not np.isfinite(y).all():
        msg = "space_time_gi_star: counts must be complete (fill missing periods with 0)"
        raise DataError(msg)
    n, periods = y.shape
    spatial = _with_self(weights, n, func="space_time_gi_star")
    size = np.asarray(spatial.sum(axis=1)).ravel()
    lagged = np.asarray(spatial @ y)
    total = np.cumsum(lagged, axis=1)
    window = total.copy()
    if time_steps + 1 < periods:
        window[:, time_steps + 1 :] -= total[:, : periods - time_steps - 1]
    steps_in = np.minimum(np.arange(periods), time_steps) + 1.0
    weight_sum = size[:, np.newaxis] * steps_in[np.newaxis, :]
    n_bins = y.size
    mean = float(y.mean())
    sd = float(np.sqrt(max(float((y**2).mean()) - mean**2, 0.0)))
    z = gi_star_from_sums(window, weight_sum, mean=mean, sd=sd, n=n_bins)
    p = 2.0 * special.ndtr(-np.abs(z))
    return z, p


def classify_patterns(
    classes: ArrayLike,
    trend_z: ArrayLike,
    trend_p: ArrayLike,
    *,
    confidence: int = 90,
    trend_alpha: float = 0.05,
) -> NDArray[np.object_]:
    """Pattern key of each place from its per-period classes (-3..3) and z trend.

    Parameters
    ----------
    classes
        (places x periods) hot/cold classes after the FDR correction.
    trend_z, trend_p
        Mann-Kendall z and p of each place's Gi* z series.
    confidence
        90, 95 or 99: the confidence a bin needs to count as a hot or cold spot.
    trend_alpha
        Significance level of the trend.

    Examples
    --------
    >>> classify_patterns([[0, 0, 0, 0, 3], [2, 2, 3, 2, 3], [0, 0, 0, 0, 0]],
    ...                   [1.0, 0.5, 0.0], [0.3, 0.6, 1.0]).tolist()
    ['new_hot', 'persistent_hot', 'none']
    """
    c = np.asarray(classes, dtype=np.int64)
    if c.ndim != 2 or c.shape[1] < 2:
        msg = (
            f"classify_patterns: classes must be (places x periods) with 2+ periods, got {c.shape}"
        )
        raise DataError(msg)
    if confidence not in _CONFIDENCE_CLASS:
        msg = f"classify_patterns: confidence must be 90, 95 or 99, got {confidence}"
        raise DataError(msg)
    level = _CONFIDENCE_CLASS[confidence]
    tz = np.asarray(trend_z, dtype=np.float64).ravel()
    tp = np.asarray(trend_p, dtype=np.float64).ravel()
    if not (len(tz) == len(tp) == c.shape[0]):
        msg = f"classify_patterns: {c.shape[0]} places but {len(tz)} trend z and {len(tp)} trend p"
        raise DataError(msg)
    significant_trend = tp < trend_alpha
    periods = c.shape[1]
    out = np.full(c.shape[0], "none", dtype=object)
    # Historical patterns first: a place hot in 90 % of periods but cold in the final
    # one is described by the final period (oscillating cold), which overwrites it.
    for kind, sign in (("hot", 1), ("cold", -1)):
        spot = (c * sign) >= level
        mostly = spot.sum(axis=1) >= 0.9 * periods
        out[mostly & ~spot[:, -1]] = f"historical_{kind}"
    for kind, sign in (("hot", 1), ("cold", -1)):
        spot = (c * sign) >= level
        other = (c * -sign) >= level
        key = _final_pattern(kind, spot, other, tz * sign, significant_trend)
        out[key != ""] = key[key != ""]
    return out


def _final_pattern(
    kind: str,
    spot: NDArray[np.bool_],
    other: NDArray[np.bool_],
    trend_up: Floats,
    significant_trend: NDArray[np.bool_],
) -> NDArray[np.object_]:
    """Patterns of places that are a spot of this kind in the final period ("" if none)."""
    periods = spot.shape[1]
    n_spot = spot.sum(axis=1)
    mostly = n_spot >= 0.9 * periods
    final = spot[:, -1]
    # length of the uninterrupted run of spots that ends in the final period
    gap_from_end = ~spot[:, ::-1]
    run = np.where(gap_from_end.any(axis=1), np.argmax(gap_from_end, axis=1), periods)
    spot_before_run = n_spot > run
    ever_other = other.any(axis=1)
    rules = (
        (f"intensifying_{kind}", mostly & significant_trend & (trend_up > 0)),
        (f"diminishing_{kind}", mostly & significant_trend & (trend_up < 0)),
        (f"persistent_{kind}", mostly),
        (f"oscillating_{kind}", ever_other),
        (f"new_{kind}", n_spot == 1),
        (f"consecutive_{kind}", (run >= 2) & ~spot_before_run),
        (f"sporadic_{kind}", np.ones(len(final), dtype=bool)),
    )
    out = np.full(len(final), "", dtype=object)
    unset = final.copy()
    for key, rule in rules:
        hit = rule & unset
        out[hit] = key
        unset &= ~hit
    return out


def emerging_hotspots(
    counts: pd.DataFrame,
    *,
    weights: sp.spmatrix,
    time_steps: int = 1,
    confidence: int = 90,
    trend_alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Emerging hot-spot pattern of every place from its counts per period.

    Parameters
    ----------
    counts
        One row per place (in the order of ``weights``), one column per period in
        time order (e.g. months), problem counts as values.
    weights
        Spatial neighbours of the places (:mod:`gis.weights`).
    time_steps
        How many earlier periods belong to a bin's neighbourhood (ArcGIS's
        neighbourhood time step; 0: space only).
    confidence
        90, 95 or 99: confidence a bin needs to count as a hot or cold spot.
    trend_alpha
        Significance level of the Mann-Kendall trend.
    fdr
        Correct the bins' p-values for false discoveries (over the whole cube).

    Returns
    -------
    pandas.DataFrame
        Same index as ``counts``; columns ``pattern`` (a key of
        :data:`PATTERN_LABELS`), ``label_zh``, ``label_en``, ``trend_z``, ``trend_p``,
        ``tau``, ``n_hot``, ``n_cold``, ``n_periods``, ``final_z``, ``final_class``,
        ``total`` and ``final_count``.

    Examples
    --------
    A 5x5 lattice over 6 months whose central 3x3 block stays busy while the rest is quiet:

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from gis.weights import contiguity_weights
    >>> cells = gpd.GeoSeries([box(x, y, x + 1, y + 1) for y in range(5) for x in range(5)],
    ...                       crs=4548)
    >>> cube = np.zeros((25, 6))
    >>> cube[[6, 7, 8, 11, 12, 13, 16, 17, 18]] = [4, 5, 4, 5, 4, 5]
    >>> out = emerging_hotspots(pd.DataFrame(cube), weights=contiguity_weights(cells))
    >>> out.loc[12, "pattern"], out.loc[12, "label_zh"], int(out.loc[12, "n_hot"])
    ('persistent_hot', '持续热点', 6)
    """
    if counts.shape[1] < 3:
        msg = (
            f"emerging_hotspots: needs at least 3 periods to see a trend, got {counts.shape[1]}; "
            "widen the time window or use shorter periods"
        )
        raise DataError(msg)
    y = counts.to_numpy(dtype=np.float64)
    z, p = space_time_gi_star(y, weights, time_steps=time_steps)
    classes = confidence_classes(z.ravel(), p.ravel(), fdr=fdr).reshape(z.shape)
    trend = mann_kendall(z)
    pattern = classify_patterns(
        classes, trend.z, trend.p, confidence=confidence, trend_alpha=trend_alpha
    )
    level = _CONFIDENCE_CLASS[confidence]
    return pd.DataFrame(
        {
            "pattern": pattern,
            "label_zh": [PATTERN_LABELS[k][0] for k in pattern],
            "label_en": [PATTERN_LABELS[k][1] for k in pattern],
            "trend_z": trend.z,
            "trend_p": trend.p,
            "tau": trend.tau,
            "n_hot": (classes >= level).sum(axis=1),
            "n_cold": (classes <= -level).sum(axis=1),
            "n_periods": y.shape[1],
            "final_z": z[:, -1],
            "final_class": classes[:, -1],
            "total": counts.sum(axis=1).to_numpy(),
            "final_count": counts.iloc[:, -1].to_numpy(),
        },
        index=counts.index,
    )


__all__ = [
    "PATTERN_LABELS",
    "MannKendall",
    "classify_patterns",
    "emerging_hotspots",
    "fdr_adjust",
    "mann_kendall",
    "space_time_gi_star",
    "space_time_weights",
]
