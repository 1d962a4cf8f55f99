"""The street-chief roster (街长制): people and what each answers for.

Per street office: a 总街长 (level 1, the office's director), a few 二级街长 (level 2,
leadership team members, each over a group of communities), community cadres as
三级街长 (level 3, a few segments each), grid workers as lane heads (巷长) and
grid workers of cells, shop owners as 店长 and a head for each market. As in a real
roster, some segments are left without a head, and a few have two active level-3
heads (a conflict the assignment desk must show).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.demo.names import person_names, phone_numbers

_CADRE_ROLES = ("社区党委书记", "社区居委会主任", "社区副主任", "社区委员", "社区专职工作者")
_LEADER_ROLES = ("街道工委副书记", "街道办事处副主任", "街道武装部部长", "街道纪工委书记")


@dataclass
class Roster:
    """Rows of the people and assignments files."""

    people: pd.DataFrame
    assignments: pd.DataFrame


def _valid_from(rng: np.random.Generator, n: int, as_of: dt.date) -> list[str]:
    days = rng.integers(30, 2 * 365, n)
    start = pd.Timestamp(as_of) - pd.to_timedelta(days, unit="D")
    return [f"{d:%Y-%m-%d}T09:00:00+08:00" for d in start]


def build_roster(
    offices: pd.DataFrame,
    communities: pd.DataFrame,
    *,
    segments: pd.DataFrame,
    cells: pd.DataFrame,
    shops: pd.DataFrame,
    markets: pd.DataFrame,
    as_of: dt.date,
    rng: np.random.Generator,
    unassigned_share: float = 0.06,
    n_conflicts: int | None = None,
) -> Roster:
    """People and assignments for the street offices, segments, cells, shops, markets.

    ``segments`` needs code, kind, street_office_code and community_code; ``cells``
    code and community_code; ``shops`` and ``markets`` code and (for markets) a
    street_office_code.
    """
    people: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    pool_size = (
        len(offices) * 8
        + len(communities) * 6
        + len(segments) // 3
        + len(cells) // 6
        + len(shops)
        + len(markets)
        + 50
    )
    all_names = person_names(rng, pool_size)
    all_phones = phone_numbers(rng, pool_size)
    cursor = iter(range(pool_size))

    def person(role: str, org: str, office: str) -> tuple[str, str]:
        i = next(cursor)
        name, phone = all_names[i], all_phones[i]
        people.append(
            {
                "person_key": f"{name}|{phone}",
                "name": name,
                "phone": phone,
                "role": role,
                "org_unit": org,
                "street_office_code": office,
            }
        )
        return name, phone

    def assign(
        who: tuple[str, str],
        role: str,
        *,
        level: int | None = None,
        boss: tuple[str, str] | None = None,
        segment: str | None = None,
        target: tuple[str, str] | None = None,
    ) -> None:
        rows.append(
            {
                "segment_code": segment,
                "target_type": None if target is None else target[0],
                "target_code": None if target is None else target[1],
                "name": who[0],
                "phone": who[1],
                "role": role,
                "level": level,
                "supervisor": None if boss is None else boss[0],
                "supervisor_phone": None if boss is None else boss[1],
                "valid_from": _valid_from(rng, 1, as_of)[0],
            }
        )

    street_segs = segments[segments.kind == "street"]
    lane_segs = segments[segments.kind == "lane"]
    n_conflicts = max(2, round(len(street_segs) * 0.002)) if n_conflicts is None else n_conflicts
    conflicted = set(
        rng.choice(street_segs.code.to_numpy(), size=min(n_conflicts, len(street_segs)),
                   replace=False).tolist()
    )  # fmt: skip
    for office in offices.itertuples():
        chief = person("街道办事处主任", office.name, office.code)
        assign(chief, "street_head", level=1, target=("street_office", office.code))
        comms = communities[communities.parent_code == office.code]
        n_lvl2 = int(np.clip(round(len(comms) / 3), 2, len(_LEADER_ROLES) + 2))
        leaders = []
        for k in range(n_lvl2):
            who = person(_LEADER_ROLES[k % len(_LEADER_ROLES)], office.name, office.code)
            assign(who, "street_head", level=2, boss=chief, target=("street_office", office.code))
            leaders.append(who)
        for j, comm in enumerate(comms.itertuples()):
            boss = leaders[j % len(leaders)]
            segs = street_segs[street_segs.community_code == comm.code]
            n_cadres = max(1, int(np.ceil(len(segs) / 4)))
            cadres = [
                person(_CADRE_ROLES[k % len(_CADRE_ROLES)], comm.name, office.code)
                for k in range(n_cadres)
            ]
            for k, seg in enumerate(segs.code):
                if seg not in conflicted and rng.random() < unassigned_share:
                    continue  # a gap on purpose: nobody heads this segment yet
                assign(cadres[k % n_cadres], "street_head", level=3, boss=boss, segment=seg)
                if seg in conflicted:  # listed twice: two active level-3 heads
                    other = cadres[(k + 1) % n_cadres] if n_cadres > 1 else boss
                    assign(other, "street_head", level=3, boss=boss, segment=seg)
            comm_cells = cells[cells.community_code == comm.code]
            n_workers = max(1, int(np.ceil(len(comm_cells) / 8)))
            workers = [person("网格员", comm.name, office.code) for _ in range(n_workers)]
            for k, cell in enumerate(comm_cells.code):
                if rng.random() < 0.02:
                    continue
                assign(workers[k % n_workers], "grid_worker", target=("cell", cell))
            lanes = lane_segs[lane_segs.community_code == comm.code]
            for k, lane in enumerate(lanes.code):
                if rng.random() < unassigned_share * 1.3:
                    continue
                assign(workers[k % n_workers], "lane_head", boss=boss, segment=lane)
    office_of = dict(zip(offices.code, offices.name, strict=True))
    for shop in shops.itertuples():
        if rng.random() < 0.05:
            continue
        code = str(shop.street_office_code)
        who = person("店主", str(shop.name), code)
        assign(who, "shop_head", target=("premises", shop.code))
    for m in markets.itertuples():
        code = str(m.street_office_code)
        who = person("市场负责人", f"{office_of.get(code, '')}{m.name}", code)
        assign(who, "market_head", target=("market", m.code))
    return Roster(people=pd.DataFrame(people), assignments=pd.DataFrame(rows))
