"""Prompt templates are filled by splicing values between their literal parts: no `str.format`, so no
attribute or index access, and a value that looks like a placeholder stays text."""

from __future__ import annotations

import pytest

from cdgpt.answer.templates import check_template, fill, name_of
from cdgpt.errors import InvalidValue


def test_fill_splices_the_three_values_and_keeps_literal_braces():
    template = "{{json}} C={context} Q={question} H={history} {{{question}}}"
    assert fill(template, "ctx", "q?", "h1\nh2") == "{json} C=ctx Q=q? H=h1\nh2 {q?}"


def test_values_that_look_like_placeholders_stay_text():
    filled = fill("{context}|{question}", "{question.__class__}", "{context}{{x}}", "")
    assert filled == "{question.__class__}|{context}{{x}}"


@pytest.mark.parametrize(
    "template",
    ["{context.__class__}{question}", "{context}{question.__doc__}", "{context[0]}{question}", "{context}{question}{"],
)
def test_attribute_index_and_broken_fields_never_reach_a_value(template):
    with pytest.raises(InvalidValue):
        check_template(template, "t")
    with pytest.raises(InvalidValue):
        fill(template, "ctx", "q", "")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example.com/public-static/master.txt", "master"),
        ("https://example.com/a/b/Support_v2.TXT?sig=1", "Support_v2"),
        ("https://example.com/prompt%20one.txt", None),
        ("https://example.com/.txt", None),
        ("https://example.com/master.txt.html", None),
        ("https://example.com/..txt", None),
    ],
)
def test_the_name_is_the_file_name_without_txt(url, name):
    if name is None:
        with pytest.raises(InvalidValue):
            name_of(url)
    else:
        assert name_of(url) == name
