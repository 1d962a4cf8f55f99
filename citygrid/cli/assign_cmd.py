"""``citygrid assign``: check street-head rules, suggest heads, print notice boards, undo."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import click

_OFFICES = click.option(
    "--street-office",
    "offices",
    multiple=True,
    metavar="CODE|NAME",
    help="Only this street office (code or name); repeat for more.",
)


def _office_ids(conn: Any, values: tuple[str, ...]) -> list[int] | None:
    if not values:
        return None
    from db.queries.coverage import street_office_ids

    return street_office_ids(conn, values)


def _table(frame: Any, columns: list[str], *, title: str | None = None, limit: int = 40) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, box=None, padding=(0, 2), title_justify="left")
    for row in frame[columns].head(limit).itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else str(v) for v in row))
    Console().print(table)
    if len(frame) > limit:
        click.echo(f"... and {len(frame) - limit} more (use --csv to get them all)")


@click.group(name="assign")
def command() -> None:
    """Street heads (街长制): rules, suggestions, notice boards (公示牌) and undo."""


@command.command()
@_OFFICES
@click.option(
    "--severity",
    type=click.Choice(["error", "warning", "info"]),
    default="info",
    show_default=True,
    help="Show violations of this severity and worse.",
)
@click.option(
    "--max-spread-m",
    type=click.FloatRange(min=0),
    default=2000.0,
    show_default=True,
    help="Report a head whose segments spread wider than this.",
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of the reasons.")
def check(
    *,
    offices: tuple[str, ...],
    severity: str,
    max_spread_m: float,
    csv_path: Path | None,
    lang: str | None,
) -> None:
    """List every rule violation: missing or conflicting heads, broken reporting lines,
    lanes without lane heads, cells without a responsible body, scattered heads."""
    from db.engine import get_engine
    from db.queries.assignments import check as run_check
    from db.runtime_settings import effective_settings

    with get_engine().connect() as conn:
        lang = lang or effective_settings(conn).language
        found = run_check(
            conn, street_office_ids=_office_ids(conn, offices), max_spread_m=max_spread_m
        )
    keep = {"error": {"error"}, "warning": {"error", "warning"}}.get(
        severity, {"error", "warning", "info"}
    )
    found = found[found["severity"].isin(keep)]
    if csv_path is not None:
        found.to_csv(csv_path, index=False, encoding="utf-8-sig")
        click.echo(f"wrote {len(found)} violations to {csv_path}")
    reason = "reason_zh" if lang == "zh" else "reason_en"
    counts = found.groupby(["severity", "code"]).size()
    for (sev, code), n in counts.items():
        click.echo(f"{sev:8} {code:30} {n:6}")
    if found.empty:
        click.echo("no violations: every rule holds")
        return
    _table(found, ["severity", "code", reason])


@command.command()
@click.option("--street-office", "office", required=True, metavar="CODE|NAME")
@click.option(
    "--person",
    "persons",
    multiple=True,
    metavar="KEY",
    help="Person (roster key) available as a head; default: the office's current level-3 heads.",
)
@click.option("--length-weight", type=click.FloatRange(min=0), default=0.5, show_default=True)
@click.option("--load-weight", type=click.FloatRange(min=0), default=0.5, show_default=True)
@click.option(
    "--max-imbalance",
    type=click.FloatRange(min=0, max=1),
    default=0.05,
    show_default=True,
    help="Target: heaviest workload at most this much above the mean.",
)
@click.option(
    "--no-lock",
    is_flag=True,
    help="Redistribute every segment instead of keeping existing single heads.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Count problems reported since this day (default: the last 365 days).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--apply", "do_apply", is_flag=True, help="Save the suggestion as one change.")
def suggest(
    *,
    office: str,
    persons: tuple[str, ...],
    length_weight: float,
    load_weight: float,
    max_imbalance: float,
    no_lock: bool,
    since: dt.datetime | None,
    seed: int,
    do_apply: bool,
) -> None:
    """Propose a level-3 head for every street segment of a street office: each head's
    segments connected along the network, workloads (length and problems) balanced."""
    import sqlalchemy as sa

    from db.access import SYSTEM
    from db.engine import get_engine
    from db.queries.assignments import apply_suggestion
    from db.queries.assignments import suggest as run_suggest
    from gis.errors import DataError

    with get_engine().begin() as conn:
        office_id = _office_ids(conn, (office,))[0]  # type: ignore[index]
        people = None
        if persons:
            rows = conn.execute(
                sa.text("SELECT person_key, id FROM people WHERE person_key = ANY(:k)"),
                {"k": list(persons)},
            ).all()
            unknown = sorted(set(persons) - {r.person_key for r in rows})
            if unknown:
                msg = f"no person with key {', '.join(unknown)}; check the roster"
                raise DataError(msg)
            people = [int(r.id) for r in rows]
        start = time.perf_counter()
        suggestion, versions = run_suggest(
            conn,
            street_office_id=office_id,
            people=people,
            lock_existing=not no_lock,
            length_weight=length_weight,
            load_weight=load_weight,
            max_imbalance=max_imbalance,
            problems_since=since.date() if since else None,
            seed=seed,
        )
        took = time.perf_counter() - start
        a, heads = suggestion.assignment, suggestion.heads
        click.echo(
            f"{len(a)} segments ({int(a['locked'].sum())} locked), {len(heads)} heads, "
            f"in {took:.2f} s"
        )
        click.echo(
            f"workload max/mean {suggestion.max_over_mean:.3f}, "
            f"min/mean {suggestion.min_over_mean:.3f}; "
            f"every head connected: {'yes' if suggestion.connected else 'no'}; "
            f"target met: {'yes' if suggestion.balanced else 'no'}"
        )
        for note in suggestion.notes:
            click.echo(f"note: {note}")
        names = dict(conn.execute(sa.text("SELECT id, name FROM people")).all())
        view = heads.reset_index().assign(name=lambda f: f["person_id"].map(names))
        view = view.sort_values("ratio", ascending=False)
        view["ratio"] = view["ratio"].map("{:.3f}".format)
        view["length_m"] = view["length_m"].map("{:,.0f}".format)
        _table(view, ["person_id", "name", "n_segments", "length_m", "problems", "ratio", "pieces"])
        if not do_apply:
            click.echo("nothing saved; add --apply to save this suggestion as one change")
            return
        result = apply_suggestion(
            conn,
            SYSTEM,
            street_office_id=office_id,
            assignment=a["person_id"].to_dict(),
            expected_versions=versions,
        )
    _saved(
        result,
        unchanged="the suggestion matches the current heads: nothing to save",
        what=f" ({result.n_slots} segments changed)",
    )


@command.command()
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "pdf"]), required=True, help="File type."
)
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@_OFFICES
@click.option("--mask-phones", is_flag=True, help="Print phone numbers as 138****5678.")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help="Language of the boards' words (road and person names stay as they are).",
)
@click.option("--lanes", is_flag=True, help="Also the lanes' boards (巷长, 一巷一人).")
def boards(
    *,
    fmt: str,
    out: Path | None,
    offices: tuple[str, ...],
    mask_phones: bool,
    lang: str,
    lanes: bool,
) -> None:
    """Write the notice boards (公示牌) of street segments (and lanes): Excel, or a PDF to
    print. The export is audited."""
    from db.access import SYSTEM
    from db.engine import get_engine
    from db.queries.assignments import export_boards
    from db.runtime_settings import effective_settings

    with get_engine().begin() as conn:
        made = export_boards(
            conn,
            SYSTEM,
            fmt=fmt,  # type: ignore[arg-type]
            hotline=effective_settings(conn).hotline,
            lang=lang,  # type: ignore[arg-type]
            street_office_ids=_office_ids(conn, offices),
            lanes=lanes,
            mask_phones=mask_phones,
        )
    out = out or Path(made.file_name)
    out.write_bytes(made.data)
    click.echo(f"wrote {made.n_boards} notice boards to {out} ({made.n_vacant} without a head)")


@command.command()
@click.argument("change_id", type=int)
@click.option("--cascade", is_flag=True, help="Also undo later changes to the same segments.")
def undo(change_id: int, cascade: bool) -> None:
    """Undo a change (restore exactly the state before it) as a new change."""
    from db.access import SYSTEM
    from db.engine import get_engine
    from db.queries.assignments import undo as run_undo

    with get_engine().begin() as conn:
        result = run_undo(conn, SYSTEM, change_id, cascade=cascade)
    click.echo(
        f"undid change {change_id} as change {result.change_id} ({result.n_slots} slots restored)"
    )


@command.command()
@_OFFICES
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def history(offices: tuple[str, ...], limit: int) -> None:
    """Recent changes, newest first, with what undid them."""
    from db.engine import get_engine
    from db.queries.assignments import history as run_history

    with get_engine().connect() as conn:
        frame = run_history(conn, street_office_ids=_office_ids(conn, offices), limit=limit)
    if frame.empty:
        click.echo("no changes yet")
        return
    frame["created_at"] = frame["created_at"].map(lambda t: f"{t:%Y-%m-%d %H:%M}")
    frame["undone"] = frame["undone_by"].fillna("")
    _table(frame, ["id", "created_at", "actor", "action", "slots", "undone", "summary"])


# --- the reporting line: 总街长, 二级街长 and whom each level-3 head reports to ----------------


def _person(conn: Any, value: str) -> tuple[int, str]:
    """A person by roster key (``name|phone``) or by a name only one person has."""
    import sqlalchemy as sa

    from gis.errors import DataError

    rows = conn.execute(
        sa.text(
            "SELECT id, name, person_key FROM people WHERE person_key = :v "
            "OR (name = :v AND NOT EXISTS (SELECT 1 FROM people k WHERE k.person_key = :v)) "
            "ORDER BY id"
        ),
        {"v": value},
    ).all()
    if len(rows) == 1:
        return int(rows[0].id), str(rows[0].name)
    if not rows:
        msg = f"no person with key or name {value!r}; see `citygrid assign heads` or the roster"
    else:
        keys = ", ".join(repr(r.person_key) for r in rows[:5])
        msg = f"{len(rows)} people are named {value!r}; give one's roster key: {keys}"
    raise DataError(msg)


def _saved(
    result: Any, *, unchanged: str = "nothing to change: it is so already", what: str = ""
) -> None:
    """Say what a saved change did (``what``, by default its summary) and how to undo it."""
    if result.change_id is None:
        click.echo(unchanged)
        return
    errors = int((result.violations["severity"] == "error").sum())
    click.echo(
        f"saved as change {result.change_id}{what or ': ' + result.summary}; {errors} rule "
        "errors remain (see `citygrid assign check`); undo with "
        f"`citygrid assign undo {result.change_id}`"
    )


@command.command()
@click.option("--street-office", "office", required=True, metavar="CODE|NAME")
def heads(*, office: str) -> None:
    """The reporting line of a street office: its 总街长 and 二级街长, and whom each
    level-3 head reports to."""
    from db.engine import get_engine
    from db.queries.assignments import level3_heads, office_heads

    with get_engine().connect() as conn:
        office_id = _office_ids(conn, (office,))[0]  # type: ignore[index]
        top = office_heads(conn, street_office_ids=[office_id])
        third = level3_heads(conn, street_office_id=office_id)
        names = dict(zip(top["person_id"], top["name"], strict=True))
    if top.empty:
        click.echo("no level-1 or level-2 heads: appoint them with `citygrid assign appoint`")
    else:
        _table(top.fillna({"supervisor": ""}), ["level", "person_id", "name", "supervisor"])
    if third.empty:
        click.echo("no level-3 heads on the street office's segments yet")
        return
    third["reports_to"] = [
        ", ".join(
            "(nobody)" if i is None else names.get(i, f"#{i} (not a level-2 head)") for i in s
        )
        for s in third["supervisor_ids"]
    ]
    _table(third, ["person_id", "name", "n_segments", "reports_to"], title="level-3 heads")


@command.command()
@click.option("--street-office", "office", required=True, metavar="CODE|NAME")
@click.option("--person", required=True, metavar="KEY|NAME", help="Who is appointed.")
@click.option(
    "--level",
    type=click.IntRange(1, 2),
    default=2,
    show_default=True,
    help="1: the 总街长 (replaces the current one); 2: a 二级街长 (an office has several).",
)
@click.option(
    "--supervisor",
    metavar="KEY|NAME",
    help="A level-2 head's level-1 head (default: the street office's 总街长).",
)
def appoint(*, office: str, person: str, level: int, supervisor: str | None) -> None:
    """Appoint a street office's 总街长 or a 二级街长, as one undoable change."""
    from citygrid.cli.user_cmd import operator
    from db.engine import get_engine
    from db.queries.assignments import appoint_office_head, office_heads

    with get_engine().begin() as conn:
        office_id = _office_ids(conn, (office,))[0]  # type: ignore[index]
        person_id, _ = _person(conn, person)
        top = office_heads(conn, street_office_ids=[office_id])
        first = top.loc[top["level"] == 1, "person_id"].tolist()
        if level == 1:
            sup = None
        elif supervisor is not None:
            sup = _person(conn, supervisor)[0]
        else:
            sup = first[0] if len(first) == 1 else None
        result = appoint_office_head(
            conn,
            operator(),
            street_office_id=office_id,
            person_id=person_id,
            level=level,  # type: ignore[arg-type]
            supervisor_id=sup,
            expected_current=(first[0] if first else None) if level == 1 else None,
        )
    _saved(result)


