"""One spec per layer: target table, geometry, columns, natural key, default aliases.

Adding a layer is adding a spec here (and, when it derives something new, a step in
:mod:`etl.prepare`). Canonical column names are English; each column lists the
Chinese and English headers that map to it by default.
"""

from __future__ import annotations

from etl.choices import (
    ADMIN_LEVEL_CHOICES,
    ASSIGNMENT_ROLES,
    DEADLINE_UNIT_CHOICES,
    LEVEL_CHOICES,
    PROBLEM_SOURCE_CHOICES,
    PROBLEM_STATUS_CHOICES,
    PROBLEM_STATUSES,
    ROLE_CHOICES,
    SEGMENT_KIND_CHOICES,
    STATION_STATE_CHOICES,
    TARGET_TYPE_CHOICES,
    TARGET_TYPES,
)
from etl.contract import (
    GEOMETRY_ALIASES,
    LAT_ALIASES,
    LON_ALIASES,
    Column,
    GeometryRule,
    LayerSpec,
)

__all__ = [
    "GEOMETRY_ALIASES",
    "LAT_ALIASES",
    "LAYERS",
    "LON_ALIASES",
    "Column",
    "GeometryRule",
    "LayerSpec",
]

CODE12 = r"\d{12}"


def _street_office_code(required: bool = False) -> Column:
    return Column(
        "street_office_code",
        "code",
        required,
        ("街道编码", "街道代码", "街道办事处代码", "所属街道编码", "street_code", "town_code"),
        pattern=CODE12,
        pad_to=12,
        help="12-digit code of the street office (9 digits accepted)",
    )


def _community_code() -> Column:
    return Column(
        "community_code",
        "code",
        False,
        ("社区编码", "社区代码", "所属社区编码", "village_code"),
        pattern=CODE12,
        pad_to=12,
        help="12-digit statistical code of the community",
    )


ADMIN_AREAS = LayerSpec(
    name="admin_areas",
    table="admin_areas",
    label_zh="行政区划",
    label_en="administrative areas",
    natural_key="code",
    output=("code", "name", "level", "parent_code", "population", "geom", "centre"),
    depends={"centre": ("lon", "lat")},
    scope="global",
    geometry=GeometryRule("polygon", required=False, multi=True, lonlat=False),
    columns=(
        Column(
            "code",
            "code",
            True,
            ("编码", "代码", "区划代码", "统计用区划代码", "行政区划代码"),
            pattern=CODE12,
            pad_to=12,
            help="12-digit division code (6 or 9 digits are padded)",
        ),
        Column("name", "text", True, ("名称", "区划名称", "行政区名称", "单位名称")),
        Column(
            "level",
            "choice",
            True,
            ("级别", "层级", "类型", "区划级别"),
            max_len=16,
            choices=ADMIN_LEVEL_CHOICES,
            help="district | street_office | community",
        ),
        Column(
            "parent_code",
            "code",
            False,
            ("parent", "上级代码", "上级编码", "父级代码", "上级区划代码"),
            pattern=CODE12,
            pad_to=12,
            help="derived from the code when absent",
        ),
        Column(
            "population",
            "int",
            False,
            ("人口", "常住人口", "户籍人口"),
            minimum=0,
            maximum=2**31 - 1,
        ),
        Column("lon", "float", False, LON_ALIASES, help="centre longitude (or x in --crs)"),
        Column("lat", "float", False, LAT_ALIASES, help="centre latitude (or y in --crs)"),
    ),
    derive=("admin_parent", "admin_centre"),
)

CATEGORIES = LayerSpec(
    name="categories",
    table="problem_categories",
    label_zh="问题类别",
    label_en="problem categories",
    natural_key="code",
    output=(
        "code",
        "name",
        "name_en",
        "major_code",
        "major_name",
        "patrol_category",
        "deadline_value",
        "deadline_unit",
    ),
    scope="global",
    columns=(
        Column(
            "code",
            "code",
            True,
            ("类别代码", "小类代码", "事项代码", "编码", "代码", "类别编码"),
            max_len=8,
            pattern=r"[0-9A-Za-z]{2,8}",
            help="2 to 8 letters or digits",
        ),
        Column("name", "text", True, ("名称", "类别名称", "小类名称", "事项名称", "小类")),
        Column("name_en", "text", False, ("英文名称", "english_name", "name_english")),
        Column(
            "major_code",
            "code",
            False,
            ("大类代码", "大类编码"),
            max_len=4,
            pattern=r"[0-9A-Za-z]{1,4}",
            help="derived from the first two characters when absent",
        ),
        Column("major_name", "text", False, ("大类名称", "大类")),
        Column(
            "patrol_category",
            "int",
            False,
            ("巡查类别", "巡查分类", "街长巡查类别"),
            minimum=1,
            maximum=6,
            help="1-5 the street-chief patrol categories, 6 pest control",
        ),
        Column(
            "deadline_value", "float", False, ("时限", "处置时限", "期限", "办结时限"), minimum=0
        ),
        Column(
            "deadline_unit",
            "choice",
            False,
            ("时限单位", "期限单位", "单位"),
            max_len=16,
            choices=DEADLINE_UNIT_CHOICES,
            help="work_hours | work_days | hours | days",
        ),
    ),
    derive=("category_major",),
)

