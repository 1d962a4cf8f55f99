"""Rule profiles: the editable rules that coverage is judged by.

A profile is a TOML file. The shipped default, ``bait_stations.toml`` beside this
module, documents its sources and assumptions in its comments; a city copies it
(``citygrid coverage profile --write FILE``), edits the figures and passes the copy
with ``--profile``. :func:`load_bait_profile` checks every value and reports all
problems of a file at once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gis.errors import DataError

DEFAULT_BAIT_PROFILE = Path(__file__).resolve().parent / "bait_stations.toml"

#: Station states the database allows (``bait_stations.state``).
STATION_STATES = ("intact", "damaged", "missing")

RuleMode = Literal["perimeter", "count"]
ExclusionSource = Literal["premises", "road_segments"]


@dataclass(frozen=True)
class Rule:
    """How many stations one kind of premises needs, and where they count."""

    id: str
    name_zh: str
    name_en: str
    kinds: tuple[str, ...]
    mode: RuleMode
    spacing_m: float
    min_stations: int
    attach_m: float
    point_footprint_m2: float


@dataclass(frozen=True)
class Exclusion:
    """A zone where no station should stand without special reason."""

    id: str
    name_zh: str
    name_en: str
    source: ExclusionSource
    kinds: tuple[str, ...]
    road_classes: tuple[str, ...]
    buffer_m: float


@dataclass(frozen=True)
class StationPolicy:
    """Which stations count, and how old an inspection may be."""

    count_states: tuple[str, ...]
    inspection_max_age_days: int
    overdue_stations_count: bool


@dataclass(frozen=True)
class BaitProfile:
    """A validated bait-station rule profile."""

    name: str
    markets_rule: str
    stations: StationPolicy
    rules: tuple[Rule, ...]
    exclusions: tuple[Exclusion, ...]
    source: str

    def rule(self, rule_id: str) -> Rule:
        """The rule called ``rule_id``."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        msg = f"profile {self.source} has no rule {rule_id!r}; rules are: {self.rule_ids()}"
        raise DataError(msg)

    def rule_ids(self) -> list[str]:
        """Ids of the rules, in file order."""
        return [r.id for r in self.rules]

    def kind_to_rule(self) -> dict[str, str]:
        """Normalised premises kind -> rule id."""
        return {normalise_kind(k): r.id for r in self.rules for k in r.kinds}


def normalise_kind(kind: str) -> str:
    """The form kinds are compared in: stripped, lower case.

    >>> normalise_kind("  Farmers_Market ")
    'farmers_market'
    """
    return kind.strip().lower()


