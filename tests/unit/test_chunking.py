"""Chunking: bounded, overlapping chunks that split at sentence ends and never cross a section."""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdgpt.ingest.chunking import Chunk, chunk_document, is_code, split_sentences
from cdgpt.ingest.extract import Document, Section


def doc(*sections: Section, title: str = "Doc Title", source: str = "s3://b/doc.md") -> Document:
    return Document(source=source, title=title, sections=sections)


def numbered_sentences(count: int, start: int = 0) -> list[str]:
    return [f"Sentence number {i:03d} is here." for i in range(start, start + count)]  # 29 chars each


def non_ws(text: str) -> str:
    return "".join(c for c in text if not c.isspace())


def is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(c in it for c in needle)


def sentences_of(chunk: Chunk) -> list[str]:
    return re.findall(r"Sentence number \d{3} is here\.", chunk.text)


# --- size bound ----------------------------------------------------------------------------------


def test_given_a_long_section_when_chunked_then_no_chunk_exceeds_the_size():
    text = " ".join(numbered_sentences(200))
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=50)
    assert len(chunks) > 20
    assert all(0 < len(c.text) <= 200 for c in chunks)


def test_given_many_short_paragraphs_when_chunked_then_paragraph_breaks_count_towards_the_size():
    # Each paragraph break is two characters ("\n\n"): they must not push a chunk over the bound.
    text = "\n\n".join(["Ab."] * 300)
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=50)
    assert max(len(c.text) for c in chunks) <= 200
    assert "Ab.\n\nAb." in chunks[0].text  # paragraphs are kept apart inside a chunk


def test_given_an_overlap_that_leaves_no_room_for_the_next_sentence_then_the_chunk_still_fits():
    # The carried-over sentence (101 chars) plus the next one (199 chars) cannot share a 200-char chunk.
    text = "A" * 100 + ". " + "B" * 199
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=150)
    assert [c.text for c in chunks] == ["A" * 100 + ".", "B" * 199]


def test_given_paragraphs_that_fit_when_chunked_then_they_stay_whole_in_one_chunk():
    text = "First paragraph. Two sentences.\n\nSecond paragraph!"
    [chunk] = chunk_document(doc(Section(("H",), text)), size=200, overlap=20)
    assert chunk.text == text


# --- overlap -------------------------------------------------------------------------------------


def test_given_consecutive_chunks_when_chunked_then_they_overlap_by_whole_trailing_sentences():
    sentences = numbered_sentences(40)
    chunks = chunk_document(doc(Section((), " ".join(sentences))), size=200, overlap=70)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        prev, nxt = sentences_of(before), sentences_of(after)
        # every chunk is made of whole sentences, in order
        assert " ".join(prev) == before.text and " ".join(nxt) == after.text
        shared = [s for s in nxt if s in prev]
        assert shared == prev[-len(shared) :] == nxt[: len(shared)]
        overlap_text = " ".join(shared)
        assert len(overlap_text) <= 70
        # as many whole sentences as fit: two of 29 chars (59 with the space), not three (89)
        assert len(shared) == 2


def test_given_zero_overlap_when_chunked_then_chunks_partition_the_sentences():
    sentences = numbered_sentences(30)
    chunks = chunk_document(doc(Section((), " ".join(sentences))), size=200, overlap=0)
    assert [s for c in chunks for s in sentences_of(c)] == sentences


def test_given_an_overlap_smaller_than_a_sentence_when_chunked_then_nothing_is_repeated():
    sentences = numbered_sentences(30)
    chunks = chunk_document(doc(Section((), " ".join(sentences))), size=200, overlap=20)
    assert [s for c in chunks for s in sentences_of(c)] == sentences


