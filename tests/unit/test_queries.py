"""Telling a follow-up from a question that stands alone, and a question's language from its documents'."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cdgpt.answer.conversations import KEPT_ITEMS, bound, check_id, recent_turns
from cdgpt.answer.languages import language_of, mainland_wording, model_pages, translation_target
from cdgpt.answer.queries import leans_on_before, looks_like_follow_up, previous_question
from cdgpt.errors import InvalidRequest


@pytest.mark.parametrize(
    "question",
    [
        "And its opening hours?",
        "What about with the older ifupdown instead?",
        "Can I run it again later?",
        "How fast?",
        "那怎么退订？",
        "它的日志在哪里看？",
        "下午呢？",
        "如果用老的 ifupdown 呢？",
        "還有別的辦法嗎？",  # in traditional characters: 还有, as the simplified words are read
        "這個要怎麼設定",
        "What is the weather like there in winter?",
        "该软件怎么卸载？",
    ],
)
def test_follow_ups_are_recognised(question):
    assert looks_like_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "How many days of paid annual leave does a full-time employee get?",
        "Which command shows how much disk space each directory uses?",
        "怎样用 gdb 得到崩溃程序的回溯？",
        "上海办公室的标准工作时间是什么？",
        "上海辦公室的標準工作時間是什麼？",
        "Is there a minimum length for a Brightwheel password?",  # "there" says that something exists
        "Are there any fees for parking at the Shanghai office?",
        "出差的住宿标准应该按哪个城市算？",  # 应该, "should": no 该 ("the said")
        "因此离职前需要提前多久通知？",
    ],
)
def test_questions_that_stand_alone_are_not_follow_ups(question):
    assert not looks_like_follow_up(question)


@pytest.mark.parametrize(("question", "leans"), [("Is it free?", True), ("IT support", False), ("More details", True)])
def test_it_leans_on_what_was_said_but_IT_is_a_department(question, leans):
    assert leans_on_before(question) is leans


def test_the_previous_question_is_the_last_human_turn():
    history = ["Human: first?", "Bot: an answer", "Human: second?", "Bot: another", "not a turn"]
    assert previous_question(history) == "second?"
    assert previous_question(["Bot: hello", "Human:   "]) is None
    assert previous_question([]) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I connect to the VPN from home?", "English"),
        ("上海办公室的午餐补贴是多少？", "Chinese"),
        ("VPN 怎么设置", "Chinese"),
        ("会議室の予約はどうすればいいですか？", "Japanese"),
        ("Wie verbinde ich mich mit dem VPN?", None),
        ("2300", None),
    ],
)
def test_the_language_of_a_text_is_told_by_its_script(text, language):
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("question", "documents", "target"),
    [
        ("上海办公室的午餐补贴是多少？", "English", "English"),
        ("How much is the lunch allowance?", "Chinese", "Chinese"),
        ("VPN setup?", "Chinese", "Chinese"),  # no stop words to tell, but not Chinese script
        ("How much is the lunch allowance?", "English", None),
        ("会議室の予約", "Chinese", None),  # both written in Han: searched as they are
        ("上海办公室的午餐补贴是多少？", None, None),  # the documents' language is unknown
        ("2300?", "Chinese", None),
    ],
)
def test_a_question_is_translated_only_across_scripts(question, documents, target):
    assert translation_target(question, documents) == target


def test_a_kept_history_keeps_the_latest_items():
    history = [f"Human: {n}" for n in range(KEPT_ITEMS + 5)]
    assert bound(history) == history[-KEPT_ITEMS:]


def test_a_prompts_history_is_the_latest_items_within_its_budget():
    assert recent_turns(["a" * 5, "b" * 5, "c" * 5], 12) == ["b" * 5, "c" * 5]
    assert recent_turns([], 10) == []
    # a long answer is cut to half the budget: the question before it still fits
    assert recent_turns(["Human: q0", "Bot: a0", "Human: q1", "Bot: " + "x" * 50], 20) == ["Human: q1", "Bot: xxxx…"]


@pytest.mark.parametrize("good", ["3f2b8a1c-2d4e-4f60-9a7b-0c1d2e3f4a5b", "a" * 16, "A_b-" * 32])
def test_conversation_ids(good):
    assert check_id(good) == good
    for bad in (good + "/", good + "\n"):
        with pytest.raises(InvalidRequest):
            check_id(bad)


def test_a_question_in_traditional_chinese_is_also_searched_in_mainland_words():
    """Taiwan's words (記憶體, 軟體) are not the mainland's (内存, 软件): folding characters alone misses them."""
    assert mainland_wording("記憶體不足時，軟體會怎樣？") == "内存不足时，软件会怎样？"
    assert mainland_wording("內存不足怎麼辦") is None  # its characters fold into the same words
    assert mainland_wording("内存不足怎么办") is None  # already Simplified
    assert mainland_wording("How much memory?") is None
    assert mainland_wording("資料をダウンロードする方法") is None  # Japanese: its kanji are not traditional Chinese


@pytest.mark.parametrize("count", [14, 50, 120, 450])
def test_a_models_language_is_read_from_chunks_across_it(count):
    """One English chunk before the Chinese ones, or Simplified pages before Traditional ones, must not decide."""
    english = "How do I apply for annual leave and who approves it?"
    chinese = ["如何申请年假，由谁审批？" * 3 if n else english for n in range(count)]
    assert model_pages(_model(chinese, f"zh{count}")).language == "Chinese"
    mixed = [
        "员工每年享有带薪年假。" if n < count // 3 else "員工每年享有帶薪年假，請向主管申請。" for n in range(count)
    ]
    assert model_pages(_model(mixed, f"tw{count}")).traditional


def _model(texts: list[str], name: str) -> SimpleNamespace:
    manifest = SimpleNamespace(model_name=name, version_id="v1")
    return SimpleNamespace(manifest=manifest, chunks=[{"text": text} for text in texts])
