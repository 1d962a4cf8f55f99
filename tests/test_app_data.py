"""The data page in AppTest: counts, an upload through the loaders, history, rejects."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import engine
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]

CATEGORIES_CSV = (
    "代码,名称,大类代码,大类名称,巡查类别\n"
    "13001,乱堆物料,13,街面秩序,3\n"
    "13002,<script>alert(1)</script>,13,街面秩序,3\n"
    ",缺代码的行,13,街面秩序,3\n"
).encode()


def test_data_page_lists_what_is_loaded() -> None:
    at = app_test("data")
    assert not at.exception and not at.error
    counts = at.dataframe[0].value
    assert list(counts.columns) == ["图层", "记录数"]
    with engine().connect() as conn:
        n = conn.scalar(sa.text("SELECT count(*) FROM road_segments"))
    assert int(counts.set_index("图层").loc["路段", "记录数"]) == n


def test_upload_loads_through_the_loaders_and_shows_rejects() -> None:
    with engine().connect() as conn:
        runs_before = conn.scalar(sa.text("SELECT count(*) FROM load_runs"))
    at = app_test("data")
    form_layer = at.selectbox[0]
    form_layer.set_value("categories")
    at.file_uploader[0].upload("分类.csv", CATEGORIES_CSV, "text/csv")
    at.button[0].click().run()
    assert not at.exception
    assert at.success or at.warning, [e.value for e in at.error]
    message = (at.success or at.warning)[0].value
    assert "拒绝 1" in message
    with engine().connect() as conn:
        runs_after = conn.scalar(sa.text("SELECT count(*) FROM load_runs"))
        hostile = conn.scalar(sa.text("SELECT name FROM problem_categories WHERE code = '13002'"))
    assert runs_after == runs_before + 1
    assert hostile == "<script>alert(1)</script>"  # stored as text, never run
    history = at.dataframe[1].value
    assert "分类.csv" in history["文件"].tolist()
    rejects = at.dataframe[2].value
    assert len(rejects) == 1


def test_an_upload_of_the_wrong_type_is_refused_calmly() -> None:
    at = app_test("data")
    at.selectbox[0].set_value("categories")
    at.file_uploader[0].upload("names.csv", b"%PDF-1.4 not a csv", "text/csv")
    at.button[0].click().run()
    assert not at.exception
    assert any("PDF" in w.value for w in at.warning)


def test_the_rejects_file_is_downloaded_only_through_an_audited_export() -> None:
    def exports() -> int:
        with engine().connect() as conn:
            return int(
                conn.scalar(
                    sa.text("SELECT count(*) FROM audit_log WHERE action = 'export.rejects'")
                )
            )

    at = app_test("data")
    at.selectbox[0].set_value("categories")
    at.file_uploader[0].upload("拒绝行.csv", CATEGORIES_CSV, "text/csv")
    at.button[0].click().run()
    assert not at.exception
    # the run with rejects is listed; its file is not offered before it is exported
    assert at.button(key="rejects_prepare")
    assert not at.get("download_button")
    before = exports()
    at.button(key="rejects_prepare").click().run()
    assert not at.exception and not at.error
    (button,) = at.get("download_button")
    assert button.proto.label == "下载拒绝行文件"  # type: ignore[attr-defined]
    assert exports() == before + 1
    with engine().connect() as conn:
        detail = conn.scalar(
            sa.text("SELECT detail FROM audit_log WHERE action = 'export.rejects' ORDER BY id DESC")
        )
    assert detail["source_file"] == "拒绝行.csv" and detail["rows"] == 1