GRID_CELLS = LayerSpec(
    name="grid_cells",
    table="grid_cells",
    label_zh="单元网格",
    label_en="unit grid cells",
    natural_key="code",
    output=(
        "code",
        "community_id",
        "responsible_body",
        "area_m2",
        "valid_from",
        "valid_to",
        "geom",
    ),
    geometry=GeometryRule("polygon", multi=True, lonlat=False),
    columns=(
        Column(
            "code",
            "code",
            True,
            ("网格编码", "网格代码", "单元网格编码", "网格编号", "编码", "编号"),
            max_len=15,
            help="by the deployment's grid code scheme (14, 15 or 15an)",
        ),
        _community_code(),
        Column("responsible_body", "text", False, ("责任主体", "责任单位", "责任部门")),
        Column("valid_from", "date", False, ("启用日期", "生效日期", "开始日期", "设立日期")),
        Column("valid_to", "date", False, ("停用日期", "失效日期", "结束日期", "撤销日期")),
    ),
    derive=("cell_code", "cell_community", "area"),
)

ROADS = LayerSpec(
    name="roads",
    table="roads",
    label_zh="道路",
    label_en="roads (centrelines)",
    natural_key="code",
    output=("code", "name", "road_class", "kind", "geom"),
    scope="global",
    geometry=GeometryRule("line", multi=True, lonlat=False),
    columns=(
        Column("code", "text", True, ("道路编码", "道路编号", "编码", "编号", "osm_id")),
        Column("name", "text", True, ("道路名称", "路名", "名称")),
        Column(
            "road_class",
            "text",
            False,
            ("道路等级", "等级", "fclass", "class", "highway"),
            max_len=20,
        ),
        Column(
            "kind",
            "choice",
            False,
            ("类型", "道路类型", "街巷类型"),
            max_len=8,
            choices=SEGMENT_KIND_CHOICES,
            help="street | lane (default: lane for a lane class such as 胡同 or 小街巷, else street)",
        ),
    ),
    derive=("default_kind",),
)

_SEGMENT_OUTPUT = (
    "code",
    "road_id",
    "road_name",
    "from_name",
    "to_name",
    "road_class",
    "kind",
    "street_office_id",
    "community_id",
    "length_m",
    "geom",
)
_SEGMENT_COLUMNS = (
    Column("code", "text", True, ("路段编码", "路段编号", "路段代码", "编码", "编号")),
    Column("road_name", "text", True, ("道路名称", "道路", "路名", "road", "name", "名称")),
    Column("from_name", "text", False, ("起点", "起点路", "起点道路", "from", "start")),
    Column("to_name", "text", False, ("终点", "终点路", "终点道路", "to", "end")),
    Column("road_class", "text", False, ("道路等级", "等级", "fclass", "class"), max_len=20),
    Column(
        "kind",
        "choice",
        False,
        ("类型", "路段类型", "街巷类型"),
        max_len=8,
        choices=SEGMENT_KIND_CHOICES,
        help="street | lane (default: lane for a lane class such as 胡同 or 小街巷, else street)",
    ),
    Column("road_code", "text", False, ("道路编码", "道路编号")),
    _street_office_code(),
    _community_code(),
)

ROAD_SEGMENTS = LayerSpec(
    name="road_segments",
    table="road_segments",
    label_zh="路段",
    label_en="road segments",
    natural_key="code",
    output=_SEGMENT_OUTPUT,
    depends={"road_id": ("road_code",)},
    geometry=GeometryRule("line", multi=True, lonlat=False),
    columns=_SEGMENT_COLUMNS,
    derive=("default_kind", "road_ref", "place_codes", "place_spatial", "length"),
)

