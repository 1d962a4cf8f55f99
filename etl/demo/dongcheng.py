"""The real Dongcheng reference data, and the hand-placed skeleton of its main roads.

The administrative data (codes, names, centres, the district boundary) is real (see
``data/README.md``). The road skeleton is ours: Dongcheng's main roads by their real
names, placed approximately (GCJ-02, as read off a web map), so that the demo reads
like Dongcheng; every other road, and every hutong, is generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from citygrid.settings import PROJECT_ROOT
from gis.crs import gcj02_to_wgs84
from gis.errors import DataError

REFERENCE_DIR = PROJECT_ROOT / "data" / "dongcheng-110101"
DISTRICT_CODE = "110101000000"

_CSV_COLUMNS = (
    "code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code", "ur_code",
    "municipality", "virtual", "dummy", "longitude", "latitude", "center_wkb_hex", "province",
    "city", "county", "town", "village",
)  # fmt: skip
_LEVELS = {"county": "district", "town": "street_office", "village": "community"}


@dataclass(frozen=True)
class Reference:
    """The real district: boundary and divisions, in GCJ-02 as published."""

    boundary_gcj: shapely.Polygon
    divisions: pd.DataFrame  # code, name, level, parent_code, lon_gcj, lat_gcj (NaN if unknown)


def read_reference(folder: Path = REFERENCE_DIR) -> Reference:
    """Read the adcode CSV and the district fence (both GCJ-02)."""
    csv = folder / "adcode-110101.csv"
    fence = folder / "fence-110101.geojson"
    for path in (csv, fence):
        if not path.is_file():
            msg = f"demo reference file {path} is missing; restore data/ from the repository"
            raise DataError(msg)
    raw = pd.read_csv(csv, header=None, names=_CSV_COLUMNS, dtype=str, keep_default_na=False)
    divisions = pd.DataFrame(
        {
            "code": raw["code"],
            "name": raw["name"],
            "level": raw["level"].map(_LEVELS),
            "parent_code": raw["parent"].where(raw["level"] != "county", None),
            "lon_gcj": pd.to_numeric(raw["longitude"].replace("", np.nan)),
            "lat_gcj": pd.to_numeric(raw["latitude"].replace("", np.nan)),
        }
    )
    boundary = shapely.from_geojson(fence.read_text(encoding="utf-8"))
    if not isinstance(boundary, shapely.Polygon):
        msg = f"{fence} should hold one Polygon, got {boundary.geom_type}"
        raise DataError(msg)
    return Reference(boundary_gcj=boundary, divisions=divisions)


def gcj_to_metric(geom: shapely.Geometry, crs: int) -> shapely.Geometry:
    """A GCJ-02 lon/lat geometry in the metric working CRS."""
    wgs = shapely.transform(geom, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
    return gpd.GeoSeries([wgs], crs=4326).to_crs(crs).iloc[0]


# Main roads (主干路, 快速路) and a few well-known secondary roads, GCJ-02 lon/lat.
# (name, class, vertices); a road named twice continues under a new name.
MAIN_ROADS: tuple[tuple[str, str, tuple[tuple[float, float], ...]], ...] = (
    # east-west, north to south
    ("北三环东路", "快速路", ((116.4040, 39.9676), (116.4140, 39.9680))),
    ("和平里北街", "次干路", ((116.3930, 39.9640), (116.4090, 39.9642), (116.4260, 39.9640))),
    ("和平里中街", "次干路", ((116.3930, 39.9585), (116.4090, 39.9584), (116.4300, 39.9583))),
    ("北二环路", "快速路", ((116.3930, 39.9490), (116.4085, 39.9490), (116.4175, 39.9490),
                          (116.4355, 39.9490), (116.4440, 39.9492))),
    ("鼓楼东大街", "主干路", ((116.3966, 39.9405), (116.4078, 39.9405))),
    ("交道口东大街", "主干路", ((116.4078, 39.9405), (116.4175, 39.9406))),
    ("东直门内大街", "主干路", ((116.4175, 39.9406), (116.4355, 39.9410))),
    ("东直门外大街", "主干路", ((116.4355, 39.9410), (116.4450, 39.9412))),
    ("地安门东大街", "主干路", ((116.3966, 39.9328), (116.4088, 39.9330))),
    ("张自忠路", "主干路", ((116.4088, 39.9330), (116.4175, 39.9332))),
    ("东四十条", "主干路", ((116.4175, 39.9332), (116.4355, 39.9335))),
    ("工人体育场北路", "主干路", ((116.4355, 39.9335), (116.4440, 39.9336))),
    ("五四大街", "主干路", ((116.4003, 39.9240), (116.4112, 39.9243))),
    ("东四西大街", "主干路", ((116.4112, 39.9243), (116.4175, 39.9245))),
    ("朝阳门内大街", "主干路", ((116.4175, 39.9245), (116.4350, 39.9246))),
    ("东华门大街", "次干路", ((116.4030, 39.9152), (116.4112, 39.9155))),
    ("灯市口大街", "次干路", ((116.4112, 39.9165), (116.4178, 39.9166))),
    ("东长安街", "主干路", ((116.3958, 39.9083), (116.4180, 39.9082))),
    ("建国门内大街", "主干路", ((116.4180, 39.9082), (116.4352, 39.9084))),
    ("前门东大街", "主干路", ((116.3962, 39.9004), (116.4176, 39.9010))),
    ("崇文门东大街", "主干路", ((116.4176, 39.9010), (116.4362, 39.9030), (116.4465, 39.9020))),
    ("珠市口东大街", "主干路", ((116.3982, 39.8938), (116.4195, 39.8938))),
    ("广渠门内大街", "主干路", ((116.4195, 39.8938), (116.4500, 39.8936))),
    ("天坛路", "次干路", ((116.3984, 39.8892), (116.4218, 39.8890))),
    ("体育馆路", "次干路", ((116.4218, 39.8890), (116.4300, 39.8868), (116.4440, 39.8866))),
    ("南二环路", "快速路", ((116.3810, 39.8690), (116.3985, 39.8690), (116.4222, 39.8694),
                          (116.4440, 39.8712))),
    ("安乐林路", "次干路", ((116.3915, 39.8630), (116.4150, 39.8632))),
    # north-south, west to east
    ("安定门外大街", "主干路", ((116.4085, 39.9490), (116.4087, 39.9585), (116.4090, 39.9740))),
    ("安定门内大街", "主干路", ((116.4080, 39.9405), (116.4085, 39.9490))),
    ("交道口南大街", "主干路", ((116.4078, 39.9330), (116.4080, 39.9405))),
    ("北河沿大街", "次干路", ((116.4040, 39.9155), (116.4045, 39.9240), (116.4050, 39.9330))),
    ("南河沿大街", "次干路", ((116.4035, 39.9083), (116.4040, 39.9155))),
    ("王府井大街", "次干路", ((116.4112, 39.9082), (116.4112, 39.9243))),
    ("东单北大街", "主干路", ((116.4180, 39.9082), (116.4178, 39.9166))),
    ("东四南大街", "主干路", ((116.4178, 39.9166), (116.4175, 39.9245))),
    ("东四北大街", "主干路", ((116.4175, 39.9245), (116.4175, 39.9406))),
    ("雍和宫大街", "主干路", ((116.4175, 39.9406), (116.4175, 39.9490))),
    ("和平里西街", "次干路", ((116.4175, 39.9490), (116.4185, 39.9640))),
    ("和平里东街", "次干路", ((116.4272, 39.9490), (116.4268, 39.9600))),
    ("朝阳门南小街", "次干路", ((116.4282, 39.9084), (116.4280, 39.9246))),
    ("朝阳门北小街", "次干路", ((116.4280, 39.9246), (116.4280, 39.9335))),
    ("东直门南小街", "次干路", ((116.4280, 39.9335), (116.4278, 39.9410))),
    ("东直门北小街", "次干路", ((116.4278, 39.9410), (116.4272, 39.9490))),
    ("东二环路", "快速路", ((116.4355, 39.9490), (116.4355, 39.9335), (116.4352, 39.9084),
                          (116.4362, 39.9030), (116.4445, 39.8990), (116.4462, 39.8936),
                          (116.4462, 39.8760))),
    ("东中街", "次干路", ((116.4400, 39.9335), (116.4400, 39.9490))),
    ("崇文门内大街", "主干路", ((116.4180, 39.9082), (116.4176, 39.9010))),
    ("崇文门外大街", "主干路", ((116.4176, 39.9010), (116.4195, 39.8938))),
    ("天坛东路", "主干路", ((116.4195, 39.8938), (116.4218, 39.8890), (116.4222, 39.8694))),
    ("祈年大街", "次干路", ((116.4090, 39.8938), (116.4092, 39.8892))),
    ("幸福大街", "次干路", ((116.4300, 39.8936), (116.4300, 39.8868))),
    ("左安门内大街", "次干路", ((116.4380, 39.8936), (116.4385, 39.8866), (116.4390, 39.8705))),
    ("永定门外大街", "主干路", ((116.3985, 39.8690), (116.3990, 39.8590))),
    ("琉璃井路", "次干路", ((116.4075, 39.8690), (116.4080, 39.8600))),
)  # fmt: skip

# Parks and walled compounds: no roads inside, cells but few problems.
PARKS: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = (
    ("故宫博物院", ((116.3918, 39.9128), (116.4028, 39.9128), (116.4028, 39.9232), (116.3918, 39.9232))),
    ("天坛公园", ((116.4032, 39.8752), (116.4212, 39.8752), (116.4212, 39.8885), (116.4032, 39.8885))),
    ("地坛公园", ((116.4092, 39.9498), (116.4168, 39.9498), (116.4168, 39.9575), (116.4092, 39.9575))),
    ("龙潭公园", ((116.4330, 39.8755), (116.4450, 39.8755), (116.4450, 39.8855), (116.4330, 39.8855))),
    ("青年湖公园", ((116.4098, 39.9595), (116.4160, 39.9595), (116.4160, 39.9632), (116.4098, 39.9632))),
    ("柳荫公园", ((116.4205, 39.9595), (116.4262, 39.9595), (116.4262, 39.9632), (116.4205, 39.9632))),
)  # fmt: skip

# Streets famous for food (catering streets): problems and bait stations cluster there.
CATERING_STREETS = ("东直门内大街", "王府井大街", "鼓楼东大街", "珠市口东大街", "交道口南大街")

# Outer city (外城) south of the old wall line: hutongs run every which way.
OUTER_CITY_LAT = 39.9000
# Modern estates: north of the second ring and south of the southern one.
MODERN_BANDS = ((39.9495, 90.0), (-90.0, 39.8700))
