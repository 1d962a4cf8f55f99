"""Problem reports (事件/部件) that cluster and pulse the way real case lists do.

Where: around markets, along catering streets, at hutong entrances, beside public
toilets and garbage stations, thinly along every street and lane, and at a few
emerging hotspots that appear, grow or fade over the period. What: categories drawn
per place (market disorder at markets, parking at hutong entrances, lights and
covers along streets) with their own seasons (mosquitoes in summer, rodents in
spring and autumn, fewer reports over the Spring Festival). When: patrols report on
working days in working hours; citizens and the 12345 hotline also in the evening and
at weekends. Handling: each category's deadline (working hours, working days or
calendar time), a handling time around half of it (slower in some street offices),
so most cases close on time, some late, and those still open at "now" are at their
stage of the workflow, some of them overdue. Everything is vectorised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

Floats = NDArray[np.float64]

SOURCES = ("patrol", "hotline", "citizen", "video", "inspection")
_SOURCE_P = (0.80, 0.09, 0.07, 0.03, 0.01)

# Category weights by the kind of place a report comes from.
PLACE_CATEGORIES: dict[str, dict[str, float]] = {
    "market": {"09020": 5, "09006": 4, "09005": 3, "06010": 3, "06019": 1, "12001": 2,
               "06017": 2, "10002": 1, "12005": 1},
    "catering": {"06019": 4, "09005": 3, "12001": 2, "12003": 2, "12005": 2, "09010": 2,
                 "06010": 2, "10001": 1, "06017": 1},
    "entrance": {"10001": 4, "10002": 3, "10003": 2, "06010": 3, "09008": 3, "06012": 2,
                 "06013": 2, "07002": 2, "10004": 1},
    "street": {"10001": 3, "07001": 1, "07002": 2, "07003": 1, "07004": 1, "01010": 1,
               "01020": 0.5, "01030": 0.4, "02010": 1.5, "02020": 0.5, "02030": 0.3,
               "02040": 0.5, "02050": 0.4, "04020": 0.3, "04030": 0.5, "06014": 2,
               "06017": 1, "09006": 1.5, "09007": 1, "10003": 2, "10005": 0.5,
               "06016": 0.6, "08001": 0.4, "08002": 0.3, "04010": 0.2},
    "lane": {"06010": 3, "06011": 2, "06012": 2, "06013": 2, "09008": 3, "09009": 2,
             "10002": 2, "10004": 1, "01010": 0.5, "02010": 1, "06015": 1, "12001": 1,
             "12004": 1, "04010": 0.3, "07002": 1, "12002": 0.5},
    "toilet": {"06018": 4, "06017": 2, "12005": 2, "12004": 1, "12001": 1, "06015": 1,
               "12002": 1},
}  # fmt: skip
PLACE_SHARE = {
    "market": 0.11,
    "catering": 0.12,
    "entrance": 0.14,
    "street": 0.30,
    "lane": 0.21,
    "toilet": 0.06,
    "hotspot": 0.06,
}
# Monthly factors (Jan..Dec) by season group.
_MONTHS = {
    "flat": (0.8, 0.75, 0.95, 1.0, 1.05, 1.1, 1.1, 1.1, 1.05, 1.0, 0.95, 0.85),
    "rodent": (0.6, 0.6, 1.2, 1.5, 1.4, 0.9, 0.8, 0.8, 1.3, 1.5, 1.2, 0.7),
    "insect": (0.1, 0.1, 0.2, 0.5, 1.2, 2.2, 2.8, 2.7, 1.6, 0.6, 0.2, 0.1),
    "summer": (0.3, 0.3, 0.6, 0.9, 1.3, 1.7, 1.9, 1.8, 1.3, 0.9, 0.5, 0.3),
    "winter": (1.5, 1.3, 1.0, 0.8, 0.7, 0.6, 0.6, 0.7, 0.8, 1.0, 1.3, 1.5),
}
_SEASON_OF = {
    "12001": "rodent", "12002": "rodent", "12003": "summer", "12004": "insect",
    "12005": "insect", "09010": "summer", "09009": "summer", "06016": "summer",
    "04020": "summer", "02010": "winter", "06015": "summer",
}  # fmt: skip
_WEEKDAY = {  # Mon..Sun
    "patrol": (1.05, 1.0, 1.0, 1.0, 1.0, 0.5, 0.4),
    "hotline": (1.15, 1.05, 1.0, 1.0, 1.0, 0.9, 0.9),
    "citizen": (0.9, 0.9, 0.9, 0.9, 1.0, 1.3, 1.3),
    "video": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "inspection": (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.05),
}
_HOURS = {
    "patrol": np.r_[np.full(7, 0.02), 0.5, 1.6, 1.8, 1.6, 1.0, 0.5, 0.8, 1.5, 1.6, 1.3, 0.6,
                    np.full(6, 0.08)],
    "hotline": np.r_[np.full(7, 0.1), 0.6, 1.3, 1.5, 1.3, 1.1, 0.9, 1.0, 1.1, 1.1, 1.0, 1.0,
                     1.1, 1.2, 1.0, 0.6, 0.3, 0.15],
    "citizen": np.r_[np.full(6, 0.1), 0.4, 0.9, 1.1, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2,
                     1.4, 1.5, 1.4, 1.1, 0.7, 0.4, 0.2],
    "video": np.r_[np.full(6, 0.3), np.full(17, 1.0), 0.5],
    "inspection": np.r_[np.full(8, 0.0), 1.0, 1.5, 1.5, 1.0, 0.3, 1.0, 1.5, 1.4, 0.8,
                        np.full(7, 0.0)],
}  # fmt: skip
# Spring Festival eves: reports thin out for a week after.
_SPRING_FESTIVAL = ("2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06",
                    "2028-01-26", "2029-02-13", "2030-02-03")  # fmt: skip
_DESCRIBE = {
    "market": "周边", "catering": "门前", "entrance": "口", "street": "附近", "lane": "内",
    "toilet": "旁", "hotspot": "一带",
}  # fmt: skip


@dataclass
class Anchors:
    """Where problems can happen, with the words for the address."""

    market_xy: Floats
    market_name: NDArray[np.object_]
    catering_xy: Floats
    catering_name: NDArray[np.object_]
    entrance_xy: Floats
    entrance_name: NDArray[np.object_]
    street_lines: NDArray[np.object_]
    street_weight: Floats
    street_name: NDArray[np.object_]
    lane_lines: NDArray[np.object_]
    lane_name: NDArray[np.object_]
    toilet_xy: Floats
    toilet_name: NDArray[np.object_]


def _on_lines(
    lines: NDArray[np.object_], weights: Floats, n: int, rng: np.random.Generator, spread_m: float
) -> tuple[Floats, NDArray[np.intp], Floats]:
    idx = rng.choice(len(lines), size=n, p=weights / weights.sum())
    along = rng.uniform(0, 1, n) * shapely.length(lines[idx])
    xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[idx], along))
    return xy + rng.normal(0, spread_m, (n, 2)), idx, along


def _hour_weights(
    hours: pd.DatetimeIndex, season: str, source: str, trend_per_year: float
) -> Floats:
    month = np.asarray(_MONTHS[season])[hours.month - 1]
    week = np.asarray(_WEEKDAY[source])[hours.day_of_week]
    hour = np.asarray(_HOURS[source], dtype=float)[hours.hour]
    years = (hours - hours[0]).total_seconds().to_numpy() / (365.25 * 86400)
    w = month * week * hour * (1 + trend_per_year * years)
    days = hours.normalize()
    for eve in _SPRING_FESTIVAL:
        d = pd.Timestamp(eve)
        w = np.where((days >= d) & (days < d + pd.Timedelta(days=7)), w * 0.45, w)
    return np.asarray(w, dtype=float)


def add_work_hours(start: NDArray[np.datetime64], hours: Floats) -> NDArray[np.datetime64]:
    """Local time plus working hours (Mon-Fri 09:00-17:00; public holidays not modelled).

    >>> t = np.array(["2025-11-28T16:00"], dtype="datetime64[s]")  # a Friday
    >>> str(add_work_hours(t, np.array([4.0]))[0])
    '2025-12-01T12:00:00'
    """
    day = start.astype("datetime64[D]")
    tod = (start - day).astype("timedelta64[s]").astype(float) / 3600.0
    busy = np.is_busday(day)
    same = busy & (tod < 17.0)
    first = np.where(same, day, np.busday_offset(day, np.where(busy, 1, 0), roll="forward"))
    begin = np.where(same, np.clip(tod, 9.0, 17.0), 9.0)
    total = begin - 9.0 + hours
    n_days = np.floor(total / 8.0).astype(int)
    rem = total - n_days * 8.0
    at_close = (rem == 0) & (n_days > 0)  # exactly at closing time: 17:00 the day before
    n_days = np.where(at_close, n_days - 1, n_days)
    rem = np.where(at_close, 8.0, rem)
    end_day = np.busday_offset(first, n_days, roll="forward")
    return (end_day + ((9.0 + rem) * 3600).astype("timedelta64[s]")).astype("datetime64[s]")


def deadlines(
    reported: NDArray[np.datetime64], value: Floats, unit: NDArray[np.object_]
) -> NDArray[np.datetime64]:
    """Deadline of each case from its category's rule (local times)."""
    out = reported.copy()

    def secs(hours: Floats) -> NDArray[np.timedelta64]:
        return (hours * 3600).astype("timedelta64[s]")

    m = unit == "hours"
    out[m] = reported[m] + secs(value[m])
    m = unit == "days"
    out[m] = reported[m] + secs(value[m] * 24)
    m = unit == "work_hours"
    out[m] = add_work_hours(reported[m], value[m])
    m = unit == "work_days"
    day = reported[m].astype("datetime64[D]")
    end = np.busday_offset(day, value[m].astype(int), roll="forward")
    out[m] = (end + np.timedelta64(17, "h")).astype("datetime64[s]")
    return out


