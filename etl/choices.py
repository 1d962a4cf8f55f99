"""Value vocabularies: the spellings accepted for each coded value, and what is stored.

Keys are lower-cased spellings (Chinese and English), values the stored value; each
stored value also maps to itself.
"""

from __future__ import annotations

from db.models import ASSIGNMENT_ROLES, PROBLEM_STATUSES, TARGET_TYPES

__all__ = [
    "ADMIN_LEVEL_CHOICES",
    "ASSIGNMENT_ROLES",
    "DEADLINE_UNIT_CHOICES",
    "LEVEL_CHOICES",
    "PROBLEM_SOURCE_CHOICES",
    "PROBLEM_STATUSES",
    "PROBLEM_STATUS_CHOICES",
    "ROLE_CHOICES",
    "SEGMENT_KIND_CHOICES",
    "STATION_STATE_CHOICES",
    "TARGET_TYPES",
    "TARGET_TYPE_CHOICES",
    "choices",
]


def choices(**groups: tuple[str, ...]) -> dict[str, str]:
    """Spellings (lower-cased) -> canonical value; each value also maps to itself."""
    out: dict[str, str] = {}
    for value, spellings in groups.items():
        out[value] = value
        for s in spellings:
            out[s.lower()] = value
    return out


ADMIN_LEVEL_CHOICES = choices(
    district=("区", "县", "区县", "county", "区/县"),
    street_office=("街道", "镇", "乡", "街道办事处", "town", "街乡镇"),
    community=("社区", "村", "居委会", "社区居委会", "village"),
)
SEGMENT_KIND_CHOICES = choices(
    street=("街道", "道路", "主路", "街"),
    lane=("小街巷", "街巷", "胡同", "巷", "小巷", "背街小巷"),
)
STATION_STATE_CHOICES = choices(
    intact=("完好", "正常", "good", "ok"),
    damaged=("损坏", "破损", "损毁", "broken"),
    missing=("缺失", "丢失", "缺少", "lost"),
)
DEADLINE_UNIT_CHOICES = choices(
    work_hours=("工作时", "工作小时", "working hours", "work hours"),
    work_days=("工作日", "working days", "work days"),
    hours=("小时", "hour", "h"),
    days=("天", "日", "自然日", "day", "d"),
)
PROBLEM_STATUS_CHOICES = choices(
    reported=("上报", "已上报", "立案", "已立案", "受理", "已受理", "新建", "open"),
    dispatched=("派遣", "已派遣", "派单", "已派单"),
    handling=("处置", "处置中", "处理中", "办理中", "in_progress"),
    checking=("核查", "待核查", "核查中", "待结案"),
    closed=("结案", "已结案", "办结", "已办结", "关闭", "已关闭", "done"),
    void=("作废", "已作废", "撤销", "cancelled", "canceled"),
)
PROBLEM_SOURCE_CHOICES = choices(
    patrol=("巡查", "街长巡查", "网格员巡查", "监督员上报", "巡查上报"),
    citizen=("随手拍", "市民", "市民上报", "公众", "微信", "app"),
    hotline=("12345", "热线", "市民热线", "12319"),
    video=("视频", "视频监控", "智能识别"),
    inspection=("督查", "检查", "专项检查", "暗访"),
    other=("其他",),
)
ROLE_CHOICES = choices(
    street_head=("街长", "总街长", "一级街长", "二级街长", "三级街长"),
    lane_head=("巷长",),
    shop_head=("店长",),
    grid_worker=("网格员",),
    market_head=("市场长", "市场负责人"),
)
TARGET_TYPE_CHOICES = choices(
    segment=("路段",),
    cell=("网格", "单元网格"),
    market=("市场",),
    premises=("场所", "商户"),
    street_office=("街道",),
    district=("区",),
)
LEVEL_CHOICES = choices(
    **{
        "1": ("一级", "一级街长", "总街长", "l1"),
        "2": ("二级", "二级街长", "l2"),
        "3": ("三级", "三级街长", "街长", "l3"),
    }
)
