"""Every label exists in Chinese and English, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from app.i18n import EN, LANGS, TEXTS, ZH, translate

APP = Path(__file__).resolve().parent.parent / "app"
# t("key") and translate("key", ...) with a literal key
LITERAL = re.compile(r"""\b(?:t|translate)\(\s*["']([a-z0-9_.\-]+)["']""")
# t(f"prefix.{...}") with a formatted key: the prefix must name some keys
PREFIX = re.compile(r"""\b(?:t|translate)\(\s*f["']([a-z0-9_.\-]+)\{""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys() -> None:
    assert sorted(set(ZH) ^ set(EN)) == []


@pytest.mark.parametrize("key", sorted(ZH))
def test_placeholders_agree(key: str) -> None:
    assert _placeholders(ZH[key]) == _placeholders(EN[key])


def test_english_labels_are_english_and_chinese_labels_chinese() -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    # the language switch itself is labelled in both languages on purpose
    bilingual = {"side.language"}
    assert [k for k, v in EN.items() if cjk.search(v) and k not in bilingual] == []
    assert [k for k, v in ZH.items() if not cjk.search(v) and k not in bilingual] == []


def test_every_key_the_app_asks_for_exists() -> None:
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in APP.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        used |= set(LITERAL.findall(source))
        prefixes |= set(PREFIX.findall(source))
    assert used, "the pattern found no labels: the test would prove nothing"
    assert sorted(used - set(ZH)) == []
    assert sorted(p for p in prefixes if not any(k.startswith(p) for k in ZH)) == []


def test_translate_formats_values() -> None:
    assert translate("assign.counts", "en", total=3, assigned=1, unassigned=1, conflict=1) == (
        "3 segments: 1 assigned, 1 unassigned, 1 in conflict"
    )
    assert set(TEXTS) == set(LANGS)