def test_given_overlap_across_a_paragraph_break_when_chunked_then_the_break_counts_towards_the_overlap():
    # Short paragraphs: the carried-over text, paragraph breaks included, stays within the bound.
    text = "\n\n".join(f"Para {i:02d}." for i in range(60))  # 8 chars each, n of them join to 10n - 2
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=45)
    for before, after in itertools.pairwise(chunks):
        start = after.text.split("\n\n")
        prev = before.text.split("\n\n")
        shared = [p for p in start if p in prev]
        assert shared == prev[-len(shared) :]
        assert len("\n\n".join(shared)) <= 45
        assert len(shared) == 4  # 38 chars; five paragraphs would be 48


# --- sections, headings, title, position ---------------------------------------------------------


def test_given_several_sections_when_chunked_then_no_chunk_crosses_a_section_and_each_carries_its_headings():
    first = " ".join(f"Alpha fact {i:03d} holds." for i in range(30))
    second = " ".join(f"Beta fact {i:03d} holds." for i in range(30))
    document = doc(
        Section(("Guide", "Alpha"), first),
        Section(("Guide", "Beta"), second),
        Section((), "A closing note."),
    )
    chunks = chunk_document(document, size=200, overlap=40)
    alpha = [c for c in chunks if c.headings == ("Guide", "Alpha")]
    beta = [c for c in chunks if c.headings == ("Guide", "Beta")]
    assert len(alpha) > 1 and len(beta) > 1
    assert all("Alpha" in c.text and "Beta" not in c.text for c in alpha)
    assert all("Beta" in c.text and "Alpha" not in c.text for c in beta)
    assert chunks[-1].headings == () and chunks[-1].text == "A closing note."
    assert chunks == alpha + beta + [chunks[-1]]  # document order is kept
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.title for c in chunks} == {"Doc Title"}
    assert {c.source for c in chunks} == {"s3://b/doc.md"}


def test_given_an_overlap_when_a_section_ends_then_nothing_is_carried_into_the_next_section():
    document = doc(Section(("One",), "Short one."), Section(("Two",), "Short two."))
    chunks = chunk_document(document, size=200, overlap=150)
    assert [(c.headings, c.text) for c in chunks] == [(("One",), "Short one."), (("Two",), "Short two.")]


def test_given_an_empty_section_when_chunked_then_it_yields_no_chunk():
    assert chunk_document(doc(Section(("Empty",), "")), size=200, overlap=20) == []


def test_chunk_context_starts_with_title_and_heading_path():
    [chunk] = chunk_document(doc(Section(("Install", "Linux"), "Use apt."), title="Guide"), size=200, overlap=0)
    assert chunk.context == "Guide > Install > Linux\nUse apt."
    assert chunk.context.startswith("Guide > Install > Linux\n")


def test_chunk_context_without_headings_is_the_title_then_the_text():
    [chunk] = chunk_document(doc(Section((), "Plain."), title="Notes"), size=200, overlap=0)
    assert chunk.context == "Notes\nPlain."


# --- Chinese, giant sentences, mixed text --------------------------------------------------------

CHINESE_SENTENCES = [
    "自然语言处理是人工智能领域的一个重要方向。",
    "它研究能实现人与计算机之间用自然语言进行有效通信的各种理论和方法！",
    "这是一门融语言学、计算机科学、数学于一体的科学？",
    "因此这一领域的研究涉及自然语言；",
]


def test_given_a_chinese_paragraph_without_spaces_when_chunked_then_split_at_full_width_stops():
    paragraph = "".join(CHINESE_SENTENCES * 15)  # about 1,200 characters, not one space
    assert " " not in paragraph
    chunks = chunk_document(doc(Section((), paragraph)), size=200, overlap=0)
    assert len(chunks) >= 6
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(c.text[-1] in "。！？；" for c in chunks)  # every chunk ends at a sentence end
    assert all(" " not in c.text for c in chunks)  # no spaces are invented between CJK sentences
    assert "".join(c.text for c in chunks) == paragraph