LANES = LayerSpec(
    name="lanes",
    table="road_segments",
    label_zh="小街巷",
    label_en="lanes (小街巷/胡同)",
    natural_key="code",
    output=_SEGMENT_OUTPUT,
    depends={"road_id": ("road_code",)},
    geometry=GeometryRule("line", multi=True, lonlat=False),
    columns=_SEGMENT_COLUMNS,
    fixed={"kind": "lane"},
    derive=("road_ref", "place_codes", "place_spatial", "length"),
)

_PLACE_OUTPUT = ("code", "name", "kind", "address", "street_office_id", "community_id", "geom")
_PLACE_COLUMNS = (
    Column("address", "text", False, ("地址", "详细地址", "所在地址", "位置")),
    Column("lon", "float", False, LON_ALIASES),
    Column("lat", "float", False, LAT_ALIASES),
)

MARKETS = LayerSpec(
    name="markets",
    table="markets",
    label_zh="市场",
    label_en="markets",
    natural_key="code",
    output=_PLACE_OUTPUT,
    geometry=GeometryRule("polygon_or_point"),
    columns=(
        Column("code", "text", True, ("市场编码", "市场编号", "编码", "编号")),
        Column("name", "text", True, ("市场名称", "名称")),
        Column("kind", "text", False, ("市场类型", "类型", "类别"), max_len=20),
        *_PLACE_COLUMNS,
    ),
    derive=("place_spatial",),
)

PREMISES = LayerSpec(
    name="premises",
    table="premises",
    label_zh="重点场所",
    label_en="key premises and shops",
    natural_key="code",
    output=_PLACE_OUTPUT,
    geometry=GeometryRule("polygon_or_point"),
    columns=(
        Column("code", "text", True, ("场所编码", "场所编号", "商户编码", "编码", "编号")),
        Column("name", "text", True, ("场所名称", "商户名称", "店名", "名称")),
        Column("kind", "text", True, ("场所类型", "类型", "业态", "类别"), max_len=30),
        *_PLACE_COLUMNS,
    ),
    derive=("place_spatial",),
)

BAIT_STATIONS = LayerSpec(
    name="bait_stations",
    table="bait_stations",
    label_zh="毒饵站",
    label_en="rodent bait stations",
    natural_key="code",
    output=(
        "code",
        "state",
        "bait_type",
        "installed_on",
        "last_inspected",
        "premises_code",
        "geom",
    ),
    geometry=GeometryRule("point"),
    columns=(
        Column("code", "text", True, ("毒饵站编号", "毒饵站编码", "编号", "编码")),
        Column(
            "state",
            "choice",
            False,
            ("状态", "完好情况", "设施状态"),
            max_len=10,
            choices=STATION_STATE_CHOICES,
            help="intact | damaged | missing (default intact)",
        ),
        Column("bait_type", "text", False, ("饵料类型", "饵料", "药物类型")),
        Column("installed_on", "date", False, ("设置日期", "安装日期", "投放日期")),
        Column(
            "last_inspected", "date", False, ("最近检查", "检查日期", "巡查日期", "最近检查日期")
        ),
        Column("premises_code", "text", False, ("场所编码", "所属场所", "场所编号")),
        Column("lon", "float", False, LON_ALIASES),
        Column("lat", "float", False, LAT_ALIASES),
    ),
    derive=("default_state", "place_spatial"),
)

PEOPLE = LayerSpec(
    name="people",
    table="people",
    label_zh="人员",
    label_en="people (rosters)",
    natural_key="person_key",
    output=("person_key", "name", "phone", "role", "org_unit", "street_office_id"),
    depends={"street_office_id": ("street_office_code",)},
    columns=(
        Column(
            "person_key",
            "text",
            False,
            ("人员编号", "工号", "人员编码", "key"),
            help="defaults to name|phone",
        ),
        Column("name", "text", True, ("姓名", "名字", "人员姓名", "名称")),
        Column(
            "phone", "text", False, ("电话", "手机", "手机号", "联系电话", "手机号码"), max_len=32
        ),
        Column("role", "text", False, ("职务", "角色", "岗位")),
        Column("org_unit", "text", False, ("单位", "所在单位", "工作单位", "部门")),
        _street_office_code(),
    ),
    derive=("person_key", "place_codes"),
)