def _iso(t: NDArray[np.datetime64]) -> NDArray[np.object_]:
    s = np.datetime_as_string(t.astype("datetime64[s]"), unit="s").astype(object)
    return np.where(np.isnat(t), None, s + "+08:00")


def generate_problems(
    n: int,
    anchors: Anchors,
    categories: pd.DataFrame,
    land: shapely.Geometry,
    office_areas: tuple[NDArray[np.object_], NDArray[np.object_]],
    *,
    start: dt.datetime,
    as_of: dt.datetime,
    crs: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``n`` problems between ``start`` and ``as_of`` (naive local times, Beijing).

    ``office_areas`` are (street office codes, polygons), for per-office handling speed.
    """
    cats = categories.set_index("code")
    shares = {k: v for k, v in PLACE_SHARE.items() if k != "hotspot" or n >= 500}
    have = {
        "market": len(anchors.market_xy),
        "catering": len(anchors.catering_xy),
        "entrance": len(anchors.entrance_xy),
        "street": len(anchors.street_lines),
        "lane": len(anchors.lane_lines),
        "toilet": len(anchors.toilet_xy),
        "hotspot": len(anchors.entrance_xy) + len(anchors.street_lines),
    }
    shares = {k: v for k, v in shares.items() if have[k] > 0}
    total = sum(shares.values())
    want = int(n * 1.06) + 10  # some points fall outside the land and are dropped
    counts = rng.multinomial(want, [v / total for v in shares.values()])
    hours = pd.date_range(pd.Timestamp(start).ceil("h"), pd.Timestamp(as_of).floor("h"), freq="h")
    hours = hours[:-1] if len(hours) > 1 else hours
    parts = []
    for place, k in zip(shares, counts, strict=True):
        if k == 0:
            continue
        xy, where, ramp = _places(place, int(k), anchors, rng, hours)
        table = PLACE_CATEGORIES["street" if place == "hotspot" else place]
        codes = np.array(list(table), dtype=object)
        weights = np.array(list(table.values()), dtype=float)
        cat = rng.choice(codes, size=int(k), p=weights / weights.sum())
        parts.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "where": where,
                                   "place": place, "category_code": cat, "ramp": ramp}))  # fmt: skip
    df = pd.concat(parts, ignore_index=True)
    df = df[shapely.contains_xy(land, df.x.to_numpy(), df.y.to_numpy())]
    df = df.sample(n=min(n, len(df)), random_state=rng).reset_index(drop=True)
    df["source"] = rng.choice(SOURCES, size=len(df), p=_SOURCE_P)
    df.loc[df.place == "hotspot", "source"] = "patrol"

    # when: sample an hour per (season, source, ramp) group from its intensity
    season = df.category_code.map(lambda c: _SEASON_OF.get(c, "flat"))
    reported = np.empty(len(df), dtype="datetime64[s]")
    hour_values = hours.to_numpy().astype("datetime64[s]")
    for (s, src, rmp), idx in df.groupby([season, df.source, df.ramp]).indices.items():
        w = _hour_weights(hours, s, src, 0.08) * _ramp(rmp, len(hours))
        pick = rng.choice(len(hours), size=len(idx), p=w / w.sum())
        secs = rng.integers(0, 3600, len(idx)).astype("timedelta64[s]")
        reported[idx] = hour_values[pick] + secs
    now = np.datetime64(as_of.replace(microsecond=0), "s")
    reported = np.minimum(reported, now - np.timedelta64(60, "s"))

    value = cats.loc[df.category_code, "deadline_value"].to_numpy(dtype=float)
    unit = cats.loc[df.category_code, "deadline_unit"].to_numpy(dtype=object)
    deadline = deadlines(reported, value, unit)

    # how fast: about half the allowed time, slower in some offices, a few cases stuck
    codes, polys = office_areas
    tree = shapely.STRtree(polys)
    pt, poly = tree.query(shapely.points(df[["x", "y"]].to_numpy()), predicate="intersects")
    office = np.full(len(df), -1)
    office[pt] = poly
    speed = rng.uniform(0.7, 1.45, len(codes) + 1)
    ratio = rng.lognormal(np.log(0.5), 0.6, len(df)) * speed[office]
    stuck = rng.random(len(df)) < 0.04
    ratio[stuck] = rng.uniform(2.0, 8.0, int(stuck.sum()))
    allowed = (deadline - reported).astype(float)
    took_s = np.maximum(ratio * allowed, 900.0)
    # a stuck case waits days to weeks more (a part to order, a dispute, another office)
    took_s[stuck] += rng.uniform(1.0, 60.0, int(stuck.sum())) * 86400.0
    took = took_s.astype("timedelta64[s]")
    closed = reported + took
    done = closed <= now
    frac = (now - reported).astype(float) / np.maximum(took.astype(float), 1.0)
    status = np.where(
        done,
        "closed",
        np.where(frac < 0.1, "reported", np.where(frac < 0.3, "dispatched",
                 np.where(frac < 0.85, "handling", "checking"))),
    ).astype(object)  # fmt: skip
    void = rng.random(len(df)) < 0.015
    status[void] = "void"
    closed_at = np.where(status == "closed", closed, np.datetime64("NaT"))

    order = np.argsort(reported, kind="stable")
    names = cats.loc[df.category_code, "name"].to_numpy(dtype=object)
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(
        df.x.to_numpy(), df.y.to_numpy()
    )
    address = df["where"].to_numpy(dtype=object) + df.place.map(_DESCRIBE).to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "category_code": df.category_code.to_numpy(dtype=object),
            "source": df.source.to_numpy(dtype=object),
            "status": status,
            "reported_at": _iso(reported),
            "deadline": _iso(deadline),
            "closed_at": _iso(closed_at.astype("datetime64[s]")),
            "description": address + "发现" + names,
            "address": address,
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
        }
    ).iloc[order]
    out.insert(0, "case_no", [f"DC{i + 1:08d}" for i in range(len(out))])
    return out.reset_index(drop=True)


def _ramp(kind: str, n: int) -> Floats:
    t = np.linspace(0.0, 1.0, n)
    if kind == "new":
        return np.where(t > 0.85, 1.0, 0.02)
    if kind == "rising":
        return 0.05 + t**2
    if kind == "fading":
        return 0.05 + (1 - t) ** 2
    return np.ones(n)


def _places(
    place: str, k: int, a: Anchors, rng: np.random.Generator, hours: pd.DatetimeIndex
) -> tuple[Floats, NDArray[np.object_], NDArray[np.object_]]:
    """Locations, address words and the time profile of ``k`` reports of one kind."""
    flat = np.full(k, "flat", dtype=object)
    if place == "market":
        i = rng.integers(0, len(a.market_xy), k)
        return a.market_xy[i] + rng.normal(0, 30, (k, 2)), a.market_name[i], flat
    if place == "catering":
        i = rng.integers(0, len(a.catering_xy), k)
        return a.catering_xy[i] + rng.normal(0, 6, (k, 2)), a.catering_name[i], flat
    if place == "entrance":
        w = rng.pareto(1.5, len(a.entrance_xy)) + 0.2  # some entrances are notorious
        i = rng.choice(len(a.entrance_xy), size=k, p=w / w.sum())
        return a.entrance_xy[i] + rng.normal(0, 8, (k, 2)), a.entrance_name[i], flat
    if place == "street":
        xy, i, _ = _on_lines(a.street_lines, a.street_weight, k, rng, 6.0)
        return xy, a.street_name[i], flat
    if place == "lane":
        xy, i, _ = _on_lines(a.lane_lines, shapely.length(a.lane_lines), k, rng, 3.0)
        return xy, a.lane_name[i], flat
    if place == "toilet":
        i = rng.integers(0, len(a.toilet_xy), k)
        return a.toilet_xy[i] + rng.normal(0, 5, (k, 2)), a.toilet_name[i], flat
    # hotspots: a dozen spots that appear, grow, fade or persist over the period
    n_spots = 12
    xy_spots, i, _ = _on_lines(a.street_lines, a.street_weight, n_spots, rng, 0.0)
    kinds = np.array(["new", "rising", "fading", "flat"] * 3, dtype=object)
    spot = rng.integers(0, n_spots, k)
    return xy_spots[spot] + rng.normal(0, 35, (k, 2)), a.street_name[i][spot], kinds[spot]