def test_given_a_chinese_paragraph_with_overlap_when_chunked_then_the_overlap_is_whole_sentences():
    # distinct sentences (16-17 characters each), so the carried-over text is unambiguous
    paragraph = "".join(f"这是第{i}个句子，内容各不相同{'。！？；'[i % 4]}" for i in range(80))
    chunks = chunk_document(doc(Section((), paragraph)), size=200, overlap=60)
    assert len(chunks) > 5
    assert all(len(c.text) <= 200 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        # the longest end of `before` that `after` starts with is the carried-over text
        ends = (before.text[-k:] for k in range(1, len(before.text)))
        carried = max((end for end in ends if after.text.startswith(end)), key=len)
        assert 44 < len(carried) <= 60  # three sentences fit in 60 characters, four do not
        assert before.text[-len(carried) - 1] in "。！？；"  # it starts at a sentence start...
        assert carried[-1] in "。！？；"  # ...and ends at a sentence end: whole sentences only


def test_split_sentences_handles_full_width_stops_without_spaces():
    assert split_sentences("第一句。第二句！第三句？第四句；尾巴") == [
        "第一句。",
        "第二句！",
        "第三句？",
        "第四句；",
        "尾巴",
    ]


def test_given_a_giant_sentence_without_punctuation_when_chunked_then_it_is_cut_at_the_bound():
    giant = "x" * 1000
    chunks = chunk_document(doc(Section((), giant)), size=200, overlap=50)
    assert [len(c.text) for c in chunks] == [200] * 5
    assert "".join(c.text for c in chunks) == giant


def test_given_a_giant_chinese_run_without_stops_when_chunked_then_it_is_cut_at_the_bound():
    giant = "汉字" * 350  # 700 characters, no punctuation
    chunks = chunk_document(doc(Section((), giant)), size=200, overlap=50)
    assert [len(c.text) for c in chunks] == [200, 200, 200, 100]
    assert "".join(c.text for c in chunks) == giant


def test_given_a_giant_sentence_between_normal_ones_when_chunked_then_neighbours_stay_whole():
    text = "Short start. " + "word " * 100 + "end. Short finish."
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=0)
    assert all(len(c.text) <= 200 for c in chunks)
    assert chunks[0].text.startswith("Short start.")
    assert chunks[-1].text.endswith("Short finish.")
    assert non_ws("".join(c.text for c in chunks)) == non_ws(text)


def test_given_mixed_english_and_chinese_when_split_then_both_kinds_of_stop_are_sentence_ends():
    text = "Hello world. 你好世界。This is mixed! 这是混合文本；end of it? 最后一句"
    assert split_sentences(text) == [
        "Hello world.", "你好世界。", "This is mixed!", "这是混合文本；", "end of it?", "最后一句",
    ]  # fmt: skip
    [chunk] = chunk_document(doc(Section((), text)), size=200, overlap=0)
    assert chunk.text == text  # joined back with a space after "." and none after "。"


def test_given_long_mixed_text_when_chunked_then_chunks_are_bounded_and_lose_nothing():
    unit = "The API returns JSON. 接口返回数据。Errors use HTTP codes! 错误使用状态码；"
    text = unit * 40
    chunks = chunk_document(doc(Section((), text)), size=200, overlap=0)
    assert all(len(c.text) <= 200 for c in chunks)
    assert non_ws("".join(c.text for c in chunks)) == non_ws(text)


def test_a_list_items_number_begins_its_sentence_and_ends_none():
    text = "To print it:\n1. Choose File - Print.\n2. Click OK. 3. Wait. There are 3. Then 12 more."
    assert split_sentences(text) == [
        "To print it:",
        "1. Choose File - Print.",
        "2. Click OK.",
        "3. Wait.",
        "There are 3.",
        "Then 12 more.",
    ]


