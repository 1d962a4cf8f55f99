"""The one settings object, read from the environment (prefix ``CITYGRID_``) and ``.env``.

Nothing else in CityGrid reads ``os.environ``. Validation happens once, at start,
so that a wrong value is reported before any work is done.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.errors import ConfigError

#: The repository root when running from a checkout (editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

GridCodeScheme = Literal["14", "15", "15an"]
Basemap = Literal["none", "osm", "tianditu", "gaode", "local"]

#: Settings an administrator may change while the platform runs (``citygrid settings``,
#: the dashboard's settings page); the database keeps them and
#: :func:`db.runtime_settings.effective_settings` lays them over the environment. The
#: rest are read once at start or fixed when the database was created (the working CRS,
#: the database itself, the time zone days are counted in, the upload limit handed to
#: the web server), and secrets (the Tianditu key) stay in the environment.
RUNTIME_FIELDS: tuple[str, ...] = (
    "hotline",
    "yellow_fraction",
    "refresh_seconds",
    "language",
    "basemap",
    "local_tile_url",
)

_HOTLINE = re.compile(r"\+?[0-9][0-9 ()-]{1,30}[0-9]")


def _default_home() -> Path:
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".citygrid"
    return Path.cwd() / ".citygrid"


class Settings(BaseSettings):
    """Deployment settings. See ``.env.example`` for every variable with its meaning."""

    model_config = SettingsConfigDict(
        env_prefix="CITYGRID_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- database -----------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database. Unset: run the "
        "embedded cluster.",
    )
    home: Path = Field(default_factory=_default_home, description="Local state folder.")
    pg_port: int = Field(default=55432, ge=1024, le=65535)
    pg_bin_dir: Path | None = None
    pg_service_user: str = Field(
        default="citygrid",
        description="Unprivileged OS user that runs the embedded server when invoked as root.",
    )
    db_name: str = Field(default="citygrid", pattern=r"^[a-z_][a-z0-9_]*$")

    # --- the deployment -------------------------------------------------------------
    working_srid: int = Field(
        default=4548,
        description="Metric working CRS, fixed when the database is created. Default: "
        "CGCS2000 3-degree Gauss-Kruger CM 117E (Beijing).",
    )
    area_code: str = Field(default="110101", pattern=r"^\d{6}$")
    area_name: str = "东城区"
    area_tolerance_m: float = Field(
        default=2000.0, ge=0, description="How far outside the district a feature may lie."
    )
    grid_code_scheme: GridCodeScheme = "15"
    nearest_segment_max_m: float = Field(default=60.0, gt=0)
    bait_profile: Path | None = Field(
        default=None,
        description="A city's bait-station rule profile (TOML); unset: the shipped default.",
    )
    hotline: str = Field(default="12345", description="Complaint hotline printed on notice boards.")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Local time zone: days, months and deadlines are counted in it.",
    )
    oidc_default_role: Literal["planner", "leader", "field", "viewer"] | None = Field(
        default=None,
        description="Role for single-sign-on users with no local account (unset: refuse them).",
    )
    oidc_default_street_offices: list[str] = Field(
        default_factory=list,
        description="Street-office codes that limit such users (empty: no limit).",
    )

    # --- the app ----------------------------------------------------------------
    app_port: int = Field(default=8501, ge=1024, le=65535)
    app_address: str = Field(
        default="127.0.0.1",
        description="Address the dashboard listens on; 0.0.0.0 serves the LAN, and then "
        "sign-in is required (create the first administrator with `citygrid user add`).",
    )
    language: Literal["zh", "en"] = Field(
        default="zh", description="Language the dashboard opens in (each person may switch)."
    )
    basemap: Basemap = Field(
        default="none",
        description="Map tiles: none (works offline), osm, tianditu (needs a key), gaode, local.",
    )
    tianditu_key: SecretStr | None = None
    local_tile_url: str | None = Field(
        default=None, description="XYZ tile template of a local tile server (basemap local)."
    )
    refresh_seconds: int = Field(
        default=60, ge=5, description="Seconds between two refreshes of the big screen."
    )
    yellow_fraction: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="An open problem turns yellow when at most this share of its allowed "
        "handling time is left.",
    )
    max_upload_mb: int = Field(default=200, ge=1)

    @field_validator("working_srid")
    @classmethod
    def _metric_crs(cls, srid: int) -> int:
        from pyproj import CRS

        try:
            crs = CRS.from_epsg(srid)
        except Exception as exc:
            msg = f"CITYGRID_WORKING_SRID={srid} is not an EPSG code pyproj knows"
            raise ValueError(msg) from exc
        if not crs.is_projected or crs.axis_info[0].unit_name not in {"metre", "meter"}:
            msg = (
                f"CITYGRID_WORKING_SRID={srid} ({crs.name}) is not a metric projected CRS; "
                "use a CGCS2000 Gauss-Kruger zone (EPSG:4534-4554) or a UTM zone"
            )
            raise ValueError(msg)
        return srid

    @field_validator("bait_profile")
    @classmethod
    def _profile_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            msg = f"CITYGRID_BAIT_PROFILE={path} is not a file (write one with `citygrid coverage profile --write {path}`)"
            raise ValueError(msg)
        return path

    @field_validator("hotline")
    @classmethod
    def _phone_number(cls, hotline: str) -> str:
        text = hotline.strip()
        if not _HOTLINE.fullmatch(text):
            msg = (
                f"CITYGRID_HOTLINE={hotline[:40]!r} is not a phone number; give digits, with "
                "spaces, hyphens or brackets if you like (e.g. 12345 or 010-6512 3456)"
            )
            raise ValueError(msg)
        return text

    @field_validator("local_tile_url")
    @classmethod
    def _tile_template(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        text = url.strip()
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in text]
        if not text.lower().startswith(("http://", "https://")) or missing:
            msg = (
                f"CITYGRID_LOCAL_TILE_URL={text[:80]!r} is not an http(s) XYZ tile template "
                "with {z}, {x} and {y} (e.g. http://tiles.example.local/{z}/{x}/{y}.png)"
            )
            raise ValueError(msg)
        return text

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"CITYGRID_TIMEZONE={zone!r} is not a known time zone (e.g. Asia/Shanghai)"
            raise ValueError(msg) from exc
        return zone

    @model_validator(mode="after")
    def _basemap_needs(self) -> Settings:
        if self.basemap == "tianditu" and self.tianditu_key is None:
            msg = "CITYGRID_BASEMAP=tianditu needs CITYGRID_TIANDITU_KEY"
            raise ValueError(msg)
        if self.basemap == "local" and not self.local_tile_url:
            msg = "CITYGRID_BASEMAP=local needs CITYGRID_LOCAL_TILE_URL (an XYZ template)"
            raise ValueError(msg)
        return self

    @property
    def embedded(self) -> bool:
        """True when CityGrid runs its own PostgreSQL cluster."""
        return self.database_url is None

    @property
    def state_dir(self) -> Path:
        """Folder for rejects files, exports and logs."""
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the validated settings, or raise one readable :class:`ConfigError`."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        msg = f"invalid settings: {problems}"
        raise ConfigError(msg) from None