ASSIGNMENTS = LayerSpec(
    name="assignments",
    table="assignments",
    label_zh="责任分配",
    label_en="responsibility assignments (rosters)",
    natural_key="target",
    output=(),
    columns=(
        Column("road_name", "text", False, ("道路", "道路名称", "路名", "road", "街道名称")),
        Column("from_name", "text", False, ("起点", "起点路", "from", "start")),
        Column("to_name", "text", False, ("终点", "终点路", "to", "end")),
        Column("segment_code", "text", False, ("路段编码", "路段编号", "segment")),
        Column(
            "target_type",
            "choice",
            False,
            ("对象类型", "责任对象类型"),
            max_len=16,
            choices=TARGET_TYPE_CHOICES,
            help=" | ".join(TARGET_TYPES),
        ),
        Column("target_code", "text", False, ("对象编码", "责任对象编码", "对象编号")),
        Column(
            "name",
            "text",
            True,
            (
                "街长",
                "姓名",
                "责任人",
                "巷长",
                "店长",
                "网格员",
                "head",
                "head_name",
                "person_name",
                "person",
                "street_head",
            ),
        ),
        Column(
            "phone", "text", False, ("电话", "联系电话", "手机", "手机号", "街长电话"), max_len=32
        ),
        Column(
            "role",
            "choice",
            False,
            ("角色", "职责", "责任类型"),
            max_len=16,
            choices=ROLE_CHOICES,
            help=" | ".join(ASSIGNMENT_ROLES) + " (default street_head, lane_head on lanes)",
        ),
        Column(
            "level",
            "choice",
            False,
            ("级别", "层级", "街长级别"),
            choices=LEVEL_CHOICES,
            help="1-3 (总街长/二级街长/三级街长)",
        ),
        Column("supervisor", "text", False, ("上级街长", "上级", "上级负责人", "supervisor_name")),
        Column("supervisor_phone", "text", False, ("上级电话", "上级街长电话"), max_len=32),
        Column("valid_from", "datetime", False, ("任职日期", "开始日期", "生效日期", "起始日期")),
    ),
)

PROBLEMS = LayerSpec(
    name="problems",
    table="problems",
    label_zh="问题",
    label_en="problems (case histories)",
    natural_key="case_no",
    output=(
        "case_no",
        "category_code",
        "source",
        "status",
        "reported_at",
        "deadline",
        "closed_at",
        "description",
        "address",
        "cell_id",
        "community_id",
        "street_office_id",
        "segment_id",
        "segment_dist_m",
        "geom",
    ),
    geometry=GeometryRule("point"),
    columns=(
        Column(
            "case_no",
            "text",
            True,
            ("案件编号", "案卷号", "案卷编号", "工单号", "工单编号", "编号", "case_id"),
        ),
        Column(
            "category_code",
            "code",
            True,
            ("类别代码", "小类代码", "问题类别代码", "事项代码", "category"),
            max_len=8,
            help="a code of the categories layer",
        ),
        Column(
            "source",
            "choice",
            True,
            ("来源", "问题来源", "案件来源", "上报渠道"),
            max_len=16,
            choices=PROBLEM_SOURCE_CHOICES,
            help="patrol | citizen | hotline | video | inspection | other (others kept as given)",
        ),
        Column(
            "status",
            "choice",
            True,
            ("状态", "案件状态", "处置状态"),
            max_len=12,
            choices=PROBLEM_STATUS_CHOICES,
            help=" | ".join(PROBLEM_STATUSES),
        ),
        Column(
            "reported_at",
            "datetime",
            True,
            ("上报时间", "发现时间", "受理时间", "立案时间", "report_time", "created_at"),
        ),
        Column(
            "deadline",
            "datetime",
            False,
            ("处置时限", "截止时间", "应结案时间", "办结时限", "due_at"),
        ),
        Column("closed_at", "datetime", False, ("结案时间", "办结时间", "关闭时间", "closed_time")),
        Column("description", "text", False, ("问题描述", "描述", "内容", "诉求内容", "案件描述")),
        Column("address", "text", False, ("地址", "问题地址", "发生地址", "位置", "详细地址")),
        Column("lon", "float", False, LON_ALIASES),
        Column("lat", "float", False, LAT_ALIASES),
    ),
    derive=("problem_dates", "category_ref", "problem_places"),
)

#: Every loadable layer by name.
LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        ADMIN_AREAS,
        CATEGORIES,
        GRID_CELLS,
        ROADS,
        ROAD_SEGMENTS,
        LANES,
        MARKETS,
        PREMISES,
        BAIT_STATIONS,
        PEOPLE,
        ASSIGNMENTS,
        PROBLEMS,
    )
}

#: Source values a choice column keeps as given when they are not among ``choices``.
OPEN_CHOICES = frozenset({("problems", "source")})
