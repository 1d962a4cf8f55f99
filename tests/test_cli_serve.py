"""``citygrid serve``: the Streamlit options the dashboard runs with (issue 7)."""

from __future__ import annotations

import os

import pytest
from streamlit import config

from citygrid.cli import serve_cmd


class _ExecCalledError(Exception):
    """Raised in place of ``os.execv``: the command it was given, not a server."""


def _command(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    def fake_execv(_path: str, args: list[str]) -> None:
        raise _ExecCalledError(args)

    monkeypatch.setattr(os, "execv", fake_execv)
    with pytest.raises(_ExecCalledError) as raised:
        serve_cmd.run_dashboard(port=8599, address="127.0.0.1")
    return list(raised.value.args[0])


def _options(cmd: list[str]) -> dict[str, str]:
    flags = cmd[cmd.index(str(serve_cmd.APP_MAIN)) + 1 :]
    return dict(zip(flags[::2], flags[1::2], strict=True))


def test_tables_offer_no_download_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # st.dataframe's toolbar would download any table as CSV, unaudited and unmasked by
    # the export rules: exports go through the pages' audited download buttons only
    options = _options(_command(monkeypatch))
    assert options["--client.disableDataExport"] == "true"
    assert options["--client.showErrorDetails"] == "none"


def test_every_option_is_one_streamlit_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in _options(_command(monkeypatch)):
        config.get_option(flag.removeprefix("--"))  # raises for an unknown option
