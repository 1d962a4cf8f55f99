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
import string

from app.i18n import t

# CommonMark lets a backslash escape any ASCII punctuation. Escaped here is only what can
# start markup inside a line (so messages stay readable in logs and tests): emphasis,
# code, links and images, HTML and autolinks, strikethrough, Streamlit's math and its
# ":red[...]", ":material/...:" and emoji codes, character references; and what starts
# a block at the beginning of the text: headings, quotes, lists, rules.
_INLINE = re.compile(r"[\\`*\[\]<~$]|&(?=#?\w+;)|:(?=[A-Za-z_/])")
#: An underscore between letters or digits (snake_case) never emphasises.
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_BLOCK_START = re.compile(r"^([#>+=-]|\d+(?=[.)]))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def _escaped(match: re.Match[str]) -> str:
    return "\\" + match.group(0)


def escape_markdown(value: object) -> str:
    r"""``value`` as text that Markdown shows character for character, on one line.

    >>> escape_markdown("**王府井**")
    '\\*\\*王府井\\*\\*'
    >>> escape_markdown("![](http://x/y.png) <b>")
    '!\\[\\](http\\://x/y.png) \\<b>'
    >>> escape_markdown("# CITYGRID_TIANDITU_KEY: 010-6512 3456")
    '\\# CITYGRID_TIANDITU_KEY: 010-6512 3456'
    >>> escape_markdown("1. _斜_")
    '1\\. \\_斜\\_'
    >>> escape_markdown(None)
    ''
    """
    if value is None:
        return ""
    # one line: no paragraph, and no indented code block at its start
    text = _LINE_BREAKS.sub(" ", str(value)).lstrip(" \t")
    text = _UNDERSCORE.sub(_escaped, _INLINE.sub(_escaped, text))
    match = _BLOCK_START.match(text)
    if match is None:
        return text
    if match.group(0).isdigit():  # "1." or "1)": escape the mark after the number
        end = match.end()
        return f"{text[:end]}\\{text[end:]}"
    return "\\" + text


def t_text(key: str, **values: object) -> str:
    """The label ``key`` (:func:`app.i18n.t`) with every value shown as text.

    A value inside one of the label's own code spans (a command to copy) is shown there
    as it is, since Markdown reads nothing inside code; only a backtick, which would end
    the span, becomes a look-alike.
    """
    formatter = string.Formatter()
    out: list[str] = []
    in_code = False
    for literal, field, spec, conversion in formatter.parse(t(key)):
        out.append(literal)
        in_code ^= literal.count("`") % 2 == 1
        if field is None:
            continue
        value, _key = formatter.get_field(field, (), values)
        text = formatter.format_field(formatter.convert_field(value, conversion), spec or "")
        if in_code:
            out.append(_LINE_BREAKS.sub(" ", text).replace("`", "\u02cb"))
        else:
            out.append(escape_markdown(text))
    return "".join(out)