def test_list_items_keep_their_lines_in_a_chunk_so_its_sentences_split_the_same_again():
    steps = "To print it:\n1. Choose File - Print\n2. Click OK\n3. Wait"
    [chunk] = chunk_document(doc(Section(("H",), steps)), size=200, overlap=0)
    assert chunk.text == steps
    assert split_sentences(chunk.text) == ["To print it:", "1. Choose File - Print", "2. Click OK", "3. Wait"]


def test_a_bulleted_line_begins_a_sentence_and_keeps_its_line_in_a_chunk():
    text = (
        "Contacts:\n- Reception: 8600\n- Manager: Wang Li, for badges。- Lab: floor 3\n  * nested - not a bullet here"
    )
    assert split_sentences(text) == [
        "Contacts:",
        "- Reception: 8600",
        "- Manager: Wang Li, for badges。",
        "- Lab: floor 3",
        "* nested - not a bullet here",
    ]
    [chunk] = chunk_document(doc(Section(("H",), text)), size=200, overlap=0)
    assert (
        chunk.text
        == "Contacts:\n- Reception: 8600\n- Manager: Wang Li, for badges。\n- Lab: floor 3\n* nested - not a bullet here"
    )
    assert split_sentences(chunk.text) == split_sentences(text)


def test_code_keeps_its_lines_and_indentation_and_splits_only_between_lines():
    code = "```\ndef f():\n    x = 1; y = 2\n    return x. y\n```"
    text = f"Intro. More.\n\n{code}\n\nAfter."
    [chunk] = chunk_document(doc(Section(("H",), text)), size=200, overlap=0)
    assert chunk.text == text
    first, second = chunk_document(doc(Section(("H",), text)), size=50, overlap=20)
    assert first.text == "Intro. More.\n\n```\ndef f():\n    x = 1; y = 2\n```"  # closed where it is cut
    assert second.text == "```\n    x = 1; y = 2\n    return x. y\n```\n\nAfter."  # and opened again


def test_a_code_line_longer_than_a_chunk_is_sliced_with_room_for_its_fences():
    long = chunk_document(doc(Section(("H",), "```\n" + "x" * 30 + "\ny = 2\n```")), size=20, overlap=0)
    assert [c.text for c in long] == ["```\nxxxxxxxxxxxx\n```"] * 2 + ["```\nxxxxxx\ny = 2\n```"]


def test_a_fence_is_never_left_alone_at_a_cut():
    # The block's opening fence would end the first chunk, its closing fence start the last one.
    text = "A" * 60 + ".\n\n```\n" + "\n".join(["code line"] * 12) + "\n```\n\n" + "B" * 60 + "."
    chunks = chunk_document(doc(Section(("H",), text)), size=70, overlap=0)
    assert [c.text.count("```") for c in chunks] == [0, 2, 2, 0]
    assert chunks[0].text == "A" * 60 + "." and chunks[-1].text == "B" * 60 + "."
    assert "\n".join(c.text for c in chunks[1:3]).count("code line") == 12


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab ;.", min_size=1, max_size=60), min_size=1, max_size=30),
    size=st.integers(min_value=20, max_value=200),
    data=st.data(),
)
def test_property_every_chunk_of_code_stands_between_fences(lines, size, data):
    overlap = data.draw(st.integers(min_value=0, max_value=size - 1), label="overlap")
    text = "Before it.\n\n```\n" + "\n".join(lines) + "\n```\n\nAfter it."
    chunks = chunk_document(doc(Section(("H",), text)), size=size, overlap=overlap)
    assert all(len(c.text) <= size for c in chunks)
    for chunk in chunks:
        paragraphs = chunk.text.split("\n\n")
        fenced = [p for p in paragraphs if "```" in p]
        assert all(is_code(p) for p in fenced), chunk.text


def test_abbreviations_and_a_lowercase_word_after_a_full_stop_continue_the_sentence():
    text = "Use an editor, e.g. Vim or i.e. Nano, and approx. two steps. Then save."
    assert split_sentences(text) == ["Use an editor, e.g. Vim or i.e. Nano, and approx. two steps.", "Then save."]


