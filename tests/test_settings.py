"""Settings are validated once, with messages that say what to change."""

from __future__ import annotations

import pytest

from citygrid.settings import Settings


def test_defaults_are_a_metric_chinese_crs() -> None:
    s = Settings(_env_file=None)
    assert s.working_srid == 4548
    assert s.grid_code_scheme in {"14", "15", "15an"}


def test_geographic_crs_is_refused() -> None:
    with pytest.raises(ValueError, match="not a metric projected CRS"):
        Settings(_env_file=None, working_srid=4490)


def test_unknown_epsg_is_refused() -> None:
    with pytest.raises(ValueError, match="not an EPSG code"):
        Settings(_env_file=None, working_srid=999999)


def test_tianditu_needs_a_key() -> None:
    with pytest.raises(ValueError, match="TIANDITU_KEY"):
        Settings(_env_file=None, basemap="tianditu")


def test_database_url_means_no_embedded_cluster() -> None:
    s = Settings(_env_file=None, database_url="postgresql://u:p@db:5432/citygrid")
    assert not s.embedded
