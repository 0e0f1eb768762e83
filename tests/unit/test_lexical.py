"""Lexical retrieval: tokenisation (English stems, CJK bigrams, NFKC) and the BM25 index."""

from __future__ import annotations

import io
import math
import threading
import time

import numpy as np
import pytest
import Stemmer

from cdgpt.index.lexical import K1, B, LexicalBuilder, LexicalIndex
from cdgpt.index.terms import name_terms, tokenize
from tests.support import in_threads

# --- English ---------------------------------------------------------------------------------------


def test_inflections_share_a_stem():
    assert tokenize("policies") == tokenize("policy") == tokenize("Policy")
    assert tokenize("employees") == tokenize("employee")
    assert tokenize("policies") == ["polici"]  # a stem, not a dictionary word


def test_stop_words_are_dropped_and_content_words_kept():
    assert tokenize("the and of to is it") == []
    tokens = tokenize("What is the policy for the office?")
    assert tokens == tokenize("policy office")
    assert "the" not in tokens and "is" not in tokens


def test_numbers_and_codes_are_kept():
    assert "2300" in tokenize("Call extension 2300 for help.")
    assert tokenize("XK-4471") == ["xk", "4471"]
    assert tokenize("snake_case") == ["snake", "case"]  # an underscore separates words


def test_punctuation_and_case_are_ignored():
    assert tokenize("VPN, vpn; Vpn!") == ["vpn", "vpn", "vpn"]
    assert tokenize("") == [] and tokenize("  ... !!! ") == []


def test_tokenizing_from_many_threads_matches_single_threaded_and_never_shares_a_stemmer(monkeypatch):
    # PyStemmer objects must not be used by two threads at once (`cdgpt serve` tokenizes queries on
    # a thread per request). A guard around each stemmer records any overlapping use; a short sleep
    # inside stemWords widens the window, so a stemmer shared between threads would be caught.
    texts = [
        "Employees submitting expense reports need receipts for purchases.",
        "The running policies were generously reorganized by the committees.",
        "VPN连接需要MFA验证 and connections are monitored nationally.",
        "",
    ] * 5
    expected = [tokenize(t) for t in texts]  # single-threaded, before the guard is installed

    real_stemmer = Stemmer.Stemmer
    created: list[GuardedStemmer] = []
    overlaps: list[str] = []

    class GuardedStemmer:
        def __init__(self, language: str) -> None:
            self.inner = real_stemmer(language)
            self.busy = threading.Lock()
            self.threads: set[int] = set()
            created.append(self)

        def stemWords(self, words):
            self.threads.add(threading.get_ident())
            if not self.busy.acquire(blocking=False):
                overlaps.append(threading.current_thread().name)
                return self.inner.stemWords(words)
            try:
                time.sleep(0.001)
                return self.inner.stemWords(words)
            finally:
                self.busy.release()

    monkeypatch.setattr(Stemmer, "Stemmer", GuardedStemmer)
    n_threads = 8
    start = threading.Barrier(n_threads)
    results: dict[int, list[list[str]]] = {}

    def work(i: int) -> None:
        start.wait()
        results[i] = [tokenize(t) for t in texts]

    in_threads(n_threads, work)

    assert results == dict.fromkeys(range(n_threads), expected)
    assert overlaps == []
    assert len(created) == n_threads  # one stemmer per thread, each used by that thread only
    assert all(len(stemmer.threads) == 1 for stemmer in created)


# --- CJK -------------------------------------------------------------------------------------------


def test_chinese_runs_become_overlapping_bigrams_without_spaces():
    assert tokenize("午餐补贴") == ["午餐", "餐补", "补贴"]
    assert tokenize("上海办公室") == ["上海", "海办", "办公", "公室"]


def test_a_single_han_character_stays_a_unigram():
    assert tokenize("钱") == ["钱"]
    assert tokenize("东 京") == ["东", "京"]  # a space ends a run


@pytest.mark.parametrize("separator", ["，", "。", "？", "！", "、", "：", "（", "・"])
def test_full_width_punctuation_splits_runs(separator):
    assert tokenize(f"午餐{separator}补贴") == ["午餐", "补贴"]


