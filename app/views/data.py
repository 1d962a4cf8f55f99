"""数据管理: what is loaded, upload a file through the loaders, history and rejects."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app import data, ui
from app.guard import guarded
from app.i18n import current_lang, t
from app.markup import escape_markdown, t_text
from app.session import page_actor
from app.style import inject_uploader_texts
from citygrid.settings import get_settings
from db.queries import loads
from db.summary import layer_counts
from etl.specs import LAYERS

COORDS = ("wgs84", "gcj02", "bd09")
REJECTS = "data_rejects_file"


@st.cache_data(ttl=data.PAGE_TTL_S, show_spinner=False)
def _counts(lang: str) -> pd.DataFrame:
    with data.engine().connect() as conn:
        rows = [(zh if lang == "zh" else en, n) for _t, zh, en, n in layer_counts(conn)]
    return pd.DataFrame(rows, columns=["layer", "rows"])


def _history() -> pd.DataFrame:
    with data.engine().connect() as conn:
        return loads.load_history(conn, limit=50)


def _upload_form() -> None:
    actor = page_actor()
    st.subheader(t("data.upload"))
    if not actor.can("data.load"):
        st.info(t("data.upload.denied"))
        return
    lang = current_lang()
    max_mb = get_settings().max_upload_mb
    if lang == "zh":
        inject_uploader_texts(browse=t("upload.browse"))
    with st.form("upload", clear_on_submit=False):
        layer = st.selectbox(
            t("data.upload.layer"),
            list(LAYERS),
            format_func=lambda k: LAYERS[k].label_zh if lang == "zh" else LAYERS[k].label_en,
        )
        file = st.file_uploader(
            t("data.upload.file", mb=max_mb),
            type=["gpkg", "zip", "geojson", "json", "csv", "txt", "xlsx"],
            max_upload_size=max_mb,
        )
        coords = st.selectbox(t("data.upload.coords"), COORDS, format_func=str.upper)
        strict = st.checkbox(t("data.upload.strict"))
        submitted = st.form_submit_button(t("data.upload.run"), type="primary")
    if submitted and file is not None:
        _load(layer, file, coords=coords, strict=strict)


def _load(
    layer: str, file: st.runtime.uploaded_file_manager.UploadedFile, **options: object
) -> None:
    from etl.load import load_file
    from etl.uploads import check_upload

    raw = file.getvalue()
    checked = check_upload(file.name, len(raw), raw)
    bar = st.progress(0.0, text=t_text("data.upload.progress", name=checked.name, done=0))

    def progress(done: int, total: int | None) -> None:
        share = min(done / total, 1.0) if total else 0.0
        bar.progress(
            share, text=t_text("data.upload.progress", name=checked.name, done=f"{done:,}")
        )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{checked.suffix}"
        path.write_bytes(raw)
        report = load_file(
            data.engine(),
            layer,
            path,
            actor=page_actor(),
            coords=options["coords"],  # type: ignore[arg-type]
            strict=bool(options["strict"]),
            progress=progress,
            file_name=checked.name,
        )
    bar.progress(1.0)
    st.cache_data.clear()
    message = t(
        "data.upload.done",
        read=report.n_read,
        inserted=report.n_inserted,
        updated=report.n_updated,
        unchanged=report.n_unchanged,
        rejected=report.n_rejected,
    )
    (st.success if report.status == "done" else st.warning)(message)
    for line in report.messages:
        st.caption(escape_markdown(line))


def _rejects(history: pd.DataFrame) -> None:
    st.subheader(t("data.rejects"))
    runs = history.loc[history["n_rejected"] > 0]
    if not len(runs):
        st.caption(t("data.rejects.none"))
        return
    labels = {
        int(r.id): f"#{r.id} {r.layer} · {r.file_name} · {r.n_rejected}" for r in runs.itertuples()
    }
    run_id = st.selectbox(t("data.rejects.pick"), list(labels), format_func=labels.__getitem__)
    with data.engine().connect() as conn:
        rejects = loads.load_rejects(conn, int(run_id), limit=5000)
    ui.table(
        rejects,
        {
            "row_no": "data.col.row",
            "natural_key": "col.code",
            "reason": "col.reason",
            "field": "data.col.field",
            "value": "data.col.value",
        },
    )
    path = runs.loc[runs["id"] == run_id, "rejects_path"].iloc[0]
    if page_actor().can("report.export") and isinstance(path, str) and Path(path).is_file():
        guarded(_rejects_download)(int(run_id))


def _rejects_download(run_id: int) -> None:
    """The rejects file, through ``db.queries.loads.export_rejects``: permission and the
    audit row are decided there, as for every other export."""
    if st.button(t("data.rejects.prepare"), key="rejects_prepare"):
        with data.engine().begin() as conn:
            made = loads.export_rejects(conn, page_actor(), run_id)
        st.session_state[REJECTS] = (run_id, made)
    ready = st.session_state.get(REJECTS)
    if ready is not None and ready[0] == run_id:
        st.download_button(
            t("data.rejects.download"),
            ready[1].data,
            file_name=ready[1].file_name,
            key="rejects_download",
        )


@guarded
def page() -> None:
    """The data page."""
    st.title(t("data.title"))
    left, right = st.columns([1, 2], gap="large")
    with left:
        st.subheader(t("data.counts"))
        counts = _counts(current_lang())
        if counts["rows"].sum() == 0:
            st.info(t("empty.no_data"))
        ui.table(counts, {"layer": "data.layer", "rows": "data.rows"},
                 height=35 * (len(counts) + 1) + 3)  # fmt: skip
    with right:
        guarded(_upload_form)()
    history = _history()
    st.subheader(t("data.history"))
    ui.table(
        history,
        {
            "started_at": "data.col.started",
            "layer": "data.col.layer",
            "file_name": "data.col.file",
            "status": "data.col.status",
            "n_read": "data.col.read",
            "n_inserted": "data.col.inserted",
            "n_updated": "data.col.updated",
            "n_rejected": "data.col.rejected",
            "user_name": "data.col.user",
        },
    )
    if len(history):
        _rejects(history)


page()
