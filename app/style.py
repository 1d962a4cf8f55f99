"""CSS of the dashboard: the dark big screen, readable from 5 m, and the kiosk chrome."""

from __future__ import annotations

import streamlit as st

BIG_SCREEN_CSS = """
<style>
[data-testid="stMain"], [data-testid="stHeader"] { background: #07111f; color: #e6eefc; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 3.2rem 1.5rem 2rem 1.5rem; }
[data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] h3,
[data-testid="stMain"] p, [data-testid="stMain"] span, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { color: #e6eefc; }
.cg-title { font-size: 2.6rem; font-weight: 700; letter-spacing: .08em; text-align: center;
  color: #e6eefc; margin: 0; }
.cg-sub { text-align: center; color: #8fb3e8; font-size: 1.1rem; margin-bottom: .4rem; }
.cg-kpis { display: grid; grid-template-columns: repeat(8, minmax(0, 1fr)); gap: .8rem; }
.cg-kpi { background: linear-gradient(180deg, #0f2540, #0a1a30); border: 1px solid #1f4b7a;
  border-radius: 10px; padding: .7rem .9rem; text-align: center; }
.cg-kpi .v { font-size: 3.2rem; font-weight: 700; line-height: 1.1; color: #ffffff;
  font-variant-numeric: tabular-nums; }
.cg-kpi .l { font-size: 1.15rem; color: #9cc2f5; }
.cg-kpi .h { font-size: .95rem; color: #6f93c4; }
.cg-kpi.yellow .v { color: #ffd54f; } .cg-kpi.red .v { color: #ff5252; }
.cg-kpi.good .v { color: #69f0ae; }
.cg-panel { background: #0b1a2e; border: 1px solid #1f4b7a; border-radius: 10px;
  padding: .6rem .9rem; }
.cg-panel h3 { font-size: 1.4rem; margin: 0 0 .4rem 0; color: #9cc2f5; }
.cg-rank { width: 100%; border-collapse: collapse; font-size: 1.05rem; table-layout: fixed; }
.cg-rank td, .cg-rank th { white-space: nowrap; }
.cg-rank td.name { overflow: hidden; text-overflow: ellipsis; }
.cg-rank col.rk { width: 2.6em; } .cg-rank col.pc { width: 5.2em; } .cg-rank col.rd { width: 3.2em; }
.cg-rank td, .cg-rank th { padding: .25rem .4rem; border-bottom: 1px solid #16365a;
  color: #e6eefc; text-align: left; }
.cg-rank th { color: #8fb3e8; font-weight: 400; }
.cg-rank td.n { text-align: right; font-variant-numeric: tabular-nums; }
.cg-rank td.red { color: #ff5252; }
.cg-ticker { overflow: hidden; white-space: nowrap; background: #0b1a2e;
  border: 1px solid #1f4b7a; border-radius: 10px; padding: .5rem 0; font-size: 1.35rem; }
.cg-ticker .track { display: inline-block; animation: cg-scroll 120s linear infinite; }
.cg-ticker .item { margin-right: 3rem; color: #e6eefc; }
.cg-ticker .tag { padding: 0 .4rem; border-radius: 4px; margin-right: .4rem; color: #07111f; }
.cg-ticker .tag.red { background: #ff5252; } .cg-ticker .tag.yellow { background: #ffd54f; }
.cg-ticker .tag.white { background: #cfd8dc; } .cg-ticker .tag.closed { background: #69f0ae; }
@keyframes cg-scroll { from { transform: translateX(0); } to { transform: translateX(-50%); } }
.cg-rule { color: #6f93c4; font-size: .95rem; }
.cg-bars { display: flex; flex-direction: column; gap: .35rem; padding: .3rem 0 .6rem 0; }
.cg-bar { display: grid; grid-template-columns: 5.6em 1fr 3.6em; align-items: center;
  gap: .5rem; font-size: 1.05rem; }
.cg-bar .l { color: #e6eefc; text-align: right; white-space: nowrap; overflow: hidden; }
.cg-bar .t { height: 1.05rem; }
.cg-bar .b { display: block; height: 100%; border-radius: 0 3px 3px 0; min-width: 2px; }
.cg-bar .v { color: #e6eefc; font-variant-numeric: tabular-nums; }
.cg-lines { display: block; width: 100%; height: auto; margin: .2rem 0 .4rem 0; }
.cg-pending { color: #6f93c4; font-size: 1.1rem; padding: 1.5rem 0; text-align: center; }
</style>
"""

#: One notice board as it prints, in the assignment desk's preview.
BOARD_CSS = """
<style>
.cg-board { border: 3px solid #b71c1c; border-radius: 6px; padding: .6rem 1rem; max-width: 34rem;
  background: #fffdf7; color: #222; }
.cg-board h4 { text-align: center; color: #b71c1c; margin: .1rem 0 .5rem 0; letter-spacing: .1em; }
.cg-board table { width: 100%; border-collapse: collapse; }
.cg-board th { text-align: left; width: 40%; font-weight: 600; color: #555; padding: .15rem .3rem; }
.cg-board td { padding: .15rem .3rem; }
.cg-board th, .cg-board td { border-bottom: 1px solid #eadfc8; }
.cg-board ul { margin: .5rem 0 0 1rem; padding: 0; font-size: .85rem; color: #555; }
</style>
"""

KIOSK_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stHeader"], [data-testid="stDecoration"],
[data-testid="stStatusWidget"], footer { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: .6rem !important; }
</style>
"""


def inject_big_screen() -> None:
    """Dark theme and large type for the big screen page."""
    st.html(BIG_SCREEN_CSS)


def inject_kiosk() -> None:
    """Hide every piece of navigation chrome on a wall screen."""
    st.html(KIOSK_CSS)


def inject_uploader_texts(*, browse: str) -> None:
    """File uploaders without Streamlit's English: the button reads ``browse`` and the
    size-and-types line (which the widget's own label already states) is hidden.

    Streamlit offers no parameter for these texts, so they are replaced by style.
    """
    label = browse.replace("\\", "\\\\").replace('"', '\\"')
    st.html(
        "<style>"
        '[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }'
        '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"]'
        " { display: none; }"
        '[data-testid="stFileUploaderDropzone"] button [data-has-shortcut]::after'
        f' {{ content: "{label}"; }}'
        "</style>"
    )