class _Checker:
    """Collects every problem of a profile so that one error can report them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def unknown(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            self.problems.append(
                f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
            )

    def text(self, where: str, value: Any, *, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{where}: needs a non-empty text, got {value!r}")
            return ""
        return value.strip()

    def number(self, where: str, value: Any, *, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where}: needs a number, got {value!r}")
            return 0.0
        if positive and not value > 0:
            self.problems.append(f"{where}: must be greater than 0, got {value!r}")
        elif not positive and value < 0:
            self.problems.append(f"{where}: must not be negative, got {value!r}")
        return float(value)

    def integer(self, where: str, value: Any, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where}: needs a whole number, got {value!r}")
            return minimum
        if value < minimum:
            self.problems.append(f"{where}: must be at least {minimum}, got {value!r}")
        return value

    def texts(self, where: str, value: Any, *, required: bool = True) -> tuple[str, ...]:
        if value is None and not required:
            return ()
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) and v.strip() for v in value)
            or (required and not value)
        ):
            self.problems.append(f"{where}: needs a list of non-empty texts, got {value!r}")
            return ()
        return tuple(v.strip() for v in value)

    def table(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.problems.append(f"{where}: needs a table, got {value!r}")
            return {}
        return value


_RULE_KEYS = {
    "id",
    "name_zh",
    "name_en",
    "kinds",
    "mode",
    "spacing_m",
    "min_stations",
    "attach_m",
    "point_footprint_m2",
}
_EXCLUSION_KEYS = {"id", "name_zh", "name_en", "source", "kinds", "road_classes", "buffer_m"}
_STATION_KEYS = {"count_states", "inspection_max_age_days", "overdue_stations_count"}
_TOP_KEYS = {"profile_version", "name", "markets_rule", "stations", "rules", "exclusions"}


def _rule(check: _Checker, where: str, raw: Mapping[str, Any]) -> Rule:
    check.unknown(where, raw, _RULE_KEYS)
    rule_id = check.text(f"{where}.id", raw.get("id"))
    raw_mode = raw.get("mode")
    mode: RuleMode = "count" if raw_mode == "count" else "perimeter"
    if raw_mode not in ("perimeter", "count"):
        check.problems.append(f"{where}.mode: must be 'perimeter' or 'count', got {raw_mode!r}")
    if mode == "perimeter":
        spacing = check.number(f"{where}.spacing_m", raw.get("spacing_m"))
        if "min_stations" in raw:
            check.problems.append(f"{where}.min_stations: only a 'count' rule takes it")
        minimum = 0
    else:
        if "spacing_m" in raw:
            check.problems.append(f"{where}.spacing_m: only a 'perimeter' rule takes it")
        spacing = 0.0
        minimum = check.integer(f"{where}.min_stations", raw.get("min_stations"), minimum=1)
    return Rule(
        id=rule_id,
        name_zh=check.text(f"{where}.name_zh", raw.get("name_zh"), default=rule_id),
        name_en=check.text(f"{where}.name_en", raw.get("name_en"), default=rule_id),
        kinds=check.texts(f"{where}.kinds", raw.get("kinds")),
        mode=mode,
        spacing_m=spacing,
        min_stations=minimum,
        attach_m=check.number(f"{where}.attach_m", raw.get("attach_m"), positive=False),
        point_footprint_m2=check.number(
            f"{where}.point_footprint_m2", raw.get("point_footprint_m2")
        ),
    )


def _exclusion(check: _Checker, where: str, raw: Mapping[str, Any]) -> Exclusion:
    check.unknown(where, raw, _EXCLUSION_KEYS)
    ex_id = check.text(f"{where}.id", raw.get("id"))
    raw_source = raw.get("source")
    source: ExclusionSource = "road_segments" if raw_source == "road_segments" else "premises"
    kinds: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    if raw_source == "premises":
        kinds = check.texts(f"{where}.kinds", raw.get("kinds"))
    elif raw_source == "road_segments":
        classes = check.texts(f"{where}.road_classes", raw.get("road_classes"))
    else:
        check.problems.append(
            f"{where}.source: must be 'premises' or 'road_segments', got {raw_source!r}"
        )
    return Exclusion(
        id=ex_id,
        name_zh=check.text(f"{where}.name_zh", raw.get("name_zh"), default=ex_id),
        name_en=check.text(f"{where}.name_en", raw.get("name_en"), default=ex_id),
        source=source,
        kinds=kinds,
        road_classes=classes,
        buffer_m=check.number(f"{where}.buffer_m", raw.get("buffer_m"), positive=False),
    )


def _duplicates(check: _Checker, where: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            check.problems.append(f"{where}: id {i!r} is used twice")
        seen.add(i)


def parse_bait_profile(text: str, *, source: str = "<text>") -> BaitProfile:
    """Parse and validate a bait-station profile given as TOML text.

    Raises
    ------
    DataError
        Listing every problem found, each with its place in the file.

    Examples
    --------
    >>> p = parse_bait_profile(DEFAULT_BAIT_PROFILE.read_text(encoding="utf-8"))
    >>> p.rule("market").spacing_m, p.rule("sanitation").min_stations
    (20.0, 1)
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"bait-station profile {source} is not valid TOML: {exc}; fix the syntax"
        raise DataError(msg) from None
    check = _Checker()
    check.unknown("profile", raw, _TOP_KEYS)
    if raw.get("profile_version") != 1:
        check.problems.append(
            f"profile_version: this CityGrid reads version 1, got {raw.get('profile_version')!r}"
        )
    stations_raw = check.table("stations", raw.get("stations"))
    check.unknown("stations", stations_raw, _STATION_KEYS)
    states = check.texts("stations.count_states", stations_raw.get("count_states"))
    bad_states = sorted(set(states) - set(STATION_STATES))
    if bad_states:
        check.problems.append(
            f"stations.count_states: unknown state(s) {', '.join(bad_states)}; "
            f"states are {', '.join(STATION_STATES)}"
        )
    overdue = stations_raw.get("overdue_stations_count", True)
    if not isinstance(overdue, bool):
        check.problems.append(
            f"stations.overdue_stations_count: needs true or false, got {overdue!r}"
        )
        overdue = True
    policy = StationPolicy(
        count_states=states,
        inspection_max_age_days=check.integer(
            "stations.inspection_max_age_days",
            stations_raw.get("inspection_max_age_days"),
            minimum=1,
        ),
        overdue_stations_count=overdue,
    )
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        check.problems.append("rules: needs at least one [[rules]] table")
        rules_raw = []
    rules = tuple(
        _rule(check, f"rules[{i}]", check.table(f"rules[{i}]", r)) for i, r in enumerate(rules_raw)
    )
    ex_raw = raw.get("exclusions", [])
    if not isinstance(ex_raw, list):
        check.problems.append(f"exclusions: needs [[exclusions]] tables, got {ex_raw!r}")
        ex_raw = []
    exclusions = tuple(
        _exclusion(check, f"exclusions[{i}]", check.table(f"exclusions[{i}]", e))
        for i, e in enumerate(ex_raw)
    )
    _duplicates(check, "rules", [r.id for r in rules])
    _duplicates(check, "exclusions", [e.id for e in exclusions])
    owner: dict[str, str] = {}
    for r in rules:
        for k in r.kinds:
            key = normalise_kind(k)
            if key in owner and owner[key] != r.id:
                check.problems.append(
                    f"rules: kind {k!r} is listed by both {owner[key]!r} and {r.id!r}; "
                    "a kind belongs to one rule"
                )
            owner[key] = r.id
    markets_rule = check.text("markets_rule", raw.get("markets_rule"))
    if markets_rule and rules and markets_rule not in {r.id for r in rules}:
        check.problems.append(
            f"markets_rule: {markets_rule!r} is not a rule id; rules are "
            f"{', '.join(r.id for r in rules)}"
        )
    if check.problems:
        msg = (
            f"bait-station profile {source} has {len(check.problems)} problem(s): "
            + "; ".join(check.problems)
            + ". Fix them, or start from the default with `citygrid coverage profile --write FILE`"
        )
        raise DataError(msg)
    return BaitProfile(
        name=check.text("name", raw.get("name"), default=Path(source).stem),
        markets_rule=markets_rule,
        stations=policy,
        rules=rules,
        exclusions=exclusions,
        source=source,
    )


def load_bait_profile(path: Path | str | None = None) -> BaitProfile:
    """Read and validate a bait-station profile (the shipped default when ``path`` is None).

    >>> load_bait_profile().rule("building").spacing_m
    30.0
    """
    file = Path(path) if path is not None else DEFAULT_BAIT_PROFILE
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"bait-station profile {file} not found; give an existing TOML file"
        raise DataError(msg) from None
    except UnicodeDecodeError:
        msg = f"bait-station profile {file} is not UTF-8 text; save it as UTF-8"
        raise DataError(msg) from None
    return parse_bait_profile(text, source=str(file))
