"""Chinese names for generated roads, hutongs, places and people.

Road and hutong names are built from stems common in Beijing's old city (many are
real hutong names, used here as name material, not as positions); person names from
the most frequent surnames and common given-name characters. Every name a
:class:`NamePool` hands out is unique within its district.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Two- and three-character stems of Beijing street and hutong names.
STEMS = (
    "史家", "内务", "礼士", "演乐", "本司", "干面", "钱粮", "箭杆", "报房", "豆瓣", "雨儿", "帽儿", "菊儿", "秦老",
    "黑芝麻", "炒豆", "板厂", "东棉花", "沙井", "景阳", "福祥", "蓑衣", "方砖厂", "府学", "五道营", "箭厂", "大兴", "辛寺",
    "北剪子", "香饵", "铃铛", "细管", "魏家", "前鼓楼", "北锣", "宝钞", "方家", "分司厅", "北兵马", "南兵马", "圆恩寺",
    "不压桥", "吉祥", "石雀", "拐棒", "海运仓", "仓南", "新太仓", "南门仓", "北门仓", "东门仓", "禄米仓", "大方家", "小牌坊",
    "芳嘉园", "竹竿", "大羊毛", "羊宜宾", "新鲜", "什方院", "西堂子", "东堂子", "外交部", "协和", "西裱褙", "东裱褙", "苏州",
    "镇江", "洋溢", "大雅宝", "小雅宝", "贡院", "鲜鱼口", "草厂", "长巷", "大江", "兴隆", "薛家湾", "芦草园", "打磨厂",
    "孝顺", "葱店", "水獭", "翔凤", "广福观", "西河沿", "晓市", "南岗子", "金鱼池", "祈谷", "四块玉", "营房", "夕照寺",
    "崇兴", "花市", "缨子", "白桥", "唐洗泊", "沙子口", "蒲黄榆", "景泰", "宝华", "定安", "桃杨", "琉璃", "西革", "民旺",
    "安德", "胜古", "安华", "樱花", "育慧", "望坛", "柳荫", "青龙", "永康", "北新", "新中", "南营", "兴化", "和平",
    "光明", "永安", "东安", "地坛", "安贞", "西坝", "龙潭", "左安", "法华", "金鱼", "灯市", "东总布", "西总布", "遂安",
    "船板", "赵家楼", "后石", "南锣", "土儿", "谢家", "羊管", "豆腐池", "经厂", "净土", "寿比", "智化", "东旺", "藏经馆",
    "国子监", "成贤", "官书院", "北官厅", "香河园", "察院", "盔甲厂", "泡子河", "鲜鱼", "大栅栏", "銮庆", "东晓市", "磁器口",
    "红桥", "玉蜓", "安化", "忠实里", "左安浦", "幸福", "体育", "东唐", "法华寺", "光明楼", "夕照", "广渠", "铁营", "宝庆",
    "麻线", "椿树", "仁寿", "育群", "东四", "北池", "南池", "东厂", "翠花", "东皇", "黄化门", "嵩祝", "沙滩", "骑河楼",
    "韶九", "织染局", "大佛寺", "美术馆", "隆福寺", "钱粮", "十二", "东不压", "炮局", "雍和", "戏楼", "安内", "安外",
    "东河沿", "西河沿", "蒋宅口", "旧鼓楼", "草园", "大经厂", "小经厂", "东黄城", "西黄城",
)  # fmt: skip

COMPASS = ("东", "西", "南", "北", "前", "后", "大", "小", "新")
NUMERALS = (
    "头",
    "二",
    "三",
    "四",
    "五",
    "六",
    "七",
    "八",
    "九",
    "十",
    "十一",
    "十二",
    "十三",
    "十四",
)

SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田",
    "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚",
    "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "付", "方", "白",
    "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯", "龙", "史", "陶", "黎", "贺",
    "顾", "毛", "郝", "龚", "邵",
)  # fmt: skip
# Rough relative frequency: the first surnames are far more common.
_SURNAME_WEIGHTS = 1.0 / (np.arange(len(SURNAMES)) + 6.0)
GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀", "霞", "平", "刚", "桂", "英", "华", "文", "辉", "建", "国", "玲", "红", "鹏", "斌", "宇", "浩",
    "凯", "健", "俊", "帆", "婷", "雪", "琳", "晨", "阳", "峰", "欣", "怡", "佳", "颖", "鑫", "亮", "志",
    "海", "林", "波", "宁", "新", "春", "梅", "兰", "凤", "东", "晓", "立", "军", "卫", "京", "燕", "跃",
    "永", "长", "德", "福", "利", "荣", "清", "淑", "秋", "慧", "瑞", "博", "然", "子", "涵", "轩", "思",
    "梓", "睿", "诗", "雨", "萌",
)  # fmt: skip

BUSINESS = (
    "老北京", "胡同", "京味", "聚德", "福", "顺", "兴", "和", "荣", "祥", "隆", "盛", "丰", "源", "记", "家",
    "老字号", "春", "鑫", "汇", "满", "香", "鲜", "味", "乐", "佳", "美", "好运", "东来", "同", "庆", "泰", "裕",
    "宝", "金", "四季", "一品", "小馆", "大碗", "食府",
)  # fmt: skip


class NamePool:
    """Unique names, drawn reproducibly from ``rng``."""

    def __init__(self, rng: np.random.Generator, *, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.used: set[str] = set(taken or ())

    def _unique(self, make: Callable[[], str], tries: int = 60) -> str:
        for _ in range(tries):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        # the pools are large, but a huge district can exhaust a pattern
        base = make()
        n = 2
        while f"{base[:-1]}{n}{base[-1]}" in self.used:
            n += 1
        name = f"{base[:-1]}{n}{base[-1]}"
        self.used.add(name)
        return name

    def stem(self) -> str:
        """A stem, sometimes with a compass or size prefix."""
        s = str(self.rng.choice(STEMS))
        if self.rng.random() < 0.3:
            s = str(self.rng.choice(COMPASS)) + s
        return s

    def street(self, road_class: str) -> str:
        """A name for a generated street of ``road_class``."""
        if road_class in ("主干路", "快速路"):
            suffixes, p = ("大街", "路"), (0.6, 0.4)
        elif road_class == "次干路":
            suffixes, p = ("街", "路", "大街"), (0.45, 0.45, 0.1)
        else:
            suffixes, p = ("街", "路", "胡同", "巷"), (0.35, 0.25, 0.3, 0.1)
        return self._unique(lambda: self.stem() + str(self.rng.choice(suffixes, p=p)))

    def hutong(self, *, oblique: bool = False) -> str:
        """A name for a hutong (胡同, 巷, 夹道; 斜街 when it runs at a slant)."""
        if oblique and self.rng.random() < 0.5:
            return self._unique(lambda: self.stem() + "斜街")
        suffixes = ("胡同", "巷", "夹道", "里")
        p = (0.72, 0.14, 0.07, 0.07)
        return self._unique(lambda: self.stem() + str(self.rng.choice(suffixes, p=p)))

    def hutong_series(self, n: int) -> list[str]:
        """Names of ``n`` parallel hutongs numbered in a row: X头条, X二条, ..."""
        for _ in range(40):
            stem = self.stem()
            names = [f"{stem}{NUMERALS[i]}条" for i in range(min(n, len(NUMERALS)))]
            if not set(names) & self.used and len(names) == n:
                self.used.update(names)
                return names
        return [self.hutong() for _ in range(n)]

    def place(self, suffix: str) -> str:
        """A place name ending in ``suffix`` (市场, 小学, 宾馆 ...)."""
        return self._unique(lambda: self.stem() + suffix)

    def business(self, suffix: str) -> str:
        """A shop or restaurant name ending in ``suffix``."""

        def make() -> str:
            parts = self.rng.choice(BUSINESS, size=2, replace=False)
            head = self.stem() if self.rng.random() < 0.4 else ""
            return head + "".join(str(p) for p in parts) + suffix

        return self._unique(make)


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` plausible Chinese names (repeats happen, as in life)."""
    p = _SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum()
    surnames = rng.choice(SURNAMES, size=n, p=p)
    two = rng.random(n) < 0.7
    first = rng.choice(GIVEN, size=n)
    second = rng.choice(GIVEN, size=n)
    return [
        f"{s}{a}{b}" if t else f"{s}{a}"
        for s, a, b, t in zip(surnames, first, second, two, strict=True)
    ]


def phone_numbers(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct synthetic mobile numbers in the unassigned-looking 19900 block."""
    nums = rng.choice(1_000_000, size=n, replace=False)
    return [f"19900{int(x):06d}" for x in nums]
