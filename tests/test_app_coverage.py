"""The coverage-gaps page in AppTest: counts per layer, lists, exports, site suggestions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import engine
from gis.coverage import GAP_TYPES
from tests.browser_support import app_db, app_test  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("app_db")]


def test_every_gap_layer_is_counted_and_mapped() -> None:
    from db.queries.coverage import heads_missing

    at = app_test("coverage")
    assert not at.exception and not at.error
    counts = at.dataframe[0].value.set_index("缺口类型")
    assert set(counts.index) == {zh for zh, _en in GAP_TYPES.values()}
    with engine().connect() as conn:
        missing = len(heads_missing(conn, kind="street"))
    assert int(counts.loc[GAP_TYPES["segment_no_head"][0], "数量"]) == missing
    assert len(at.get("component_instance")) == 1


def test_export_is_audited_and_offered_for_download() -> None:
    with engine().connect() as conn:
        before = conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'export'"))
    at = app_test("coverage")
    at.button(key="cov_prepare_xlsx").click().run()
    assert not at.exception and not at.error
    assert at.get("download_button")
    with engine().connect() as conn:
        after = conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'export'"))
    assert after == before + 1


def test_site_suggestions_are_computed_on_demand() -> None:
    at = app_test("coverage")
    at.button(key="cov_sites_run").click().run()
    assert not at.exception and not at.error
    assert any("毒饵站" in i.value for i in at.info)
