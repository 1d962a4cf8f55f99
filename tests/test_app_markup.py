"""Names, labels and file contents shown as text, never as Markdown (app/markup.py).

Streamlit reads Markdown in captions, alerts, titles and labels: a person, road, account
or file named ``**x**`` or ``![](http://host/y.png)`` must appear as those characters,
not as bold text or an image fetched from elsewhere (issue 7). What a reader sees is
rendered here with a CommonMark parser, raw HTML off as in Streamlit.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import streamlit as st
from markdown_it import MarkdownIt

from app.data import engine
from app.markup import escape_markdown, t_text
from db.access import SYSTEM
from gis.errors import DataError
from tests.browser_support import app_db, app_test, sign_in  # noqa: F401

#: Markdown, Streamlit's own syntax, HTML and script in one name (no "/": file names
#: lose everything before one).
HOSTILE = "**粗体** ![图](evil.png) [点我](javascript:alert(1)) _斜_ <script>alert(1)</script> :red[红] `码`"
URL_HOSTILE = "![x](http://evil.example/x.png) **王*小明**"
MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
#: What Markdown makes of the hostile names when it reads them as Markdown (labels have
#: code spans of their own, so code is checked by showing the names literally).
INTERPRETED = ("<strong>", "<em>", "<img", "<a ", "<script")
#: Elements whose text Streamlit reads as Markdown.
MARKDOWN_ELEMENTS = (
    "title", "header", "subheader", "markdown", "caption", "info", "success", "warning",
    "error", "toast",
)  # fmt: skip


def shown(markdown: str) -> str:
    """The HTML a browser gets for ``markdown``."""
    return MD.render(markdown)


def literally(text: str) -> str:
    """``text`` as it reads in HTML when shown character for character."""
    return html.escape(text, quote=False).replace('"', "&quot;")


def markdown_of(at: object) -> list[str]:
    """The text of every element of ``at`` that Streamlit reads as Markdown."""
    texts: list[str] = []
    for kind in MARKDOWN_ELEMENTS:
        texts += [str(e.value) for e in at.get(kind)]  # type: ignore[attr-defined]
    return texts


def interpreted(at: object, needle: str) -> list[str]:
    """The Markdown elements of ``at`` quoting ``needle`` whose rendering is not text."""
    return [
        text
        for text in markdown_of(at)
        if needle in text.replace("\\", "") and any(m in shown(text) for m in INTERPRETED)
    ]


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE, URL_HOSTILE, "# 标题", "1. 列表", "2) 列表", "- 项", "+ 项", "> 引用", "---",
        "    缩进", "&lt;b&gt; &#60;", "a\\*b", "~~删~~", "<http://evil.example>", "__粗__",
        "a_b_c", "[链接][1]", "*斜*", "王**", "第一行\n\n# 第二行",
    ],
)  # fmt: skip
def test_escaped_text_renders_as_typed(text: str) -> None:
    one_line = re.sub(r"\s*\n+\s*", " ", text).strip()  # what the reader sees: one line
    assert shown(escape_markdown(text)) == f"<p>{literally(one_line)}</p>\n"


def test_labels_escape_their_values_not_their_own_markdown() -> None:
    label = t_text("empty.no_data")  # the label's own `citygrid demo` stays code
    assert "<code>citygrid demo</code>" in shown(label)
    assert literally(HOSTILE) in shown(t_text("side.user", name=HOSTILE, role="访客"))


def test_a_value_inside_a_labels_code_span_is_not_escaped_and_cannot_end_it() -> None:
    label = t_text("my.unlinked", user="**王**`x")
    html_ = shown(label)
    assert "<p>账号 **王**`x 尚未关联" in html_  # escaped in the sentence
    assert "<code>citygrid user edit **王**\u02cbx --person" in html_  # verbatim in the command


# --- in the pages ---------------------------------------------------------------------


@pytest.fixture
def hostile_account() -> Iterator[tuple[str, str]]:
    """A viewer whose display name is hostile (removed afterwards)."""
    from db.users import create_user

    with engine().begin() as conn:
        create_user(conn, SYSTEM, "markup_viewer", role="viewer", password="correct horse 5",
                    display_name=HOSTILE)  # fmt: skip
    yield "markup_viewer", "correct horse 5"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_a_display_name_shows_as_typed_in_the_sidebar(hostile_account: tuple[str, str]) -> None:
    at = sign_in(app_test(), *hostile_account)
    assert not at.exception and not at.error
    (caption,) = [c.value for c in at.sidebar.caption if "markup" in c.value or "粗体" in c.value]
    assert literally(HOSTILE) in shown(caption)
    assert not interpreted(at, "粗体")


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_an_error_quoting_a_name_shows_it_as_typed() -> None:
    from db.kiosk import revoke_kiosk_token

    at = app_test("admin")
    try:
        for _ in range(2):  # the second: "a wall-screen token named ... is already active"
            at.text_input(key="admin_token_name").set_value(HOSTILE)
            at.button(key="FormSubmitter:admin_new_token-新增").click().run()
        assert not at.exception
        (warning,) = [w.value for w in at.warning if "already active" in w.value]
        assert literally(HOSTILE) in shown(warning)
        assert not interpreted(at, "粗体")
    finally:
        with engine().begin() as conn, contextlib.suppress(DataError):
            revoke_kiosk_token(conn, SYSTEM, HOSTILE)


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_a_file_name_shows_as_typed_in_a_refusal() -> None:
    name = "**粗体**_斜_![图](evil.png)<script>.csv"
    at = app_test("data")
    at.selectbox[0].set_value("categories")
    at.file_uploader[0].upload(name, b"%PDF-1.4 not a csv", "text/csv")
    at.button[0].click().run()
    assert not at.exception
    (refusal,) = [w.value for w in at.warning if "PDF" in w.value]
    assert literally(name) in shown(refusal)
    assert not interpreted(at, "粗体")


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_an_identity_provider_refusal_shows_the_identity_as_typed() -> None:
    from tests.test_app_signin import AUTH, IDENTITY

    at = app_test(run=False, address="0.0.0.0")
    at.secrets = AUTH
    at.user = dict(IDENTITY, sub=HOSTILE, email=None)
    at.run()
    assert not at.exception
    (caption,) = [c.value for c in at.caption if "identity provider" in c.value]
    assert literally(f"oidc:{HOSTILE}") in shown(caption)
    assert not interpreted(at, "粗体")


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_a_refused_setting_shows_the_value_as_typed() -> None:
    value = "**12345** ![图](evil.png)"
    at = app_test("settings")
    at.selectbox(key="set_name").set_value("hotline").run()
    at.text_input(key="set_value_hotline").set_value(value)
    at.button(key="set_save").click().run()
    assert not at.exception
    (refusal,) = at.error
    assert literally(value) in shown(refusal.value)
    assert not interpreted(at, "12345")


@pytest.fixture
def hostile_field_account() -> Iterator[tuple[str, str]]:
    """Field staff with a hostile user name, linked to nobody (removed afterwards)."""
    from db.users import create_user

    name = "**粗体**![图](evil.png)_斜_"
    with engine().begin() as conn:
        create_user(conn, SYSTEM, name, role="field", password="correct horse 4")
    yield name, "correct horse 4"
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
def test_a_user_name_shows_as_typed_on_my_area(hostile_field_account: tuple[str, str]) -> None:
    name = hostile_field_account[0]
    at = sign_in(app_test(), *hostile_field_account)  # field staff land on their own area
    assert not at.exception and not at.error
    (note,) = [i.value for i in at.info if "粗体" in i.value]
    # in the sentence and in the command to copy, the name as typed
    assert shown(note).count(literally(name)) == 2
    assert f"<code>citygrid user edit {literally(name)} --person" in shown(note)
    assert not interpreted(at, "粗体")


@pytest.fixture
def hostile_road() -> Iterator[str]:
    """A street segment and a person with hostile names (removed afterwards)."""
    with engine().begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO road_segments (code, road_name, from_name, to_name, kind, "
                "street_office_id, community_id, length_m, geom) "
                "SELECT 'MARKUP1', :r, :r, '尽头', kind, street_office_id, community_id, "
                "length_m, ST_Translate(geom, 0, 3) FROM road_segments "
                "WHERE kind = 'street' AND street_office_id IS NOT NULL ORDER BY id LIMIT 1"
            ),
            {"r": URL_HOSTILE},
        )
        conn.execute(
            sa.text(
                "INSERT INTO people (person_key, name, phone, street_office_id) "
                "SELECT 'markup-1', :n, '13800001234', street_office_id FROM road_segments "
                "WHERE code = 'MARKUP1'"
            ),
            {"n": URL_HOSTILE},
        )
    _forget_cached_results()
    yield URL_HOSTILE
    with engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM people WHERE person_key = 'markup-1'"))
        conn.execute(sa.text("DELETE FROM road_segments WHERE code = 'MARKUP1'"))
    _forget_cached_results()


def _forget_cached_results() -> None:
    engine().dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.mark.db
@pytest.mark.usefixtures("app_db")
@pytest.mark.parametrize("view", ["bigscreen", "hotspots", "coverage", "data", "admin"])
def test_people_and_roads_named_in_markdown_show_as_typed(hostile_road: str, view: str) -> None:
    at = app_test(view)
    assert not at.exception and not at.error
    assert not interpreted(at, "王*小明")
    if view == "coverage":  # the segment has no street head: listed as a gap, as typed
        listed = [str(v) for d in at.dataframe for v in d.value.to_numpy().ravel()]
        assert any(hostile_road in v for v in listed)