def test_decimal_points_and_dots_without_spaces_are_not_sentence_ends():
    assert split_sentences("Version 3.14 is out. See example.com for more.") == [
        "Version 3.14 is out.",
        "See example.com for more.",
    ]


# --- property ------------------------------------------------------------------------------------

TEXTS = st.one_of(
    st.text(max_size=3000),
    st.text(alphabet=st.sampled_from(list("ab cd.!?;。！？；\n\n中文 \t")), max_size=3000),
    st.lists(st.text(alphabet="abcdefghij 你好。.", min_size=1, max_size=400), max_size=15).map("\n\n".join),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, size=st.integers(min_value=20, max_value=400), data=st.data())
def test_property_chunks_are_bounded_and_keep_every_character(text, size, data):
    overlap = data.draw(st.integers(min_value=0, max_value=size - 1), label="overlap")
    chunks = chunk_document(doc(Section(("H",), text)), size=size, overlap=overlap)
    assert all(len(c.text) <= size for c in chunks)
    assert all(c.text.strip() for c in chunks)  # no empty chunks
    everything = non_ws("".join(c.text for c in chunks))
    assert is_subsequence(non_ws(text), everything)  # every non-space character, in order
    if overlap == 0:
        assert everything == non_ws(text)  # and with no overlap, nothing twice


def test_chunks_carry_their_sections_anchor_and_page_and_old_records_still_load():
    from dataclasses import asdict

    chunks = chunk_document(doc(Section(("H",), "Text.", anchor="h", page=3)), size=200, overlap=20)
    assert [(c.anchor, c.page) for c in chunks] == [("h", 3)]
    assert Chunk(**asdict(chunks[0])) == chunks[0]
    stored = {"source": "s", "title": "t", "headings": ("H",), "position": 0, "text": "Text."}
    old = Chunk(**stored)  # a docstore record written before these fields existed
    assert (old.anchor, old.page) == (None, None)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        TEXTS, st.text(alphabet=st.sampled_from(list("aZ1.!?;。！？；-* \u3000\u00a0\n\r\t\x1cgie")), max_size=200)
    )
)
def test_property_sentences_end_after_a_stop_and_its_spaces(text):
    # the definition: split at the spaces after . ! ? ; (after "." unless a lowercase letter follows or
    # it ends "e.g." or "i.e.") and right after 。！？；, each piece stripped,
    # except after a list item's number ("2.") that begins a line: it begins the next sentence;
    # and a line opening with a bullet ("- ", "* ") begins a sentence
    expected = [sentence for item in re.split(r"\n(?=[ \t]*[-*+•][ \t])", text) for sentence in _sentences(item)]
    assert split_sentences(text) == [p.strip() for p in expected if p.strip()]


def _sentences(text):
    pieces = re.split(r"(?<=[.!?;])(\s+)|(?<=[。！？；])", text)
    joined: list[tuple[str, str | None]] = []  # a full stop before a lowercase letter or after e.g, i.e ends nothing
    for piece, spaces in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
        if (
            joined
            and joined[-1][1]
            and joined[-1][0].endswith(".")
            and ("a" <= piece[:1] <= "z" or joined[-1][0].endswith(("e.g.", "i.e.")))
        ):
            joined[-1] = (joined[-1][0] + joined[-1][1] + piece, spaces)
        else:
            joined.append((piece, spaces))
    expected, sentence = [], ""
    for piece, spaces in joined:
        head, _, line = (sentence + piece).rpartition("\n")
        if spaces and re.fullmatch(r"\d{1,3}\.", line.strip()):  # a number that ends the text ends nothing
            expected.append(head)
            sentence = line + (spaces or "")
        else:
            expected.append(sentence + piece)
            sentence = ""
    expected.append(sentence)  # a number last of all
    return expected