def test_japanese_kana_and_kanji():
    assert tokenize("ひらがな") == ["ひら", "らが", "がな"]
    assert tokenize("カタカナ") == ["カタ", "タカ", "カナ"]
    assert tokenize("コーヒー") == ["コー", "ーヒ", "ヒー"]  # the long-vowel mark belongs to the word
    assert tokenize("東京タワー") == ["東京", "京タ", "タワ", "ワー"]  # kanji and kana form one run
    assert tokenize("東京・大阪") == ["東京", "大阪"]  # Japanese: kanji are not folded as traditional Chinese


def test_a_lone_surrogate_in_chinese_text_is_no_error():
    """JSON may carry "\\ud800"; OpenCC reads UTF-8 only."""
    assert tokenize("軟體\ud800套件") == ["软体", "套件"]


def test_traditional_chinese_is_folded_into_simplified():
    assert (
        tokenize("軟體套件的設定檔")
        == tokenize("软体套件的设定档")
        == ["软体", "体套", "套件", "件的", "的设", "设定", "定档"]
    )
    assert tokenize("怎麼設定印表機？", question=True) == tokenize("怎么设定印表机？", question=True)  # 怎麼 is 怎么


@pytest.mark.parametrize(
    ("page", "question"),
    [("報銷單據須交給財務部門。", "报销单据怎么交给财务？"), ("报销单据须交给财务部门。", "報銷單據怎麼交給財務？")],
)
def test_a_question_finds_a_page_written_in_the_other_script(page, question):
    """No bigram of these is written alike in both scripts: only folding matches them."""
    scores = LexicalIndex.build(["台风橙色预警发布时，员工可以在家办公。", page]).scores(question)
    assert scores[1] > 0 == scores[0]


def test_mixed_english_and_chinese_in_one_string():
    tokens = tokenize("VPN连接需要MFA验证")
    assert sorted(tokens) == sorted(["vpn", "mfa", "连接", "接需", "需要", "验证"])
    assert not any(any(c.isascii() for c in t) and any(not c.isascii() for c in t) for t in tokens)
    assert tokenize("请提交expense reports给财务") == ["expens", "report", "请提", "提交", "给财", "财务"]


def test_nfkc_folds_full_width_latin_and_digits():
    assert tokenize("ＶＰＮ") == tokenize("vpn") == ["vpn"]
    assert tokenize("２３００") == ["2300"]
    assert tokenize("ｶﾀｶﾅ") == tokenize("カタカナ")  # half-width katakana


# --- BM25 ------------------------------------------------------------------------------------------


def test_a_rare_query_term_outranks_common_ones():
    texts = [
        "zephyr badge office",  # the only document with the rare term
        "annual leave request office",  # both common query terms
        "annual leave carry over",
        "annual leave public holidays",
        "annual leave part time",
        "annual leave sick days",
    ]
    scores = LexicalIndex.build(texts).scores("annual leave zephyr")
    assert scores[0] > scores[1] > 0
    assert int(np.argmax(scores)) == 0


def test_term_frequency_saturates():
    length = 20
    texts = [" ".join(["vpn"] * tf + ["pad"] * (length - tf)) for tf in (1, 2, 4, 8, 16)]
    texts.append(" ".join(["other"] * length))  # keeps the idf of "vpn" positive and known
    index = LexicalIndex.build(texts)
    scores = index.scores("vpn")[:5]
    gains = np.diff(scores)
    assert np.all(gains > 0)  # more occurrences still help...
    assert np.all(np.diff(gains / np.array([1, 2, 4, 8])) < 0)  # ...but each one helps less
    idf = math.log(1 + (6 - 5 + 0.5) / (5 + 0.5))
    assert scores[-1] < idf * (K1 + 1)  # the ceiling of a single term
    assert scores[1] / scores[0] < 2


def test_longer_documents_are_normalised():
    short = "vpn setup guide"
    long = short + " " + " ".join(f"word{i}" for i in range(60))
    scores = LexicalIndex.build([short, long, "unrelated text here"]).scores("vpn")
    assert scores[0] > scores[1] > 0


