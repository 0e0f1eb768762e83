"""Spelling: a question's word typed with two letters swapped, or spelt the other side of the Atlantic, is mended
against the model's own words."""

from __future__ import annotations

import pytest

from cdgpt.answer.spelling import mended
from cdgpt.index.lexical import LexicalIndex

LEXICAL = LexicalIndex.build(
    [
        "Open the Navigator to move a chapter with its heading.",
        "The Navigator lists headings, tables and frames.",
        "A numbered list starts at one; the reference point of an image is its anchor.",
        "Raised and lowered characters; the bandwidth of the network.",
        "Set up the environment before you build.",
        "Choose a color for the license page; organize the catalog.",
    ]
)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Can the Naivgator move a chapter?", "Can the Navigator move a chapter?"),  # its capital kept
        ("a numbreed list", "a numbered list"),  # the term the model holds, not the word it was stemmed from
        ("the refreence point", "the reference point"),
        ("NAVIGTAOR", "NAVIGATOR"),
        ("set up the evnironment", "set up the environment"),
        ("Which colour, and which licence?", "Which color, and which license?"),  # British asked of American
        ("How do I organise the catalogue?", "How do I organize the catalog?"),
    ],
)
def test_a_word_with_two_letters_swapped_is_mended(typed, meant):
    assert mended(LEXICAL, typed) == meant


@pytest.mark.parametrize(
    "question",
    [
        "How do I open the Navigator?",  # every word is held
        "How do I paint a wall?",  # "paint" lacks, but is short
        "Is a heater allowed in the office?",  # lacking, and no swap of it is held
        "How do I aNvigator?",  # a swap of the first letter is no slip mended
        "怎么打开导航器？",
        "Where is the Navigator2 setting?",  # not a word of letters alone
    ],
)
def test_other_words_are_left_as_they_are(question):
    assert mended(LEXICAL, question) == question


def test_of_two_swaps_held_the_one_in_more_chunks_wins():
    lexical = LexicalIndex.build(["qewrtyu here", "qwretyu there", "qwretyu again"])
    assert mended(lexical, "a qwertyu") == "a qwretyu"
    lexical = LexicalIndex.build(["qewrtyu here", "qewrtyu again", "qwretyu there"])
    assert mended(lexical, "a qwertyu") == "a qewrtyu"


def test_an_american_spelling_asked_of_british_pages_is_mended_too():
    lexical = LexicalIndex.build(["Pick a colour from the grey palette.", "Your licence is in the catalogue."])
    assert mended(lexical, "Which color is the gray one?") == "Which colour is the grey one?"
    assert mended(lexical, "Where is my license?") == "Where is my licence?"


def test_a_chinese_word_is_asked_in_the_form_the_model_holds():
    lexical = LexicalIndex.build(["安装时设置 root 帐号的密码。", "其它用户登录系统。"])
    assert mended(lexical, "怎么设置 root 账号的密码？") == "怎么设置 root 帐号的密码？"
    assert mended(lexical, "其他用户怎么登录？") == "其它用户怎么登录？"
    assert mended(lexical, "登陆以后呢？") == "登录以后呢？"
    assert mended(LEXICAL, "怎么设置账号？") == "怎么设置账号？"  # the model holds neither form
