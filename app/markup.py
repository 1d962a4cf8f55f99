"""Data shown as text where Streamlit reads Markdown.

``st.markdown``, ``st.caption``, ``st.info``/``success``/``warning``/``error``, titles,
widget labels, tab and button labels, ``st.progress`` text and radio options all read
Markdown (with Streamlit's own ``:red[...]``, ``:material/...:`` and ``$...$``). A road,
person, file or account named ``**x**``, ``![](http://host/y.png)`` or ``<script>`` must
appear as those characters, never as bold, an image fetched from elsewhere or markup.
Every value from the database, a file or a person goes through :func:`escape_markdown`
(or :func:`t_text` for a label with values) before it reaches one of those; tables
(``st.dataframe``), ``st.text`` and ``st.code`` show text as it is. In ``st.html`` use
``html.escape`` instead.
"""

from __future__ import annotations

import re

from app.i18n import t

# Every ASCII punctuation character may be escaped with a backslash in CommonMark; these
# are the ones Markdown, GitHub's extensions or Streamlit's own syntax give a meaning to.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^\"'])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def escape_markdown(value: object) -> str:
    r"""``value`` as text that Markdown shows character for character, on one line.

    >>> escape_markdown("**王府井**")
    '\\*\\*王府井\\*\\*'
    >>> escape_markdown("![](http://x/y.png)")
    '\\!\\[\\]\\(http\\://x/y\\.png\\)'
    >>> escape_markdown(None)
    ''
    """
    if value is None:
        return ""
    return _SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))


def t_text(key: str, **values: object) -> str:
    """The label ``key`` (:func:`app.i18n.t`) with every value escaped as text."""
    return t(key, **{k: escape_markdown(v) for k, v in values.items()})