def test_the_weights_follow_the_bm25_formula():
    texts = ["vpn vpn office", "office desk", "vpn"]
    scores = LexicalIndex.build(texts).scores("vpn")
    lengths = [3, 2, 1]
    avg = sum(lengths) / 3
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))

    def bm25(tf, length):
        return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg))

    assert scores == pytest.approx([bm25(2, 3), 0.0, bm25(1, 1)], rel=1e-5)


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("怎么打印工作表？", ["打印", "印工", "工作", "作表"]),
        ("如何冻结首行", ["冻结", "结首", "首行"]),
        ("打印是什么意思", ["打印", "意思"]),  # the phrase splits the run: no "印是" or "么意"
        ("怎么样", []),
        ("How do I print a sheet?", ["print", "sheet"]),
        ("I don't know how I'd print it, we've tried", ["know", "print", "tri"]),  # don, d, ve: no subject
        ("whats the max users, dont they", ["max", "user"]),  # typed without apostrophes
        ("I won´t know, it‘s the IM postcode", ["know", "im", "postcod"]),  # any apostrophe; IM is no "I'm"
    ],
)
def test_question_phrases_carry_no_evidence(question, terms):
    assert tokenize(question, question=True) == terms


def test_documents_and_rankings_keep_question_words():
    assert tokenize("如何使用") == ["如何", "何使", "使用"]
    assert tokenize("Don't print it") == ["don", "t", "print"]
    assert (
        LexicalIndex.build(["Don't print policies.", "Print rules."]).coverage(tokenize("Don't print?", question=True))
        == 1
    )
    index = LexicalIndex.build(["如何使用", "打印"])
    assert index.scores("如何使用")[0] > 0


def test_coverage_weighs_each_distinct_term_by_idf_and_missing_terms_most():
    index = LexicalIndex.build(["vpn office", "office desk", "office chair"])
    n = 3
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in {"vpn": 1, "offic": 3}.items()}
    rarest = math.log(1 + (n + 0.5) / 0.5)
    expected = (idf["vpn"] + idf["offic"]) / (idf["vpn"] + idf["offic"] + rarest)
    assert index.coverage(["vpn", "offic", "offic", "parrot"]) == pytest.approx(expected)
    assert index.coverage(["vpn"]) == 1.0
    assert index.coverage(["parrot"]) == 0.0
    assert index.coverage([]) == 0.0


def test_best_share_is_the_most_of_the_terms_evidence_one_of_the_documents_holds():
    index = LexicalIndex.build(["dental cover treatment", "eye care cover", "pension plan"])
    n = 3
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in {"dental": 1, "cover": 2, "eye": 1}.items()}
    rarest = math.log(1 + (n + 0.5) / 0.5)
    assert index.best_share(["dental", "cover"], [0, 1, 2]) == 1.0
    assert index.best_share(["dental", "eye"], [0, 1]) == pytest.approx(0.5)  # no document holds both
    assert index.best_share(["dental", "cover"], [1, 2]) == pytest.approx(idf["cover"] / (idf["dental"] + idf["cover"]))
    assert index.best_share(["dental", "parrot"], [0]) == pytest.approx(idf["dental"] / (idf["dental"] + rarest))
    assert index.best_share(["dental"], []) == 0.0 and index.best_share([], [0]) == 0.0