@command.command()
@click.option("--street-office", "office", required=True, metavar="CODE|NAME")
@click.option("--person", required=True, metavar="KEY|NAME")
@click.option("--level", type=click.IntRange(1, 2), default=2, show_default=True)
def dismiss(*, office: str, person: str, level: int) -> None:
    """End a 总街长's or 二级街长's appointment (their level-3 heads then need another
    supervisor, which `citygrid assign check` lists)."""
    from citygrid.cli.user_cmd import operator
    from db.engine import get_engine
    from db.queries.assignments import end_office_head

    with get_engine().begin() as conn:
        office_id = _office_ids(conn, (office,))[0]  # type: ignore[index]
        result = end_office_head(
            conn,
            operator(),
            street_office_id=office_id,
            person_id=_person(conn, person)[0],
            level=level,  # type: ignore[arg-type]
        )
    _saved(result)


@command.command()
@click.option("--person", required=True, metavar="KEY|NAME", help="The head whose line changes.")
@click.option(
    "--supervisor",
    metavar="KEY|NAME",
    help="Whom they report to: a level-2 head of their street office (level 3), or its "
    "总街长 (level 2).",
)
@click.option("--none", "no_one", is_flag=True, help="Report to nobody (the rules list it).")
@click.option("--level", type=click.IntRange(2, 3), default=3, show_default=True)
def supervisor(*, person: str, supervisor: str | None, no_one: bool, level: int) -> None:
    """Set whom a level-3 head (on all their segments) or a level-2 head reports to."""
    import sqlalchemy as sa

    from citygrid.cli.user_cmd import operator
    from db.engine import get_engine
    from db.queries.assignments import ACTIVE, set_supervisor
    from gis.errors import DataError

    if (supervisor is None) == (not no_one):
        msg = "give --supervisor KEY|NAME, or --none to leave the head without one"
        raise DataError(msg)
    with get_engine().begin() as conn:
        person_id, _ = _person(conn, person)
        sup = None if no_one else _person(conn, supervisor)[0]  # type: ignore[arg-type]
        seen = conn.execute(
            sa.text(
                f"SELECT DISTINCT a.supervisor_id FROM assignments a WHERE {ACTIVE} "
                "AND a.person_id = :p AND a.role = 'street_head' AND a.level = :lvl "
                "AND a.target_type = :tt"
            ),
            {"p": person_id, "lvl": level, "tt": "segment" if level == 3 else "street_office"},
        ).scalars()
        result = set_supervisor(
            conn,
            operator(),
            person_id=person_id,
            supervisor_id=sup,
            expected_supervisor_id=frozenset(seen),
            level=level,  # type: ignore[arg-type]
        )
    _saved(result)
