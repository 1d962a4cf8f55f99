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


def test_a_chosen_community_cuts_every_gap_layer_to_it() -> None:
    at = app_test("coverage")
    whole = at.dataframe[0].value.set_index("缺口类型")["数量"].astype(int)
    com = at.sidebar.selectbox(key="f_community")
    chosen = com.options[1]  # the first community of the list (options[0] is "all")
    com.select(chosen).run()
    assert not at.exception and not at.error
    part = at.dataframe[0].value.set_index("缺口类型")["数量"].astype(int)
    assert (part <= whole).all() and part.sum() < whole.sum()
    with engine().connect() as conn:
        com_id = conn.scalar(
            sa.text("SELECT id FROM admin_areas WHERE level = 'community' AND name = :n"),
            {"n": chosen},
        )
        inside = conn.scalar(
            sa.text(
                "SELECT count(*) FROM road_segments s WHERE s.kind = 'street' "
                "AND ST_Intersects(s.geom, (SELECT ST_Buffer(geom, 5) FROM admin_areas "
                "WHERE id = :c)) AND NOT EXISTS (SELECT 1 FROM assignments a "
                "WHERE a.target_type = 'segment' AND a.target_id = s.id AND a.valid_to IS NULL "
                "AND a.role = 'street_head' AND a.level = 3)"
            ),
            {"c": com_id},
        )
    assert int(part.loc[GAP_TYPES["segment_no_head"][0]]) == inside