def test_coverage_leaves_out_terms_of_a_script_the_index_holds_none_of():
    english = LexicalIndex.build(["vpn office", "office desk"])
    assert english.coverage(["vpn", *tokenize("办公室")]) == 1.0  # Chinese bigrams can never be found here
    assert english.coverage(tokenize("办公室")) == 1.0
    assert english.coverage(["parrot", *tokenize("办公室")]) == 0.0  # its English words still count
    mixed = LexicalIndex.build(["vpn office", "上海办公室"])
    assert mixed.coverage(tokenize("午餐补贴")) == 0.0  # it holds Chinese: a missing bigram is missing
    chinese = LexicalIndex.build(["上海办公室", "午餐补贴"])
    assert chinese.coverage(["parrot", *tokenize("午餐")]) == 1.0


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("How do I roll back a Homebrew formula on macOS?", ["homebrew", "maco"]),  # capital inside, or mid-sentence
        ("Which XLOOKUP options are there? Slack says there are none.", ["xlookup"]),  # a sentence's first word: no
        ("Homebrew: is it installed?", []),
        ("XLOOKUP: is it there?", ["xlookup"]),  # a capital inside a word names it anywhere
        ("Is A4 paper or H2O a name? Neither: the Hyper-V one is.", ["hyper"]),  # words with digits are values
        ("How do I print it on A4 in Microsoft Word?", ["microsoft", "word"]),
        ("Lunch at the Café Landtmann?", ["café", "landtmann"]),  # accented letters belong to the word
        ("Where is the IT helpdesk\nGreat, and its opening hours?", []),  # a line starts a sentence (a follow-up)
        ("- Okta\n1) Okta is it?", []),  # so does a list item
        ("Is “Okta” allowed here?", ["okta"]),
        ("Can I book a room every Tuesday in March?", []),  # days and months are no names
        ("What is the PTO policy, and who in HR decides?", []),  # short acronyms are spelt out by documents
        ("HOW DO I RESET MY VPN PASSWORD QUICKLY?", []),  # shouted or title-cased: capitals tell nothing
        ("How To Reset My Okta Password", []),
        ("Where do I get lunch near the 上海 office?", []),  # mainly English: English rules
        ("在 Excel 里怎么用 rsync 和 vlookup？", ["excel", "rsync", "vlookup"]),  # mainly CJK: every Latin word
        ("在Ｅｘｃｅｌ里怎么用ｖｌｏｏｋｕｐ？", ["excel", "vlookup"]),  # full-width letters, as tokenize reads them
        ("WPS 文字怎么自动生成目录？", ["wps"]),
        ("调接口返回429 too many requests，该怎么处理", []),  # a quoted English message names nothing
        ("提示you don't have permission to access怎么办", []),
        ("Outlook for Mac怎么设置邮件签名？", ["outlook", "mac"]),  # a name's words are capitalised
        ("在 shell 中用 while read 逐行解析", ["shell", "read"]),  # two words are no message
        ("I asked: And the VPN app?", []),  # stop words ("I", "And") are never names
        ("在 A 列里", []),
        ("Wie setze ich mein Passwort im Intranet zurück?", []),  # German capitalises every noun
    ],
)
def test_name_terms_are_the_words_that_name_something(question, names):
    assert name_terms(question) == names


def test_lacks_any_counts_only_terms_of_a_script_the_index_holds():
    english = LexicalIndex.build(["vpn office", "office desk"])
    assert english.lacks_any(["vpn", "okta"])
    assert not english.lacks_any(["vpn", *tokenize("办公室")])
    assert not english.lacks_any([])
    chinese = LexicalIndex.build(["上海办公室", "午餐补贴"])
    assert not chinese.lacks_any(["okta"])  # no Latin word in the model: it could never hold the name
    assert chinese.lacks_any(tokenize("北京"))


def test_lacks_any_with_documents_counts_a_term_none_of_them_holds():
    index = LexicalIndex.build(["vpn office", "office desk", "okta login"])
    assert not index.lacks_any(tokenize("vpn office"), [0])
    assert index.lacks_any(["vpn", "okta"], [0, 1])  # the index holds okta, but not in these documents
    assert not index.lacks_any(["vpn", "okta"], [0, 2])
    assert not index.lacks_any(tokenize("办公室"), [1])  # a script the index holds none of is never lacking


def test_no_matching_term_gives_all_zeros():
    index = LexicalIndex.build(["annual leave", "expense report", "vpn access"])
    scores = index.scores("parking garage")
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert not scores.any()


def test_empty_query_and_stop_word_query_give_zeros():
    index = LexicalIndex.build(["annual leave", "expense report"])
    for query in ("", "   ", "the of and", "？！"):
        scores = index.scores(query)
        assert scores.shape == (2,) and not scores.any()


def test_empty_corpus():
    index = LexicalIndex.build([])
    assert index.n_docs == 0 and index.terms == {}
    assert index.scores("anything").shape == (0,)
    restored = LexicalIndex.from_bytes(index.to_bytes())
    assert restored.n_docs == 0 and restored.terms == {} and restored.scores("anything").shape == (0,)


def test_documents_without_any_token_score_zero():
    index = LexicalIndex.build(["", "the of", "vpn"])
    scores = index.scores("vpn")
    assert scores[0] == scores[1] == 0 and scores[2] > 0


def test_round_trip_keeps_scores_and_needs_no_pickle():
    texts = [
        "Annual leave policy: 25 days per year.",
        "The VPN needs MFA; call extension 2300.",
        "上海办公室的午餐补贴是每天四十元。",
        "Error XK-4471 means the badge is expired.",
        "",
    ]
    index = LexicalIndex.build(texts)
    data = index.to_bytes()
    assert isinstance(data, bytes) and data[:2] == b"PK"  # a zip (.npz)
    restored = LexicalIndex.from_bytes(data)
    assert restored.terms == index.terms and restored.n_docs == index.n_docs
    for query in ("annual leave", "vpn 2300", "午餐补贴", "xk-4471", "nothing matches", ""):
        np.testing.assert_array_equal(restored.scores(query), index.scores(query))

    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        assert set(arrays.files) == {"vocab", "indptr", "doc_ids", "weights", "n_docs", "folded"}
        for name in arrays.files:
            assert arrays[name].dtype != object
        assert arrays["indptr"][-1] == len(arrays["doc_ids"]) == len(arrays["weights"])


def test_a_chinese_query_finds_the_chinese_document():
    texts = [
        "Annual leave: full-time employees get 25 days of paid leave per year.",
        "Lunch is served in the canteen from noon; the allowance is 10 pounds a day.",
        "The Shanghai office is on the 12th floor.",
        "上海办公室的午餐补贴是每天四十元，通过工资发放。",
        "台风橙色预警发布时，员工可以在家办公。",
    ]
    scores = LexicalIndex.build(texts).scores("上海办公室的午餐补贴是每天多少钱？")
    assert int(np.argmax(scores)) == 3
    assert scores[:3].sum() == 0 and scores[4] < scores[3]


def test_an_index_written_before_folding_is_folded_on_loading():
    """Its terms were bigrams of traditional characters; a question's are folded now (軟體 is 软体)."""
    index = LexicalIndex.build(["软体套件的设定", "網路印表機"])  # the second is written as a legacy index had it
    terms = {"軟體" if term == "软体" else term: i for term, i in index.terms.items()}
    terms |= {"網路": len(terms)}  # a bigram of the second text, unfolded, as it was indexed then
    legacy = io.BytesIO()
    indptr = np.concatenate([index.indptr, [index.indptr[-1] + 1]])
    np.savez(
        legacy,
        vocab=np.frombuffer("\n".join(sorted(terms, key=terms.__getitem__)).encode(), dtype=np.uint8),
        indptr=indptr,
        doc_ids=np.concatenate([index.doc_ids, [1]]).astype(np.int32),
        weights=np.concatenate([index.weights, [1.0]]).astype(np.float32),
        n_docs=np.array([index.n_docs], dtype=np.int64),
    )
    loaded = LexicalIndex.from_bytes(legacy.getvalue())
    assert "軟體" not in loaded.terms and "软体" in loaded.terms and "网路" in loaded.terms
    assert loaded.scores("軟體")[0] > 0 and loaded.scores("網路")[1] > 0


SHARDED_TEXTS = [
    "Annual leave is 25 days per year.",
    "Unused leave days carry over until March.",
    "",
    "上海办公室的午餐补贴是每天三十元。",
    "The helpdesk extension is 4417; the helpdesk opens at eight.",
    "Hotels in London are reimbursed up to 180 pounds per night.",
    "年假每年二十五天，未用完的年假可以结转。",
    "Parking for visitors is on level two.",
]


def counts_of(texts: list[str]) -> bytes:
    shard = LexicalBuilder()
    shard.add(texts)
    return shard.counts_bytes()


def test_shards_term_counts_added_up_build_the_index_their_texts_build():
    merged = LexicalBuilder()
    for part in (SHARDED_TEXTS[:3], [], SHARDED_TEXTS[3:]):
        merged.extend(counts_of(part))
    assert merged.finish().to_bytes() == LexicalIndex.build(SHARDED_TEXTS).to_bytes()


def test_texts_left_out_of_a_shard_are_as_if_never_added():
    keep = np.array([n % 3 != 1 for n in range(len(SHARDED_TEXTS))])
    some = LexicalBuilder()
    some.extend(counts_of(SHARDED_TEXTS), keep)
    kept = [text for text, k in zip(SHARDED_TEXTS, keep, strict=True) if k]
    assert some.finish().to_bytes() == LexicalIndex.build(kept).to_bytes()  # no term of a dropped text remains


def test_glosses_score_only_the_chunks_written_in_words():
    index = LexicalIndex.build(
        ["Submit expense receipts within 30 days.", "报销单据须在30天内提交 (expense receipts).", "Printer on floor 3."]
    )
    assert index.in_words.tolist() == [True, False, True]
    scores = index.scores_in_words("expense receipts")
    assert scores[0] > 0 and scores[1] == 0 and scores[2] == 0 and index.scores("expense receipts")[1] > 0
