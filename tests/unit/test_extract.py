"""Text extraction: HTML, Markdown, plain text and PDF bytes into titled documents of sections."""

from __future__ import annotations

import io
import random

import pytest

from cdgpt.errors import SourceFailed
from cdgpt.ingest.extract import Document, Section, decode, detect_kind, extract
from cdgpt.ingest.sources import RawDocument
from tests.support.pdf import make_pages_pdf, make_pdf, sized_pdf, spaceless_font_pdf, text_stream


def raw(content: bytes | str, content_type: str | None = None, name: str = "/doc", source: str = "src") -> RawDocument:
    body = content.encode("utf-8") if isinstance(content, str) else content
    return RawDocument(source=source, content=body, content_type=content_type, name=name)


def sections_of(html: str) -> list[tuple[tuple[str, ...], str]]:
    """Each section's heading path and text, of an HTML page."""
    return [(s.headings, s.text) for s in extract(raw(html, "text/html")).sections]


# --- HTML ----------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>Acme Handbook</title><style>.x { color: red }</style>
<script>var tracking = "SCRIPT_NOISE";</script></head>
<body>
  <header class="site"><a href="/">SITE_BANNER</a><h1>Acme Inc</h1></header>
  <nav><a href="/a">NAV_LINK</a></nav>
  <div role="navigation">ROLE_NAV</div>
  <aside>ASIDE_NOISE</aside>
  <article>
    <header><h1>Leave Policy</h1><p class="byline">By HR</p></header>
    <p>Employees get twenty days of paid leave.</p>
    <h2>Carry over</h2>
    <p>Up to five days carry over.</p>
    <h3>Exceptions</h3>
    <p>Managers may approve more.</p>
    <h2>Sick leave</h2>
    <p>Sick leave is separate.</p>
    <noscript>NOSCRIPT_NOISE</noscript>
  </article>
  <footer>FOOTER_NOISE</footer>
</body></html>"""


@pytest.fixture
def page() -> Document:
    return extract(raw(PAGE, "text/html; charset=utf-8", "/handbook/leave.html", "https://acme.test/leave"))


def test_given_html_with_page_chrome_when_extracted_then_noise_is_dropped(page):
    text = page.text
    for noise in [
        "SCRIPT_NOISE",
        "color: red",
        "NAV_LINK",
        "ROLE_NAV",
        "ASIDE_NOISE",
        "FOOTER_NOISE",
        "NOSCRIPT_NOISE",
    ]:
        assert noise not in text
    # the site-level <header> is a banner: its link and heading go too
    assert "SITE_BANNER" not in text
    assert "Acme Inc" not in text
    assert all("Acme Inc" not in s.headings for s in page.sections)


def test_given_html_with_an_article_header_when_extracted_then_its_heading_is_kept(page):
    assert page.sections[0].headings == ("Leave Policy",)
    assert "By HR" in page.sections[0].text
    assert "Employees get twenty days of paid leave." in page.sections[0].text


def test_given_html_with_a_title_when_extracted_then_the_title_comes_from_the_title_tag(page):
    assert page.title == "Acme Handbook"
    assert page.source == "https://acme.test/leave"


def test_given_nested_html_headings_when_extracted_then_sections_carry_their_heading_paths(page):
    assert [(s.headings, s.text) for s in page.sections] == [
        (("Leave Policy",), "By HR\n\nEmployees get twenty days of paid leave."),
        (("Leave Policy", "Carry over"), "Up to five days carry over."),
        (("Leave Policy", "Carry over", "Exceptions"), "Managers may approve more."),
        (("Leave Policy", "Sick leave"), "Sick leave is separate."),
    ]


def test_given_html_without_a_title_tag_when_extracted_then_the_first_h1_is_the_title():
    doc = extract(raw("<html><body><h1>Only Heading</h1><p>Body.</p></body></html>", "text/html"))
    assert doc.title == "Only Heading"


def test_given_html_without_title_or_h1_when_extracted_then_the_file_name_is_the_title():
    doc = extract(raw("<html><body><p>Body.</p></body></html>", "text/html", name="/guides/getting-started.html"))
    assert doc.title == "getting-started"


def test_given_html_with_a_main_element_when_extracted_then_only_main_content_is_used():
    html = "<html><body><div>OUTSIDE_MAIN</div><main><h2>Inside</h2><p>Main text.</p></main></body></html>"
    doc = extract(raw(html, "text/html"))
    assert "OUTSIDE_MAIN" not in doc.text
    assert doc.sections == (Section(("Inside",), "Main text."),)


def test_given_html_with_hidden_and_banner_roles_when_extracted_then_they_are_dropped():
    html = (
        '<html><body><div role="banner">BANNER</div><div aria-hidden="true">HIDDEN</div>'
        '<div role="contentinfo">INFO</div><p>Visible.</p></body></html>'
    )
    assert extract(raw(html, "text/html")).text == "Visible."


def test_prose_above_the_first_heading_stays_when_a_list_of_links_beside_it_goes():
    # Haddock: a module's description, then a synopsis of links to its functions, then the first heading
    synopsis = "".join(f"<li><a href='#v:f{i}'>catch{i}</a> :: <a href='#t:IO'>IO</a> a</li>" for i in range(12))
    html = (
        "<html><body><div id='description'><p class='caption'>Description</p><p>This module provides support "
        f"for raising and catching exceptions.</p></div><ul>{synopsis}</ul><h1>The Exception type</h1>"
        "<p>The root of the hierarchy.</p></body></html>"
    )
    assert sections_of(html) == [
        ((), "This module provides support for raising and catching exceptions."),
        (("The Exception type",), "The root of the hierarchy."),
    ]


def test_links_to_a_declarations_source_or_to_itself_are_left_out():
    html = (
        "<html><body><h1>Prelude</h1><h2>fmap <a href='src/GHC.Base.html#fmap'>[src]</a></h2>"
        "<p><a href='src/GHC.Base.html#Functor' class='link'>Source</a> <a href='#v:fmap' class='selflink'>#</a> "
        "Maps a function over a functor. <a href='_modules/base.html#f'><span>[source]</span></a></p>"
        "<p>See the <a href='guide.html'>source</a> guide, section <a href='#s2'>§</a> 2. Download the "
        "<a href='https://example.com/src/pkg.tar.gz'>source</a> of issue <a href='#'>#</a>42.</p></body></html>"
    )
    assert sections_of(html) == [
        (
            ("Prelude", "fmap"),
            "Maps a function over a functor.\n\nSee the source guide, section § 2. Download the source of issue #42.",
        ),
    ]


def test_a_pre_inside_a_pre_is_one_code_block_that_keeps_its_indentation():
    # gi-docgen highlights code in a <pre> inside the <pre> of the block
    html = (
        "<html><body><h1>show</h1><pre><code><div class='highlight'><pre><span>void</span>\n"
        "<span>gtk_widget_show</span> (\n  <span>GtkWidget</span>* widget\n)\n</pre></div></code></pre>"
        "<p>Flags a widget to be displayed.</p></body></html>"
    )
    assert extract(raw(html, "text/html")).text == (
        "```\nvoid\ngtk_widget_show (\n  GtkWidget* widget\n)\n```\n\nFlags a widget to be displayed."
    )


def test_given_html_code_blocks_with_hash_lines_when_extracted_then_they_are_not_headings():
    # Shell comments in <pre> and a paragraph starting with "#" are text, not sections.
    html = """<html><body><h1>Install</h1><p>Run this:</p>
    <pre># install the dependencies
pip install acme
```
## not a heading either</pre>
    <p># 1 priority is safety.</p>
    <h2>Configure</h2><p>Edit the file.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [s.headings for s in doc.sections] == [("Install",), ("Install", "Configure")]
    assert "# install the dependencies" in doc.sections[0].text
    assert "## not a heading either" in doc.sections[0].text
    assert "# 1 priority is safety." in doc.sections[0].text


def test_given_an_html_table_when_extracted_then_cells_are_separated():
    html = (
        "<html><body><table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>10</td></tr></table></body></html>"
    )
    text = extract(raw(html, "text/html")).text
    assert "Plan | Price" in text and "Pro | 10" in text
    assert "PlanPrice" not in text and "Pro10" not in text


def test_a_pipe_the_text_writes_stays_at_either_end_of_a_line_and_only_the_cells_own_ends_go():
    html = (
        "<html><body><h1>Pipes</h1><p>Type = integer | float |\nbinary</p><table><tr><td>| xargs</td>"
        "<td>runs a command for each line</td><td></td></tr></table></body></html>"
    )
    assert extract(raw(html, "text/html")).text == (
        "Type = integer | float |\nbinary\n\n| xargs | runs a command for each line"
    )


def test_a_heading_with_no_text_of_its_own_that_a_heading_of_its_level_follows_starts_the_next_text():
    # Erlang's reference: a function's signature (h4) with nothing under it but a "Types" heading (h3);
    # Qt's: overloads headed one after the other above their shared text
    html = (
        "<html><body><h1>lists</h1><h2>Exports</h2><h4>all(Pred, List) -&gt; boolean()</h4><h3>Types</h3>"
        "<p>Returns true if Pred is true for all elements.</p><h4>any(Pred, List)</h4><h3>Types</h3>"
        "<p>Returns true if Pred is true for one element.</p><h2>Typedefs</h2><h3>const_pointer"
        "<span aria-hidden='true'>#</span></h3><h3>const_reference</h3><p>Typedefs for const QChar.</p>"
        "<h2>Contents</h2><nav><a href='#x'>X</a></nav><h2>Index</h2><p>See the index.</p></body></html>"
    )
    assert sections_of(html) == [
        (
            ("lists", "Exports", "Types"),
            "all(Pred, List) -> boolean()\n\nReturns true if Pred is true for all elements.",
        ),
        (("lists", "Exports", "Types"), "any(Pred, List)\n\nReturns true if Pred is true for one element."),
        (("lists", "Typedefs", "const_reference"), "const_pointer\n\nTypedefs for const QChar."),
        (("lists", "Index"), "See the index."),  # a heading above what was left out is not carried
    ]


@pytest.mark.parametrize(
    "header",
    [
        '<section id="main"><header><h1>Gtk Button</h1><p>The GTK toolkit button widget.</p></header></section>',
        '<div id="header"><h1>Gtk Button</h1><p>The GTK toolkit button widget.</p></div>',  # Asciidoctor, gi-docgen above
    ],
)
def test_a_header_holding_the_pages_own_title_is_kept_and_a_site_banner_is_not(header):
    banner = '<header><h1><a href="/">Docs site</a></h1><p>Search</p></header>'
    html = f"<html><body>{banner}{header}<h2>Usage</h2><p>A button triggers a callback.</p></body></html>"
    document = extract(raw(html, "text/html"))
    assert document.title == "Gtk Button"
    assert [(s.headings, s.text) for s in document.sections] == [
        (("Gtk Button",), "The GTK toolkit button widget."),
        (("Gtk Button", "Usage"), "A button triggers a callback."),
    ]


def test_given_html_blocks_when_extracted_then_block_boundaries_become_line_breaks():
    html = "<html><body><div>First block</div><div>Second block</div><ul><li>one</li><li>two</li></ul></body></html>"
    text = extract(raw(html, "text/html")).text
    assert "First block" in text and "Second block" in text
    assert "First blockSecond block" not in text
    assert "onetwo" not in text


def test_given_html_with_only_noise_when_extracted_then_source_failed():
    html = "<html><body><nav>menu</nav><script>x()</script><footer>foot</footer></body></html>"
    with pytest.raises(SourceFailed, match="no text"):
        extract(raw(html, "text/html"))


# --- Markdown and plain text ---------------------------------------------------------------------

MARKDOWN = """# Product Guide

Welcome to the guide.

## Install ##

Download the installer.
Run it.

```bash
# this is a shell comment, not a heading
pip install acme
```

### Linux

Use the package.

## Usage

~~~
## also code
~~~

Call the API.

####### seven hashes is not a heading
#hashtag is not a heading
"""


def test_given_markdown_when_extracted_then_title_is_the_first_h1_and_sections_follow_headings():
    doc = extract(raw(MARKDOWN, "text/markdown", "/guide.md"))
    assert doc.title == "Product Guide"
    assert [s.headings for s in doc.sections] == [
        ("Product Guide",),
        ("Product Guide", "Install"),
        ("Product Guide", "Install", "Linux"),
        ("Product Guide", "Usage"),
    ]
    assert doc.sections[0].text == "Welcome to the guide."


def test_given_markdown_with_hashes_in_code_fences_when_extracted_then_they_stay_text():
    doc = extract(raw(MARKDOWN, "text/markdown", "/guide.md"))
    install = doc.sections[1].text
    assert "# this is a shell comment, not a heading" in install
    assert "pip install acme" in install
    assert "## also code" in doc.sections[3].text
    assert all("this is a shell comment, not a heading" not in s.headings for s in doc.sections)


def test_given_markdown_lines_in_a_paragraph_when_extracted_then_they_stay_one_paragraph():
    doc = extract(raw(MARKDOWN, "text/markdown", "/guide.md"))
    assert doc.sections[1].text.startswith("Download the installer.\nRun it.\n\n")


def test_given_markdown_with_pseudo_headings_when_extracted_then_they_are_text():
    usage = extract(raw(MARKDOWN, "text/markdown", "/guide.md")).sections[3].text
    assert "####### seven hashes is not a heading" in usage
    assert "#hashtag is not a heading" in usage


def test_a_paragraph_of_one_bold_line_heads_what_follows_but_not_in_a_list_nor_as_a_tables_title():
    page = """<html><head><title>Leave</title></head><body><h1>Leave</h1>
    <p><b>ACME</b></p><p><strong>Employee Handbook</strong></p>
    <h2>Requests</h2><p><strong>Eligibility</strong></p><p>Staff may take leave after three months.</p>
    <p><b>Note:</b> ask first.</p><p><b>All requests need approval.</b></p>
    <p><span style="font-weight: 700">How to apply</span><br></p><p>Fill in the form.</p>
    <p class=MsoNormal><a name="_Toc1"></a><font size="+1"><b>Forms</b></font><o:p></o:p></p><p>On the intranet.</p>
    <ul><li><p><b>Step one</b></p><p>Open the form.</p></li></ul>
    <p class="title"><b>Table 1. Days</b></p><table><tr><td>Annual</td><td>25</td></tr></table>
    </body></html>"""
    assert sections_of(page) == [
        (("Leave",), "ACME\n\nEmployee Handbook"),  # bold lines heading nothing stay text
        (
            ("Leave", "Requests", "Eligibility"),
            "Staff may take leave after three months.\n\nNote: ask first.\n\nAll requests need approval.",
        ),
        (
            ("Leave", "Requests", "How to apply"),  # bold by its style, as an editor pastes it
            "Fill in the form.",
        ),
        (
            ("Leave", "Requests", "Forms"),  # in bold inside a plain wrapper
            "On the intranet.\n\nStep one\n\nOpen the form.\n\nTable 1. Days\n\nAnnual | 25",
        ),
    ]


def test_an_api_references_definitions_head_their_descriptions_and_name_their_anchors():
    sphinx = """<html><head><title>paths</title></head><body><h1>paths</h1><p>Path helpers.</p>
    <dl class="py class"><dt class="sig sig-object py" id="paths.Path"><em>class</em> <span>paths.</span><span>Path</span>(<em>text</em>)<a class="headerlink" href="#paths.Path">¶</a></dt><dd><p>A path.</p>
    <dl class="py method"><dt class="sig sig-object py" id="paths.Path.parent"><span>parent</span>()</dt>
    <dd><p>The folder it is in.</p></dd></dl></dd></dl>
    <dl class="simple"><dt>term</dt><dd><p>A glossary's term is no heading.</p></dd></dl></body></html>"""
    doc = extract(raw(sphinx, "text/html"))
    assert [(s.headings, s.text, s.anchor) for s in doc.sections] == [
        (("paths",), "Path helpers.", None),
        (("paths", "class paths.Path(text)"), "A path.", "paths.Path"),
        (
            ("paths", "class paths.Path(text)", "parent()"),  # a method under its class
            "The folder it is in.\n\nterm\n\nA glossary's term is no heading.",
            "paths.Path.parent",
        ),
    ]
    texinfo = """<html><head><title>Matrices</title></head><body><h3>16.3 Special Matrices</h3>
    <dl><dt id="index-zeros"><span class="category">: </span><span><strong>zeros</strong> <em>(n)</em>
    <a href="#index-zeros" class="copiable-anchor"> &para;</a></span></dt>
    <dd><p>Return a matrix of zeros.</p></dd></dl></body></html>"""
    assert [(s.headings, s.text, s.anchor) for s in extract(raw(texinfo, "text/html")).sections] == [
        (("16.3 Special Matrices", "zeros (n)"), "Return a matrix of zeros.", "index-zeros")
    ]


def test_a_faqs_questions_in_accordions_or_terms_head_their_answers_but_not_a_contents_entry():
    page = """<html><head><title>FAQ</title></head><body><h1>IT FAQ</h1><p>Common questions.</p>
    <dl><dt><a href="#reset">How do I reset my password?</a></dt></dl>
    <details><summary>How do I reset my password?</summary><p>Use the self-service portal.</p></details>
    <details><summary>Who fixes a broken laptop？</summary><p>The helpdesk, on 4417.</p></details>
    <dl><dt>Can I work from abroad?</dt><dd>Up to four weeks a year.</dd></dl>
    <h2>Parking</h2><p><b>Can I park here?</b><br>Yes, behind the warehouse.</p><p><b>Note:</b><br>Bring your pass.</p></body></html>"""
    assert sections_of(page) == [
        (("IT FAQ",), "Common questions.\n\nHow do I reset my password?"),  # a link to the answer heads nothing
        (("IT FAQ", "How do I reset my password?"), "Use the self-service portal."),
        (("IT FAQ", "Who fixes a broken laptop？"), "The helpdesk, on 4417."),
        (("IT FAQ", "Can I work from abroad?"), "Up to four weeks a year."),
        (("IT FAQ", "Parking", "Can I park here?"), "Yes, behind the warehouse.\n\nNote:\n\nBring your pass."),
    ]


def test_a_google_docs_export_has_its_bold_lines_by_their_class_as_headings():
    page = """<html><head><style type="text/css">.c1{font-weight:400;font-size:11pt}
    .c4{color:#000000;font-weight:700;font-size:11pt}.c2{padding-top:0pt}</style></head>
    <body class="c5 doc-content"><p class="c2"><span class="c4">Eligibility</span></p>
    <p class="c2"><span class="c1">Staff may take leave after three months.</span></p>
    <p class="c2"><span class="c1">Plain line</span></p><p class="c2"><span class="c1">More text.</span></p></body></html>"""
    assert sections_of(page) == [
        (("Eligibility",), "Staff may take leave after three months.\n\nPlain line\n\nMore text.")
    ]


def test_a_markdown_paragraph_of_one_bold_line_heads_what_follows():
    text = (
        "# Leave\n\n**ACME**\n\n**Employee Handbook**\n\n## Requests\n\n**1. Eligibility**\n\n"
        "Staff may take leave after three months.\n\n**Note:** ask first.\n\n**All requests need approval.**\n\n"
        "**Be kind** and **fair**\n\n__How to apply__\n\nFill in the form.\n\n- **Step one**\n\n"
        "**Can I carry days over?**\n\nUp to five.\n\n**问：忘记带员工卡怎么办？**\n答：到前台领取临时卡。\n"
    )
    doc = extract(raw(text, None, "/leave.md"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Leave",), "ACME\n\nEmployee Handbook"),
        (
            ("Leave", "Requests", "1. Eligibility"),
            "Staff may take leave after three months.\n\nNote: ask first.\n\nAll requests need approval.\n\n"
            "Be kind and fair",
        ),
        (("Leave", "Requests", "1. Eligibility", "How to apply"), "Fill in the form.\n\n- Step one"),
        (("Leave", "Requests", "1. Eligibility", "Can I carry days over?"), "Up to five."),  # a question heads
        (("Leave", "Requests", "1. Eligibility", "问：忘记带员工卡怎么办？"), "答：到前台领取临时卡。"),  # its line
    ]


def test_given_a_md_file_without_content_type_when_extracted_then_it_is_parsed_as_markdown():
    doc = extract(raw("# Notes\n\nSome notes.", None, "notes.md"))
    assert doc.title == "Notes"
    assert doc.sections == (Section(("Notes",), "Some notes."),)


def test_given_plain_text_when_extracted_then_paragraphs_are_normalised_and_no_headings_are_made():
    text = "  First   paragraph\nwraps here.  \n\n\n# not a heading in plain text\n\n\tLast one.\n"
    doc = extract(raw(text, "text/plain", "/readme.txt"))
    assert doc.title == "readme"
    assert doc.sections == (Section((), "First paragraph wraps here.\n\n# not a heading in plain text\n\nLast one."),)


def test_plain_text_list_items_and_fields_keep_their_lines_and_wrapped_lines_join():
    text = "Platforms:\n- Linux\n- Windows\n  and more\n2. macOS\n\n:Author: SRE Team\n:Version: 2.3\n\nWraps\nhere 2. no item."
    doc = extract(raw(text, "text/plain", "/notes.txt"))
    assert doc.sections[0].text == (
        "Platforms:\n- Linux\n- Windows and more\n2. macOS\n\n:Author: SRE Team\n:Version: 2.3\n\nWraps here 2. no item."
    )


def test_plain_text_numbered_titles_make_sections_and_a_numbered_list_does_not():
    text = (
        "Leave policy\n\nChapter 1. Annual leave\n\n1.1. How many days do I get, and can I\ncarry them over?\n\n"
        "    Twenty-five days.\n\n1.2. Booking\n\n    Ask your manager.\n\nChapter 2. Sick leave\n\nCall in by ten.\n"
    )
    doc = extract(raw(text, "text/plain", "/leave.txt"))
    title = "1.1. How many days do I get, and can I carry them over?"
    assert [(s.headings, s.text) for s in doc.sections] == [
        ((), "Leave policy"),
        (("Chapter 1. Annual leave", title), "Twenty-five days."),
        (("Chapter 1. Annual leave", "1.2. Booking"), "Ask your manager."),
        (("Chapter 2. Sick leave",), "Call in by ten."),
    ]
    steps = "To install:\n\n1. Download it\n\n2. Run it\n\n3. Restart\n\nDone.\n"
    assert [s.headings for s in extract(raw(steps, "text/plain", "/steps.txt")).sections] == [()]


def test_plain_text_titles_in_capitals_make_sections_but_not_a_paragraph_in_capitals():
    text = (
        "LEAVE POLICY\n\nELIGIBILITY\nStaff may take leave after three months.\n\nHOW TO APPLY\n\n"
        "Fill in the form.\n\nNO WARRANTY\n\nTHERE IS NO WARRANTY FOR THE FORM, TO THE EXTENT\n"
        "PERMITTED BY LAW.\n\nNOTE:\nKeep a copy.\n"
    )
    doc = extract(raw(text, "text/plain", "/leave.txt"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        ((), "LEAVE POLICY"),  # the first line names the document: it heads no section
        (("ELIGIBILITY",), "Staff may take leave after three months."),
        (("HOW TO APPLY",), "Fill in the form."),
        (("NO WARRANTY",), "THERE IS NO WARRANTY FOR THE FORM, TO THE EXTENT PERMITTED BY LAW.\n\nNOTE: Keep a copy."),
    ]
    two = "ELIGIBILITY\nThree months.\n\nHOW TO APPLY\nThe form.\n"  # fewer than three: no outline
    assert [s.headings for s in extract(raw(two, "text/plain", "/two.txt")).sections] == [()]


RULE = "=" * 40
# A manual laid out as Vim's help is: a rule over each section's title, a blank line around it
RULED_MANUAL = (
    f"*usr_05.txt*  Set your settings\n\n{RULE}\n*05.1*\tThe vimrc file\t\t*vimrc-intro*\n\nYou probably got\n"
    "tired of typing commands.\n\n\t:edit $MYVIMRC\n\n"
    f"{RULE}\n\n*05.2*\tSimple mappings\n\nA mapping binds commands to a key.\n\n{RULE}\nA rule over a paragraph\n"
    f"is no title.\n\n{RULE}\n"
    "*05.3*\tAdding a plugin\n\nDrop it in your plugin directory.\n"
)


def test_plain_text_titles_under_rules_make_sections_and_a_finer_numbered_outline_wins():
    doc = extract(raw(RULED_MANUAL, "text/plain", "/usr_05.txt"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        ((), "*usr_05.txt* Set your settings"),
        (("*05.1* The vimrc file *vimrc-intro*",), "You probably got tired of typing commands.\n\n:edit $MYVIMRC"),
        (("*05.2* Simple mappings",), "A mapping binds commands to a key.\n\nA rule over a paragraph is no title."),
        (("*05.3* Adding a plugin",), "Drop it in your plugin directory."),
    ]
    # A rule under a rule is no title
    rules = "Intro.\n\n" + "==========\n\n----------\n\nBody here.\n\n" * 3
    assert [s.headings for s in extract(raw(rules, "text/plain", "/rules.txt")).sections] == [()]
    # Given three titles under rules and four numbered ones: the numbered outline
    ruled = "".join(f"{RULE}\n\nCopyright 202{n}\n\nBy holder {n}.\n\n" for n in range(3))
    numbered = "".join(f"{n}. Part {n}\n\nText {n}.\n\n" for n in range(1, 5))
    doc = extract(raw(ruled + numbered, "text/plain", "/notes.txt"))
    assert [s.headings for s in doc.sections] == [(), ("1. Part 1",), ("2. Part 2",), ("3. Part 3",), ("4. Part 4",)]


def test_a_page_that_is_plain_text_in_one_pre_is_read_as_plain_text_but_a_code_listing_stays_code():
    # Given Vim's help as HTML: the manual in one <pre>, its tags as links, a link back to the index above it
    manual = RULED_MANUAL.replace("*vimrc-intro*", '*<a name="vimrc-intro"></a><b>vimrc-intro</b>*')
    manual += "\n".join(f"Plugins are scripts that Vim loads on start, number {n} of many." for n in range(40))
    page = f"<html><head><title>Vim: usr_05</title></head><body><a href='i.html'>main help file</a><pre>{manual}</pre>"
    doc = extract(raw(page, "text/html"))
    assert doc.title == "Vim: usr_05"
    assert [s.headings for s in doc.sections][1:] == [
        ("*05.1* The vimrc file *vimrc-intro*",),
        ("*05.2* Simple mappings",),
        ("*05.3* Adding a plugin",),
    ]
    assert doc.sections[1].text == "You probably got tired of typing commands.\n\n:edit $MYVIMRC"
    assert [s.anchor for s in doc.sections] == [None, "vimrc-intro", None, None]  # the link in its title line
    # Given the same text highlighted (a source listing), or a page with more text besides it: code, kept as it is
    lines = manual.splitlines()
    highlighted = "\n".join(f"<span class='c'>{line}</span>" for line in lines)
    long_page = page.replace("</pre>", "</pre>" + "<p>Besides the manual, this page says a lot more.</p>" * 200)
    for html in (page.replace(manual, highlighted), long_page):
        sections = extract(raw(html, "text/html")).sections
        assert sections[0].headings == () and "```\n*usr_05.txt*  Set your settings\n" in sections[0].text
    # A <pre> of blanks is no text page: the paragraph beside it is the page's text
    blank = "<html><body><pre>" + " " * 3600 + "</pre><p>Employees get twenty days of leave.</p></body></html>"
    assert extract(raw(blank, "text/html")).sections == (Section((), "Employees get twenty days of leave."),)


def test_markdown_underlined_headings_make_levels_one_and_two_and_front_matter_and_rules_are_dropped():
    text = (
        "---\nauthor: x\n---\nLeave policy\n============\n\nYou get 25 days.\n\n***\n\nSick leave\n---\nCall at ten.\n"
    )
    doc = extract(raw(text, "text/markdown", "/leave.md"))
    assert doc.title == "Leave policy"
    assert doc.sections == (
        Section(("Leave policy",), "You get 25 days."),
        Section(("Leave policy", "Sick leave"), "Call at ten."),
    )


def test_restructuredtext_and_plain_text_titles_are_underlined_their_levels_in_order_of_first_appearance():
    # Given a title over- and underlined, sections underlined with "=", subsections with "-", and a
    # line followed by a rule too short to underline it
    text = (
        "==========\nHandbook\n==========\n\nFor  all\nstaff.\n\nLeave\n=====\n\nTwenty days.\n\n"
        "Sick leave\n----------\n\nCall at ten.\n\nA very long line that no short rule underlines\n---\n\n"
        "Expenses\n========\n\nKeep receipts.\n"
    )
    for name in ("/handbook.rst", "/handbook.txt"):
        doc = extract(raw(text, None, name))
        assert doc.title == "Handbook"
        assert doc.sections == (
            Section(("Handbook",), "For all staff."),
            Section(("Handbook", "Leave"), "Twenty days."),
            Section(
                ("Handbook", "Leave", "Sick leave"), "Call at ten.\n\nA very long line that no short rule underlines"
            ),
            Section(("Handbook", "Expenses"), "Keep receipts."),
        )


def test_rules_list_items_and_signatures_are_not_headings_nor_front_matter():
    # Given a rule first (no YAML after it), a list item above a rule, and a signature over a blank line
    text = "---\n\nIntro.\n\n## Setup\n\nSetup text.\n\n- Only item\n---\n\nClosing.\n"
    doc = extract(raw(text, "text/markdown", "/setup.md"))
    assert doc.sections == (Section((), "Intro."), Section(("Setup",), "Setup text.\n\n- Only item\n\nClosing."))
    letter = extract(raw("Please pay by Friday.\n\nRegards,\n__________\nJohn Smith\n", "text/plain", "/l.txt"))
    assert letter.title == "l" and letter.sections == (
        Section((), "Please pay by Friday.\n\nRegards, __________ John Smith"),
    )


def test_given_a_txt_name_and_no_content_type_when_extracted_then_it_is_text():
    assert detect_kind(raw("x", None, "a.TXT")) == ("text", None)


def test_given_an_empty_document_when_extracted_then_source_failed():
    with pytest.raises(SourceFailed, match="no text"):
        extract(raw(b"", "text/plain"))


@pytest.mark.parametrize("blank", [b"   \n\n\t  \n", b"\xef\xbb\xbf"])
def test_given_a_blank_document_when_extracted_then_source_failed(blank):
    with pytest.raises(SourceFailed):
        extract(raw(blank, "text/plain"))


# --- PDF -----------------------------------------------------------------------------------------


def test_given_a_pdf_when_extracted_then_page_text_is_a_page_section_and_metadata_gives_the_title():
    pdf = make_pdf(["Quarterly revenue grew by nine percent.", "Costs fell."], title="Q3 Report")
    doc = extract(raw(pdf, "application/pdf", "/q3.pdf"))
    assert doc.title == "Q3 Report"
    assert len(doc.sections) == 1
    assert doc.sections[0].headings == ("Page 1",)
    assert "Quarterly revenue grew by nine percent." in doc.sections[0].text
    assert "Costs fell." in doc.sections[0].text


def test_given_a_pdf_without_metadata_or_content_type_when_extracted_then_sniffed_and_titled_by_name():
    doc = extract(raw(make_pdf("Sniffed by its header."), None, "/download"))
    assert doc.title == "download"
    assert "Sniffed by its header." in doc.text


def test_given_a_corrupt_pdf_when_extracted_then_source_failed():
    with pytest.raises(SourceFailed, match="unreadable PDF"):
        extract(raw(b"%PDF-1.4\nthis is not really a pdf", "application/pdf", "/broken.pdf"))


def test_given_a_pdf_page_without_text_when_extracted_then_source_failed():
    with pytest.raises(SourceFailed, match="no text"):
        extract(raw(make_pdf([]), "application/pdf", "/blank.pdf"))


def handbook_pdf() -> bytes:
    """Four pages under a running header and footer, with bullets, and an outline: Leave (page 1) with
    Sick leave inside it (starting halfway down page 2, after its numbering), Expenses (pages 3 and 4), then a
    link to a web site and a list of figures pointing back to pages 1 and 2, which head no text."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    pages = [
        ["Leave", "Employees get twenty days of paid leave a year.", "- Ask your manager first.", "- Then book it."],
        ["Unused days carry over to March.", "2.1 Sick leave", "Call in before ten in the morning."],
        ["Expenses", "Receipts are due within thirty days."],
        ["Expenses", "Keep copies of receipts for a year."],  # its chapter's title atop it: a running header
    ]
    streams = [text_stream([f"Acme Handbook {n} / 4", *lines, "Printed 2024"]) for n, lines in enumerate(pages, 1)]
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pages_pdf(streams, [0, 1, 2, 3]))))
    leave = writer.add_outline_item(title="Leave", page_number=0)
    writer.add_outline_item(title="Sick leave", page_number=1, parent=leave)
    writer.add_outline_item(title="Expenses", page_number=2)
    website = writer.add_outline_item(title="Website", page_number=0).get_object()
    for key in ("/Dest", "/A"):
        website.pop(key, None)
    website[NameObject("/A")] = DictionaryObject(
        {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("https://acme.test")}
    )
    figures = writer.add_outline_item(title="List of Figures", page_number=0)
    writer.add_outline_item(title="Figure 1: Leave", page_number=1, parent=figures)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_loses_its_running_lines_and_takes_its_headings_from_its_outline():
    # Given a PDF with a running header and footer, list items, and an outline
    doc = extract(raw(handbook_pdf(), "application/pdf", "/handbook.pdf"))
    # Then each part of a page is under the outline's heading path, from where the heading stands
    assert [(s.headings, s.page, s.text) for s in doc.sections] == [
        (
            ("Leave",),
            1,
            "Employees get twenty days of paid leave a year.\n\n- Ask your manager first.\n\n- Then book it.",
        ),
        (("Leave",), 2, "Unused days carry over to March."),
        (("Leave", "Sick leave"), 2, "Call in before ten in the morning."),
        (("Expenses",), 3, "Receipts are due within thirty days."),
        (("Expenses",), 4, "Keep copies of receipts for a year."),
    ]
    # And no header or footer is left
    assert "Acme Handbook" not in doc.text and "Printed" not in doc.text


def test_without_an_outline_a_chapters_running_header_heads_its_pages():
    # Given a PDF without an outline whose pages carry their chapter's running header, page number and all
    pages = [
        ["Acme Guide", "Welcome to the guide."],
        ["Chapter 1: Leave 2", "Employees get twenty days of paid leave."],
        ["Chapter 1: Leave 3", "Book your leave early."],
        ["Chapter 2: Expenses 4", "Receipts are due within thirty days."],
        ["Chapter 2: Expenses 5", "Keep copies of receipts for a year."],
        ["Exercise 1", "Fill in the leave form."],
        ["Exercise 2", "Fill in the expense form."],
    ]
    pdf = make_pages_pdf([text_stream(lines) for lines in pages], list(range(len(pages))))
    doc = extract(raw(pdf, "application/pdf", "/guide.pdf"))
    # Then the header heads its page instead of "Page N" and leaves the text, nothing else is lost
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Page 1",), "Acme Guide\n\nWelcome to the guide."),
        (("Chapter 1: Leave 2",), "Employees get twenty days of paid leave."),
        (("Chapter 1: Leave 3",), "Book your leave early."),
        (("Chapter 2: Expenses 4",), "Receipts are due within thirty days."),
        (("Chapter 2: Expenses 5",), "Keep copies of receipts for a year."),
        (("Exercise 1",), "Fill in the leave form."),
        (("Exercise 2",), "Fill in the expense form."),
    ]


def test_without_an_outline_the_whole_documents_running_header_heads_nothing():
    rules = ["Be kind.", "Lock your screen.", "Ask for help."]
    pages = [[f"Acme Handbook {n} / 3", rule] for n, rule in enumerate(rules, 1)]
    pdf = make_pages_pdf([text_stream(lines) for lines in pages], [0, 1, 2])
    doc = extract(raw(pdf, "application/pdf", "/handbook.pdf"))
    assert [(s.headings, s.text) for s in doc.sections] == [((f"Page {n}",), r) for n, r in enumerate(rules, 1)]


def pdf_headings(pages: list[list[str]]) -> list[tuple[str, ...]]:
    pdf = make_pages_pdf([text_stream(lines) for lines in pages], list(range(len(pages))))
    return [s.headings for s in extract(raw(pdf, "application/pdf", "/doc.pdf")).sections]


def test_without_an_outline_roman_page_numbers_and_a_statements_rows_head_nothing():
    chapter = [["Chapter 1: Leave 1", "Take it."], ["Chapter 1: Leave 2", "Book it."], ["Notes", "None."]]
    front = [["Guide", "Welcome."], ["i", "Preface", "Thanks to all."], ["ii", "Contents", "Intro"], *chapter]
    assert pdf_headings(front)[1:3] == [("Page 2",), ("Page 3",)]
    rows = [
        ["03/02/2024 Card payment TESCO 12.50", "Salary in."],
        ["09/02/2024 Card payment TESCO 8.20", "Rent out."],  # a row of the same shape: its numbers differ
        *chapter,
    ]
    assert pdf_headings(rows)[:2] == [("Page 1",), ("Page 2",)]
    assert pdf_headings(rows)[2:4] == [("Chapter 1: Leave 1",), ("Chapter 1: Leave 2",)]


def test_without_an_outline_a_documents_header_heads_nothing_beside_chapter_openings_within_it():
    pages = [[f"Acme Handbook {n}", f"Rule {chr(96 + n)} applies to all staff."] for n in range(1, 11)]
    pages[5] = ["Chapter 2", "Travel"]
    pages[7] = ["Chapter 3", "Leave"]
    headings = pdf_headings(pages)
    assert [h for h in headings if not h[0].startswith(("Page ", "Chapter "))] == []


def test_pdf_numbered_items_are_paragraphs_but_a_wrapped_sentences_number_is_not_an_item():
    from cdgpt.ingest.extract.pdf_layout import paragraphs

    steps = ["To print the report, open it and do this, in this order, without skipping any step:", "1. Choose File",
             "then Print", "2. Click OK", "The return value is the exit status, which is", "0. The next call resets it."]  # fmt: skip
    assert paragraphs(steps).split("\n\n") == [
        "To print the report, open it and do this, in this order, without skipping any step:",
        "1. Choose File then Print",
        "2. Click OK The return value is the exit status, which is 0. The next call resets it.",
    ]


def test_pdf_lines_of_chinese_join_without_a_space_and_a_short_line_ending_a_sentence_ends_a_paragraph():
    from cdgpt.ingest.extract.pdf_layout import paragraphs

    lines = [
        "年假为二十天，病假另计，须提前向经理",
        "申请。",
        "Receipts are due within thirty days of the trip, with",
        "the form.",
        "Keep copies.",
    ]
    assert (
        paragraphs(lines)
        == "年假为二十天，病假另计，须提前向经理申请。\n\nReceipts are due within thirty days of the trip, with the form.\n\nKeep copies."
    )


def encrypted_pdf(text: str, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(text))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_given_a_pdf_encrypted_with_an_empty_user_password_when_extracted_then_its_text_is_read():
    # "Restricted" PDFs open without a password: they must still be indexed.
    doc = extract(raw(encrypted_pdf("Restricted but readable.", ""), "application/pdf", "/r.pdf"))
    assert "Restricted but readable." in doc.text


def test_given_a_password_protected_pdf_when_extracted_then_source_failed():
    with pytest.raises(SourceFailed, match=r"^/locked\.pdf is password-protected$"):
        extract(raw(encrypted_pdf("Secret.", "user-secret"), "application/pdf", "/locked.pdf"))


def test_given_an_aes_pdf_and_no_crypto_backend_when_extracted_then_source_failed(monkeypatch):
    # The deployed layer ships pypdf without `cryptography`: pypdf then raises DependencyError.
    import pypdf
    from pypdf.errors import DependencyError

    class NoCrypto:
        def __init__(self, stream):
            raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    pdf = encrypted_pdf("Any.", "")
    monkeypatch.setattr(pypdf, "PdfReader", NoCrypto)
    with pytest.raises(SourceFailed, match="unreadable PDF"):
        extract(raw(pdf, "application/pdf", "/aes.pdf"))


# --- charsets ------------------------------------------------------------------------------------

CHINESE = (
    "自然语言处理是人工智能领域的一个重要方向。它研究能实现人与计算机之间用自然语言进行有效通信的各种理论和方法。"
    "自然语言处理是一门融语言学、计算机科学、数学于一体的科学。"
)
TRADITIONAL = (
    "自然語言處理是人工智慧領域的一個重要方向。它研究能實現人與電腦之間用自然語言進行有效通訊的各種理論和方法。"
    "自然語言處理是一門融語言學、電腦科學、數學於一體的科學。"
)
JAPANESE = (
    "自然言語処理は、人間が日常的に使っている自然言語をコンピュータに処理させる一連の技術であり、"
    "人工知能と言語学の一分野である。これはテストの文章です。"
)
FRENCH = (
    "Le café était très agréable. Nous avons mangé une crème brûlée à la française, près de la forêt. "
    "Ça coûte cher, mais c'était délicieux! Où êtes-vous allés l'été dernier? À bientôt."
)


def test_given_gbk_text_with_a_declared_charset_when_extracted_then_decoded_correctly():
    doc = extract(raw(CHINESE.encode("gbk"), "text/plain; charset=gbk", "/zh"))
    assert doc.text == CHINESE


def test_given_a_quoted_declared_charset_when_extracted_then_it_is_honoured():
    doc = extract(raw(CHINESE.encode("gb2312"), 'text/plain; charset="GB2312"', "/zh"))
    assert doc.text == CHINESE


def test_given_gbk_html_with_a_declared_charset_when_extracted_then_decoded_correctly():
    html = f"<html><head><title>中文标题</title></head><body><p>{CHINESE}</p></body></html>"
    doc = extract(raw(html.encode("gbk"), "text/html; charset=GBK", "/zh.html"))
    assert doc.title == "中文标题"
    assert doc.text == CHINESE


@pytest.mark.parametrize("declared", [("text/html; charset=ISO-8859-1", ""), ("text/html", "ISO-8859-1")])
def test_utf8_labelled_western_is_read_as_utf8_and_true_western_text_stays_western(declared):
    header, meta = declared
    page = '<html><head><meta charset="{}"></head><body><h1>Größe</h1><p>cà t, déjà vu.</p></body></html>'
    for encoding in ("utf-8", "latin-1"):  # Vim's pages: UTF-8 that says it is ISO-8859-1
        document = extract(raw(page.format(meta).encode(encoding), header))
        assert (document.title, document.text) == ("Größe", "cà t, déjà vu.")


def test_given_html_declaring_its_charset_in_a_meta_tag_when_extracted_then_decoded_correctly():
    html = f'<html><head><meta charset="big5"><title>標題</title></head><body><p>{TRADITIONAL}</p></body></html>'
    doc = extract(raw(html.encode("big5"), "text/html", "/tw.html"))
    assert doc.title == "標題"
    assert doc.text == TRADITIONAL


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (
            "# 指南\n\n年假可以结转到下一年，但是必须在三月三十一日之前\n用完。\nSee the\npolicy.\n\n苹果\n香蕉\n",
            "/a.md",
        ),
        (
            "<html><body><h1>指南</h1><p>年假可以结转到下一年，但是必须在三月三十一日之前\n  用完。\nSee the\npolicy.</p>"
            "<p>苹果\n香蕉</p></body></html>",
            "/a.html",
        ),
    ],
)
def test_a_wrapped_line_of_chinese_goes_on_without_a_break(content, name):
    doc = extract(raw(content, None, name))
    # Then the long line goes on without a break, and a list of short lines keeps its lines
    assert (
        doc.sections[0].text == "年假可以结转到下一年，但是必须在三月三十一日之前用完。\nSee the\npolicy.\n\n苹果\n香蕉"
    )


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (CHINESE, "gb18030"), (TRADITIONAL, "big5"), (JAPANESE, "shift_jis"), (FRENCH, "latin-1"),
        ("Señor Peña, naïve, £5. El niño está en la café.", "latin-1"),  # short Western text: not Central European
        ("Die Größe der Tür ist übermäßig. Grüße aus München.", "cp1252"),
        ("Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.", "cp1250"),  # but Central European stays
        ("Příspěvek je v pořádku, děkujeme za účast na setkání.", "cp1250"),
        ("Où êtes-vous allés? À bientôt, ça va être bien.", "cp1252"),  # ù, ì or ø alone is Western
        ("Ci vediamo giovedì, però non so dove.", "cp1252"),
        ("Привет, как дела? Это тест.", "cp1251"),
    ],
)  # fmt: skip
def test_given_undeclared_legacy_encodings_when_extracted_then_the_charset_is_detected(text, encoding):
    body = text.encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the input is really not UTF-8
    doc = extract(raw(body, None, "/doc.txt"))
    assert doc.text == text


def test_given_a_wrong_declared_charset_when_decoding_then_it_falls_back_to_utf8():
    assert decode("naïve café".encode(), "no-such-charset") == "naïve café"
    assert decode("naïve café".encode(), "ascii") == "naïve café"


@pytest.mark.parametrize("content_type", [None, "text/plain", "text/plain; charset=utf-8", "text/plain; charset=UTF-8"])
def test_given_utf8_with_a_bom_when_extracted_then_the_bom_is_dropped(content_type):
    doc = extract(raw("\ufeffHello wörld.".encode(), content_type, "/bom.txt"))
    assert doc.text == "Hello wörld."


def test_given_markdown_with_a_bom_and_declared_utf8_when_extracted_then_the_first_heading_is_still_the_title():
    doc = extract(raw("\ufeff# Título\n\nTexto.".encode(), "text/markdown; charset=utf-8", "/bom.md"))
    assert doc.title == "Título"
    assert doc.sections == (Section(("Título",), "Texto."),)


def test_given_html_with_a_bom_when_extracted_then_the_bom_is_dropped():
    doc = extract(raw("\ufeff<html><title>Tïtle</title><body><p>Body.</p></body></html>".encode(), "text/html"))
    assert doc.title == "Tïtle"
    assert doc.text == "Body."


# --- binary and unsupported input ----------------------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082"
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_given_random_binary_bytes_when_extracted_then_source_failed(seed):
    junk = random.Random(seed).randbytes(4096)
    with pytest.raises(SourceFailed):
        extract(raw(junk, None, "/blob.bin"))


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
def test_given_a_png_without_an_image_type_when_extracted_then_source_failed(content_type):
    with pytest.raises(SourceFailed):
        extract(raw(PNG, content_type, "/picture"))


@pytest.mark.parametrize("content_type", ["image/png", "application/zip", "video/mp4"])
def test_given_an_unsupported_content_type_when_extracted_then_source_failed_names_it(content_type):
    with pytest.raises(SourceFailed, match="unsupported content type"):
        extract(raw(PNG, content_type, "/picture"))


def test_given_text_sniffing_when_content_type_is_missing_then_html_and_pdf_are_recognised():
    assert detect_kind(raw(b"  <!DOCTYPE html><html></html>", None, "/x"))[0] == "html"
    assert detect_kind(raw(b"<div><body>hi</body>", None, "/x"))[0] == "html"
    assert detect_kind(raw(b"%PDF-1.7 ...", "application/octet-stream", "/x"))[0] == "pdf"
    assert detect_kind(raw(b"just words", None, "/x"))[0] == "text"


XHTML_PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- generated -->\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"'
    b' "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
    + b'<link rel="stylesheet" href="../style/manual.css" />' * 30
    + b"</head><body><h1>Multi-Processing Modules</h1><p>This document describes MPMs.</p></body></html>"
)


@pytest.mark.parametrize("name", ["mpm.html.en", "mpm.html.zh-cn", "mpm.html.ja.utf8", "mpm"])
def test_given_an_xhtml_page_named_by_its_language_or_not_at_all_when_extracted_then_it_is_html(name):
    # Apache's manual as shipped upstream: "mpm.html.en", an XML declaration first, <body> past the first KB
    document = extract(raw(XHTML_PAGE, None, name))
    assert [(s.headings, s.text) for s in document.sections] == [
        (("Multi-Processing Modules",), "This document describes MPMs.")
    ]


def test_many_comments_before_something_else_than_html_are_sniffed_in_linear_time():
    # a backtracking pattern took seconds for 24 comments and doubled with each one more
    assert detect_kind(raw(b"<!-- licence line -->\n" * 60 + b"<project/>", None, "pom"))[0] == "text"
    assert detect_kind(raw(b"<!-- a -- b -->\n" * 60 + b"<html><body>x</body></html>", None, "page"))[0] == "html"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("page.htm.fr", "html"), ("settings.json.js", "text"), ("release.pdf.asc", "text"), ("README", "text")],
)
def test_given_suffixes_after_a_type_when_detected_then_only_an_html_pages_language_ones_are_looked_past(name, kind):
    assert detect_kind(raw(b"plain words", None, name))[0] == kind


MARKDOWN_README = """---
title: "Payments service"
description: How we run the payments API.
---
[![Build status](https://ci.example/badge.svg)](https://ci.example) <!-- badges -->

The limit is 2**31 - 1 bytes; edit `__init__.py` and my__var, see [the runbook][rb] and \\[literal].

[rb]: https://wiki.example/runbook "Runbook"

<details><summary>Setup</summary>

Run it once.
</details>

## Deploy

1. Build:

   ```yaml
   steps:
     - name: build
       run: make   # keep the indentation
   ```
2. Ship it.
   - to staging
   - then to production

| Region | Owner |
|--------|-------|
| eu     | Ana   |

> [!WARNING]
> Never deploy on Fridays.
"""


def test_markdown_keeps_words_code_and_lists_and_drops_markup():
    doc = extract(raw(MARKDOWN_README, None, "/repo/README.md"))
    # Then the front matter gives the title and a first paragraph; the text keeps every word as written
    assert doc.title == "Payments service"
    assert [(s.headings, s.text) for s in doc.sections] == [
        (
            (),
            "How we run the payments API.\n\nBuild status\n\n"
            "The limit is 2**31 - 1 bytes; edit __init__.py and my__var, see the runbook and [literal].\n\n"
            "Setup\n\nRun it once.",
        ),
        (
            ("Deploy",),
            "1. Build:\n\n```\nsteps:\n  - name: build\n    run: make   # keep the indentation\n```\n\n2. Ship it.\n"
            "- to staging\n- then to production\n\nRegion | Owner\n\neu | Ana\n\nWarning: Never deploy on Fridays.",
        ),
    ]


def test_code_showing_markdown_fences_stays_one_block_and_prose_keeps_its_angle_brackets():
    html = "<html><body><pre>```\ncode\n```</pre><p>After   it.</p><pre>| a | b |</pre></body></html>"
    assert extract(raw(html, "text/html")).text == "```\n```\ncode\n```\n```\n\nAfter it.\n\n```\n| a | b |\n```"
    markdown = "<p>If a &lt; b and c > d then print</p>\n\n<div>\nKeep 1 < 2 <b>bold</b>\n</div>\n"
    assert extract(raw(markdown, None, "/a.md")).text == "If a < b and c > d then print\n\nKeep 1 < 2 bold"


def test_a_readmes_html_heading_is_a_heading_and_html_text_keeps_its_words():
    text = '<h1 align="center">\n  <img src="logo.png"><br>Payments &amp; Billing\n</h1>\n\n<p>Fast &amp; safe.</p>\n'
    doc = extract(raw(text + "\n## Install\n\nRun it.\n", None, "/README.md"))
    assert doc.title == "Payments & Billing"
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Payments & Billing",), "Fast & safe."),
        (("Payments & Billing", "Install"), "Run it."),
    ]


def test_admonitions_of_mkdocs_and_docusaurus_are_a_label_and_their_text_is_prose():
    text = (
        '# Guide\n\n!!! note "Before you start"\n    You need **admin** rights.\n\n!!! warning\n\n    Back up first.\n\n'
        "    - one\n    - two\n\n:::tip Pro tip\nUse the CLI.\n:::\n\n    real_code = 1\n"
    )
    doc = extract(raw(text, None, "/guide.md"))
    assert doc.sections[0].text.split("\n\n") == [
        "Note: Before you start\nYou need admin rights.",
        "Warning:",
        "Back up first.",
        "- one\n- two",
        "Tip: Pro tip\nUse the CLI.",
        "```\nreal_code = 1\n```",  # indented code after prose is code
    ]


def test_given_content_type_parameters_when_detected_then_mime_is_case_insensitive_and_charset_is_read():
    assert detect_kind(raw(b"x", "Text/HTML; Charset=ISO-8859-1", "/x")) == ("html", "ISO-8859-1")
    assert detect_kind(raw(b"x", "text/markdown;charset='utf-8'", "/x")) == ("markdown", "utf-8")


def test_markdown_inline_marks_are_dropped_and_links_keep_their_text():
    # Given Markdown with emphasis, inline code, a link and an image
    raw = RawDocument(
        "m.md",
        b"# **Leave** policy\n\nYou get **25 days**; see [the form](https://x/y) and `hr-tool`. ![chart](c.png)\n",
        None,
        "m.md",
    )
    # When it is extracted
    doc = extract(raw)
    # Then only the words remain, in the title, the headings and the text
    assert doc.title == "Leave policy"
    assert doc.sections[0].headings == ("Leave policy",)
    assert doc.sections[0].text == "You get 25 days; see the form and hr-tool. chart"


@pytest.mark.parametrize("wrapper", ["no-sidebar", "layout-with-sidebar", "toc-enabled", "sphinxsidebarwrapper"])
def test_a_content_wrapper_whose_class_mentions_chrome_is_kept(wrapper):
    # Given a page whose whole body sits in a wrapper named after chrome, beside a real sidebar
    body = "<p>" + "Annual leave is twenty-five days for everyone. " * 20 + "</p>"
    sidebar = '<div class="sidebar"><a href="/">Home</a> <a href="/about">About</a></div>'
    html = f'<html><body><div class="{wrapper}"><h1>Leave</h1>{body}</div>{sidebar}</body></html>'
    # When it is extracted
    doc = extract(RawDocument("p.html", html.encode(), "text/html", "p.html"))
    # Then the content stays and the sidebar goes
    assert "twenty-five days" in doc.text and "Home About" not in doc.text


def test_a_table_of_contents_larger_than_a_short_page_is_dropped_unless_it_is_all_there_is():
    # Given a short page beside a site-wide table of contents (nested lists of links), larger than the page
    items = "".join(f'<li><a href="c{n}.html">{n}. Chapter {n}</a><ul class="toc"><li><a href="s{n}.html">{n}.1 Part</a>'
                    "</li></ul></li>" for n in range(1, 30))  # fmt: skip
    page = f'<div id="main"><h2>3.4 Final touches</h2><p>This section adds the final touches.</p></div><div id="tocframe"><ul class="toc">{items}</ul></div>'
    # When it is extracted
    doc = extract(RawDocument("p.html", f"<html><body>{page}</body></html>".encode(), "text/html", "p.html"))
    # Then only the page's text is left, no chapter of the contents
    assert doc.text == "This section adds the final touches."
    # And a page that is only a table of contents, or a chapter's heading above one, is a page of links: its
    # chapters are read from their own pages
    for body in [f'<ul class="toc">{items}</ul>', f'<h1>3. Tutorial</h1><div class="toc"><ul>{items}</ul></div>']:
        with pytest.raises(SourceFailed, match="a page of links only"):
            extract(RawDocument("c.html", f"<html><body>{body}</body></html>".encode(), "text/html", "c.html"))
    # And a wrapper named like chrome that holds the text, beside a skipped <nav>, is the page's content
    wrapped = f'<html><body><h1>Leave</h1><div class="layout-with-sidenav"><nav><ul>{items}</ul></nav><p>Leave is booked in the portal.</p></div></body></html>'
    assert (
        extract(RawDocument("w.html", wrapped.encode(), "text/html", "w.html")).text == "Leave is booked in the portal."
    )
    # And a large "toc" element of prose is the page's content, misnamed: it stays
    prose = "<p>" + "Leave is booked in the portal, <a href='/p'>here</a>. " * 5 + "</p>"
    misnamed = extract(
        RawDocument(
            "m.html",
            f'<html><body><p>Intro.</p><div class="toc">{prose}</div></body></html>'.encode(),
            "text/html",
            "m.html",
        )
    )
    assert "booked in the portal" in misnamed.text


def test_links_above_the_first_heading_go_and_prose_above_it_stays():
    # Given a page whose site name and breadcrumbs stand above its title, in elements no class names
    crumbs = '<p>Acme Server 2.4</p><div id="path"><a href="/">Acme</a> &gt; <a href="/docs">Documentation</a> &gt; <a href="/docs/howto">How-To</a></div>'
    page = f"<html><body>{crumbs}<h1>Tutorial</h1><p>Enable the module first.</p></body></html>"
    # When it is extracted
    doc = extract(RawDocument("p.html", page.encode(), "text/html", "p.html"))
    # Then the page starts at its title
    assert [(s.headings, s.text) for s in doc.sections] == [(("Tutorial",), "Enable the module first.")]
    # And prose above the first heading stays, even with a link in it
    intro = '<p>This guide, written by the <a href="/ops">operations team</a>, covers the server.</p>'
    page = f"<html><body>{intro}<h1>Tutorial</h1><p>Enable the module first.</p></body></html>"
    assert "written by the operations team" in extract(RawDocument("p.html", page.encode(), "text/html", "p.html")).text


def test_hidden_alternatives_stay_apart():
    # Given LibreOffice's help: the Mac and the default key name, both hidden until a script shows one
    html = """<html><body><p>Hold down the <span class="switchinline"><span hidden="true" id="MAC1" class="MAC">Command</span><span
    hidden="true" id="d1">Ctrl</span></span> key, or press <span class="switchinline"><span hidden="true" id="MAC2"
    class="MAC">Command</span><span hidden="true" id="d2">Ctrl</span></span>+Tab.</p></body></html>"""
    # When it is extracted
    doc = extract(RawDocument("p.html", html.encode(), "text/html", "p.html"))
    # Then both names are words of their own, and the last stays joined to what follows it
    assert doc.text == "Hold down the Command Ctrl key, or press Command Ctrl+Tab."


RST = """\
.. _install-guide:

Installing the agent
====================

.. contents::
   :local:

Run :program:`agentctl` with :option:`--enrol <agentctl --enrol>`, as ``root``; see
`the VPN page <https://intranet/vpn>`_ and :ref:`proxies` [#f1]_. It is **required** on *every* laptop.

.. note:: Laptops enrol once.

   Desktops never do.

.. versionadded:: 2.1
   The ``--enrol`` flag.

.. code-block:: shell
   :caption: enrol.sh

   agentctl --enrol **now** `x`

.. toctree::
   :maxdepth: 2

   proxies
   faq

.. image:: agent.png
   :alt: the agent's window

.. autofunction:: agent.enrol

.. This comment is for the editors.

Proxies
-------

Set :envvar:`HTTPS_PROXY`::

    export HTTPS_PROXY=http://proxy:3128
"""


def test_restructured_text_keeps_its_words_without_markup():
    # Given a reStructuredText page with roles, links, admonitions, code, a table of contents and comments
    doc = extract(RawDocument("guide.rst", RST.encode(), None, "guide.rst"))
    # Then it has its titles and its words, without the markup
    assert doc.title == "Installing the agent"
    assert [s.headings for s in doc.sections] == [("Installing the agent",), ("Installing the agent", "Proxies")]
    first, second = (s.text for s in doc.sections)
    assert first.startswith(
        "Run agentctl with --enrol, as root; see the VPN page and proxies. It is required on every laptop."
    )
    assert "Note: Laptops enrol once." in first and "Desktops never do." in first
    assert "New in version 2.1: The --enrol flag." in first
    # And code keeps its text as written, its directive's language and options go
    assert "agentctl --enrol **now** `x`" in first and "shell" not in first and "enrol.sh" not in first
    # And blocks without prose go: the table of contents, the toctree, the image, the comment, the target
    for gone in ("maxdepth", "faq", "agent.png", "window", "editors", "install-guide", "local"):
        assert gone not in first
    assert "agent.enrol" in first  # an object's directive keeps its name
    assert second == "Set HTTPS_PROXY:\n\n```\nexport HTTPS_PROXY=http://proxy:3128\n```"


@pytest.mark.parametrize(
    ("rst", "text"),
    [
        ("Note [1]_.\n\n.. [1] Footnote one text.", "Note.\n\nFootnote one text."),
        ("The |project| tool.\n\n.. |project| replace:: Frobnicator", "The Frobnicator tool."),
        ("\\*args and \\*\\*kwargs, \\*note\\*", "*args and **kwargs, *note*"),
        ("..\n\n   A quote after an empty comment.", "A quote after an empty comment."),
        ("``*.py`` and ``**text**``, ``[1]_``", "*.py and **text**, [1]_"),  # literals as written
        ("Don`t.\n\nSee `the guide <http://g>`_ now.", "Don`t.\n\nSee the guide now."),  # not across paragraphs
        (
            ":orphan:\n\nSee tracker_ and `docs`__.\n\n__ https://x\n\n.. only:: html\n\n   Only here.",
            "See tracker and docs.\n\nOnly here.",
        ),
        (".. warning ::\n\n   Using -Y breaks filters.", "Warning:\n\nUsing -Y breaks filters."),  # a space before ::
    ],
)
def test_restructured_text_footnotes_substitutions_escapes_and_references(rst, text):
    assert extract(RawDocument("p.rst", rst.encode(), None, "p.rst")).text == text


def test_restructured_text_tables_are_rows_of_cells_without_borders():
    # Given a grid table (a cell spanning rows), a simple table (a header spanning columns, a wide
    # character, a cell with markup) and a table inside a literal block
    grid = "+-------+-------+\n| Plan  | Cost  |\n+=======+=======+\n| Basic | £10   |\n|       +-------+\n|       | £12   |\n"
    simple = (
        "=====  ======\n   Prices\n-------------\nPlan   Cost\n=====  ======\n专业版  ``£25`` a month\n=====  ======\n"
    )
    rst = (
        f"Prices\n======\n\n{grid}+-------+-------+\n\n{simple}\nThen text.\n\n::\n\n   =====  =====\n   code   stays\n"
    )
    # When it is extracted
    doc = extract(RawDocument("p.rst", rst.encode(), None, "p.rst"))
    # Then each row is its cells, without borders, and a table inside a literal block stays as written
    assert doc.sections[0].text == (
        "Plan | Cost\n\nBasic | £10\n\n£12\n\nPrices\n\nPlan | Cost\n\n专业版 | £25 a month\n\nThen text.\n\n"
        "```\n=====  =====\ncode   stays\n```"
    )


def test_a_simple_tables_row_may_run_over_lines_and_rows_may_stand_apart():
    # Given a simple table whose second row goes on below its first column, a blank line between rows,
    # and a paragraph after it
    rst = (
        "=====  ================\nTerm   Meaning\n=====  ================\ncat    a small animal that\n"
        "       purrs and sleeps\n\ndog    barks\n=====  ================\n\nThe end.\n"
    )
    # When it is extracted
    text = extract(RawDocument("p.rst", rst.encode(), None, "p.rst")).text
    # Then the continued row is one row, the row after the blank line is still cut into cells, and the
    # table ends at its last border
    assert text == "Term | Meaning\n\ncat | a small animal that purrs and sleeps\n\ndog | barks\n\nThe end."


@pytest.mark.parametrize(
    ("rst", "text"),
    [
        # its third border ends a table, though a target follows without a blank line; the section after stays
        (
            "===  ===\nA    B\n===  ===\na    b\n===  ===\n.. _t: http://x\n\nIntro\n=====\n\nText one\ntext two.\n",
            "A | B\n\na | b\n\nText one text two.",
        ),
        ("\t===  ===\n\tA    B\n\t===  ===\n\ta    b\n\tc    d\n\t===  ===\n", "A | B\n\na | b\n\nc | d"),  # tabs
        ("===  =====\n+    plus\n-    minus\n===  =====\n", "+ | plus\n\n- | minus"),  # cells of one mark stay
        ("=====  =====\nKey    Value\n=====  =====\nabcdefg\tvalue\n=====  =====\n", "Key | Value\n\nabcdefg | value"),
        # a grid row's cell over several lines is one cell
        ("+-----+---------+\n| cp5 | EBCDIC, |\n|     | Europe  |\n+-----+---------+\n", "cp5 | EBCDIC, Europe"),
    ],
)
def test_a_table_ends_where_docutils_ends_it_and_keeps_its_cells(rst, text):
    assert extract(RawDocument("p.rst", rst.encode(), None, "p.rst")).text == text


def test_a_language_switcher_goes_and_links_in_prose_stay():
    # Given a page's list of itself in other languages (hreflang links side by side, a label before them),
    # another as a list, hreflang links in a sentence and beside a heading
    switcher = (
        '<p><span>Available Languages: </span><a href="/en/x.html">en</a> | '
        '<a href="/fr/x.html" hreflang="fr">fr</a> | <a href="/ja/x.html" hreflang="ja">ja</a></p>'
    )
    listed = (
        '<ul><li><a href="/de/" hreflang="de">Deutsch</a></li><li><a href="/fr/" hreflang="fr">Français</a></li></ul>'
    )
    prose = (
        "<p>This guide sets up the proxy cache for large sites. Translations: "
        '<a href="/de/x.html" hreflang="de">German</a> and <a href="/fr/x.html" hreflang="fr">French</a>.</p>'
    )
    titled = '<div><a hreflang="en" href="/en/">en</a> <a hreflang="fr" href="/fr/">fr</a><h2>Refunds</h2></div>'
    page = f"<html><body><h1>Proxy</h1>{switcher}{listed}{prose}{titled}<p>Within 14 days.</p></body></html>"
    # When it is extracted
    doc = extract(raw(page, "text/html"))
    # Then the switchers go whole, label too; the sentence and the division with a heading keep theirs
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Proxy",), "This guide sets up the proxy cache for large sites. Translations: German and French.\n\nen fr"),
        (("Proxy", "Refunds"), "Within 14 days."),
    ]
    # And so does the main region itself
    main = (
        '<html><body><main><a hreflang="en" href="/en/">en</a> <a hreflang="fr" href="/fr/">fr</a></main></body></html>'
    )
    assert extract(raw(main, "text/html")).text == "en fr"


def test_publican_banner_and_page_navigation_are_dropped():
    # Given a Publican (DocBook) page: a download banner, navigation above and below that names the next page
    html = """<html><body><div id="banner"><a href="/get"><span>Download the ebook</span></a></div>
    <ul class="docnav top"><li class="previous"><a href="a.html">Previous</a></li><li class="home">The Book</li></ul>
    <div class="section"><h2>6.2. apt-get</h2><p>APT installs packages and their dependencies.</p></div>
    <ul class="docnav"><li class="next"><a href="c.html"><strong>Next</strong>6.3. The apt-cache command</a></li></ul>
    </body></html>"""
    # When it is extracted
    doc = extract(raw(html, "text/html"))
    # Then only the section is left: no banner, no navigation, not the next page's title
    assert doc.text.strip() == "APT installs packages and their dependencies."
    assert [s.headings for s in doc.sections] == [("6.2. apt-get",)]


def test_a_sidebar_of_prose_is_a_note_in_the_text_and_one_of_links_is_chrome():
    # Given DocBook's boxed notes (class "sidebar", one inside another) and a site's sidebar of links
    body = "<p>" + "Run update-grub after changing the defaults. " * 10 + "</p>"
    html = f"""<html><body><div id="sidebar"><ul><li><a href="/">Home</a></li><li><a href="/a">All manuals</a></li>
    </ul>Menu</div><div class="section"><h2>GRUB</h2>{body}<div class="sidebar"><p class="title">CAUTION</p>
    <p>Upgrades can fail with error: symbol grub_calloc not found (see <a href="b.html">the bug</a>).</p>
    <div class="sidebar"><p>Going further: grub-mkconfig writes the menu.</p></div></div></div></body></html>"""
    # When it is extracted
    doc = extract(raw(html, "text/html"))
    # Then the note stays, the inner sidebar with it, and the site's sidebar goes
    assert "grub_calloc not found (see the bug)" in doc.text and "grub-mkconfig writes the menu" in doc.text
    assert "All manuals" not in doc.text and "Menu" not in doc.text


def test_a_slug_id_naming_chrome_drops_only_an_element_of_links():
    # Given sections whose ids are their headings' slugs ("menu", "related", "toc"), a menu of links in one,
    # and a footer and a table of contents named by their divs' ids
    html = """<html><body><div id="toc"><p>Contents</p></div>
    <section id="file-menu-shell-and-editor"><h2>File menu</h2><p>New File creates an editor window.</p></section>
    <div class="sect1" id="related-work"><h2>Related work</h2><p>Earlier editors saved files by hand.</p>
    <section id="menu"><a href="/">Home</a> <a href="/docs">Docs</a></section></div>
    <div id="footer"><p>Last updated 2024-05-31</p></div></body></html>"""
    # When it is extracted
    doc = extract(raw(html, "text/html"))
    # Then both sections stay, and the menu of links, the footer and the contents go
    assert [s.headings for s in doc.sections] == [("File menu",), ("Related work",)]
    assert "New File creates" in doc.text and "Earlier editors" in doc.text
    assert "Home" not in doc.text and "Last updated" not in doc.text and "Contents" not in doc.text


def test_a_script_in_a_sidebar_is_not_its_text_and_a_heading_is_not_chrome_by_its_id():
    # Given a sidebar of links with a script, and a heading whose id names chrome and links to itself
    html = """<html><body><div class="sidebar"><a href="/">Home</a><a href="/a">About</a>
    <script>var tracking = "a long script that is no text of the page at all";</script></div>
    <h2 id="navbar"><a href="#navbar">Navbar</a></h2><p>The navbar is a responsive header.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [(s.headings, s.text) for s in doc.sections] == [(("Navbar",), "The navbar is a responsive header.")]


@pytest.mark.parametrize(
    ("title", "h1", "expected"),
    [
        ("Getting Started - MkDocs", "Getting Started with MkDocs", "Getting Started with MkDocs"),
        ("Acme Wiki | Leave", "Leave policy", "Leave policy"),
        ("Install - Acme", "Installing Acme", "Install - Acme"),  # a word's start is no page name
        ("Leave", "Leave policy", "Leave"),  # no site's name to lose
    ],
)
def test_a_title_whose_page_name_begins_the_h1_is_the_h1(title, h1, expected):
    html = f"<html><head><title>{title}</title></head><body><h1>{h1}</h1><p>Text.</p></body></html>"
    assert extract(raw(html, "text/html")).title == expected


def test_a_heading_is_not_chrome_by_its_class_and_invisible_characters_go():
    # Given Docusaurus headings: a CSS-module class naming the sticky navbar, a link to itself holding a
    # zero-width space; and a soft hyphen inside a word
    html = """<html><body><nav class="navbar"><a href="/">Docs</a></nav><article><h1>Install</h1><p>Intro.</p>
    <h2 class="anchor anchorWithStickyNavbar_LWe7" id="linux">Linux<a href="#linux" class="hash-link">\u200b</a></h2>
    <p>Run the inter\u00adnational installer.</p></article></body></html>"""
    doc = extract(raw(html, "text/html"))
    # Then the heading heads its section, and the text holds neither invisible character
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Install",), "Intro."),
        (("Install", "Linux"), "Run the international installer."),
    ]


def test_control_characters_go_but_tabs_and_line_breaks_stay():
    # a PDF's icon font maps its glyph to U+0000 ("Index \x00"), which showed in chunks and answers
    prose = "Every page of the help lists the topics of the whole manual beside its own text. " * 2
    text = f"# Help\n\nIndex\x07 of\x1b topics.\n\n```\nname\tvalue\n```\n\n{prose}\n"
    [section] = extract(raw(text, "text/markdown")).sections
    assert section.text == f"Index of topics.\n\n```\nname\tvalue\n```\n\n{prose.strip()}"
    [section] = extract(raw(f"Index\x00 of topics.\n\n{prose}", "text/plain")).sections
    assert section.text.startswith("Index of topics.")


def test_a_headings_link_to_itself_without_a_word_goes_and_icon_font_glyphs_go():
    # Given Doxygen's "◆" link before a member's name, and MkDocs' link icon (a private-use character)
    html = """<html><body><h1>Builder</h1><p>Builds readers.</p>
    <h2 class="memtitle"><span class="permalink"><a href="#a6e1">◆</a></span> newCharReader()</h2><p>Allocates one.</p>
    <h2 id="settings">Settings <a class="headerlink" href="#settings">\uf0c1</a></h2><p>The settings.</p>
    <h2>Step <a href="#one">1</a></h2><p>First.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    # Then the headings keep their words only; a link with a word stays
    assert [s.headings[-1] for s in doc.sections] == ["Builder", "newCharReader()", "Settings", "Step 1"]


def test_a_header_of_links_goes_and_one_holding_the_title_stays():
    # Given Texinfo's node header (links to the next node and up) and a blog's header whose title is a link
    html = """<html><body><div class="section" id="Intro"><div class="header"><p>Next: <a href="#Shells">What
    is a shell?</a>, Up: <a href="#Top">Introduction</a> [<a href="#toc">Contents</a>]</p></div>
    <h3>1.1 What is Bash?</h3><p>Bash is a shell.</p></div>
    <div class="entry-header"><h2><a href="/post">Release notes</a></h2><a href="/me">Ana</a></div>
    <p>Version 2 is out.</p><div class="card-header"><a href="#c1">How do I reset it?</a></div><p>Use the portal.</p>
    </body></html>"""
    doc = extract(raw(html, "text/html"))
    # Then Texinfo's header goes; a header holding a title, and Bootstrap's card header (a question), stay
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("1.1 What is Bash?",), "Bash is a shell."),
        (("Release notes",), "Ana\n\nVersion 2 is out.\n\nHow do I reset it?\n\nUse the portal."),
    ]


def test_a_permalinks_pilcrow_outside_a_heading_goes():
    # Given Sphinx's permalinks after a caption and an API signature (not headings)
    html = """<html><body><h1>API</h1><p class="caption">Installing a package<a class="headerlink" href="#f1">¶</a></p>
    <dl><dt id="f">fetch(url)<a class="headerlink" href="#f">¶</a></dt><dd>Fetches.</dd></dl></body></html>"""
    assert "¶" not in extract(raw(html, "text/html")).text


def test_a_section_without_a_word_is_no_section():
    # Given a Notion export: the page's icon above its title, and a section of symbols only
    html = """<html><body><article><header><div class="page-header-icon"><span class="icon">🚀</span></div>
    <h1 class="page-title">Onboarding</h1></header><p>Collect your laptop.</p><h2>Divider</h2><p>* * * →</p>
    </article></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [(s.headings, s.text) for s in doc.sections] == [(("Onboarding",), "Collect your laptop.")]
    with pytest.raises(SourceFailed, match="no text found"):
        extract(raw("<html><body><p>🚀 → ✓</p></body></html>", "text/html"))


def test_a_title_loses_its_sites_name_and_a_heading_its_link_to_itself():
    # Given a title naming the site beside the page's h1, and headings with a "#" link to themselves
    html = """<html><head><title>Leave | Acme Intranet</title></head><body><h1>Leave</h1><p>Twenty days.</p>
    <h2>Carry over<a class="mark" href="#carry" id="carry">#</a></h2><p>Five days.</p>
    <h2>Using C#</h2><p>For the leave tool.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    # Then the title is the page's, and the headings keep their words (and C# its #) and their anchors
    assert doc.title == "Leave"
    assert [(s.headings, s.anchor) for s in doc.sections] == [
        (("Leave",), None),
        (("Leave", "Carry over"), "carry"),
        (("Leave", "Using C#"), None),
    ]


@pytest.mark.parametrize(
    ("title", "h1"),
    [
        ("Hash Tables: GLib Reference Manual", "Hash Tables"),  # gtk-doc
        ("Erlang -- lists", "lists"),  # Erlang
        ("Chapter 3: Installing", "Chapter 3: Installing"),
    ],
)
def test_a_title_loses_a_site_name_after_a_colon_or_a_double_dash(title, h1):
    html = f"<html><head><title>{title}</title></head><body><h1>{h1}</h1><p>Text.</p></body></html>"
    assert extract(raw(html, "text/html")).title == h1


# --- anchors -------------------------------------------------------------------------------------


def test_sphinx_sections_link_to_the_section_id_and_lose_the_pilcrow():
    # Given Sphinx output: a section with an id, a target span before the heading, a permalink inside it
    html = """<html><body><div class="body" role="main"><section id="module-os">
    <span id="os-interfaces"></span><h1>os — Interfaces<a class="headerlink" href="#module-os">¶</a></h1>
    <p>Intro.</p>
    <section id="file-names"><h2>File Names<a class="headerlink" href="#file-names">¶</a></h2><p>Names.</p>
    <h3 id="own">Own id</h3><p>Own.</p><p>Text first.</p><div id="late"><p>Body.</p><h4>Not opening</h4><p>x</p></div>
    </section></section></div></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [(s.headings[-1], s.anchor) for s in doc.sections] == [
        ("os — Interfaces", "module-os"),
        ("File Names", "file-names"),
        ("Own id", "own"),
        ("Not opening", None),  # its wrapper's id does not point at it: text comes first
    ]


def test_docbook_sections_link_to_the_anchor_inside_their_heading():
    html = """<html><body><div class="section"><div class="titlepage"><div><div>
    <h2 class="title"><a id="s3.1"></a>3.1. Which distribution?</h2></div></div></div><p>Stable.</p></div>
    <p>Before any heading.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [(s.headings, s.anchor) for s in doc.sections] == [(("3.1. Which distribution?",), "s3.1")]


def test_an_empty_anchor_before_a_heading_or_its_link_to_itself_is_its_anchor():
    # Given Texinfo (an empty span with an id before the heading, after the node's text), texi2html (<a name>)
    # and Doxygen (the heading's "◆" link to itself)
    html = """<html><body><div class="section" id="Bash"><p>Intro.</p><span id="What-is-Bash"></span>
    <h3>What is Bash?</h3><p>A shell.</p></div><a name="SEC175"></a><h3>Operation mode</h3><p>Modes.</p>
    <h2 class="memtitle"><span class="permalink"><a href="#a6e1">◆</a></span> newCharReader()</h2><p>New.</p>
    <p id="x">Text.</p><h2>No anchor</h2><p>Last.</p></body></html>"""
    doc = extract(raw(html, "text/html"))
    assert [(s.headings[-1:], s.anchor) for s in doc.sections] == [
        ((), None),
        (("What is Bash?",), "What-is-Bash"),
        (("Operation mode",), "SEC175"),
        (("newCharReader()",), "a6e1"),
        (("No anchor",), None),
    ]


def test_a_page_that_only_redirects_is_skipped_with_where_it_leads_and_a_page_with_text_is_read():
    # Given Texinfo's page for an indexed name: a refresh of no delay, and one line pointing on
    stub = """<html><head><meta http-equiv="Refresh" content="0; url=Sums-and-Products.html#XREFsum">
    </head><body><p>The node you are looking for is at <a href="Sums-and-Products.html#XREFsum">XREFsum</a>.</p>
    </body></html>"""
    # Then it is skipped, naming its target
    with pytest.raises(SourceFailed, match=r"only redirects \(to Sums-and-Products.html#XREFsum\)"):
        extract(raw(stub, "text/html"))
    # And a page refreshed later, or holding text of its own, is read
    later = stub.replace('content="0;', 'content="30;')
    assert "The node you are looking for" in extract(raw(later, "text/html")).text
    long = stub.replace("<p>The node", f"<p>{'Octave sums the elements of a vector. ' * 8}</p><p>The node")
    assert "Octave sums the elements" in extract(raw(long, "text/html")).text
    # And so is one sent on only without scripts (LibreOffice's help)
    noscript = stub.replace("<meta", "<noscript><meta").replace("</head>", "</noscript></head>")
    assert "The node you are looking for" in extract(raw(noscript, "text/html")).text


def test_a_page_that_is_an_index_of_links_is_skipped():
    # Given Texinfo's function index: a table of entries, each a linked name and the linked node it is in
    def index(names: list[str]) -> str:
        rows = "".join(
            f'<tr><td><a href="Sums.html#XREF{n}"><code>{n}</code></a>:</td><td><a href="Sums.html">Sums</a></td></tr>'
            for n in names
        )
        return f"<html><body><h2>Function Index</h2><table class='index-fn'>{rows}</table></body></html>"

    names = ["sum", "sumsq", "prod", "cumsum", "cumprod"]
    # Then it is skipped as a page of links, which answers no question
    with pytest.raises(SourceFailed, match=r"a page of links only \(an index or a table of contents\)"):
        extract(raw(index(names), "text/html"))
    # And with one link fewer it is read, as a short list of links may be what a page says
    assert "cumsum" in extract(raw(index(names[:4]) + "<p><a href='a.html'>abs</a></p>", "text/html")).text


def test_a_contents_list_keeps_its_introduction_and_the_other_sections():
    # Given a chapter page: a paragraph with a link, its contents list of twenty links, then a section
    # whose links have descriptions, and a "See Also" of ten links
    items = "".join(f'<li><a href="m{n}.html">module{n}: reading and writing its files</a></li>' for n in range(20))
    described = "".join(f'<li><a href="f{n}.html">f{n}</a>: converts one format to another</li>' for n in range(10))
    page = f"""<html><body><h1>File Formats</h1><p>The modules in this chapter parse formats that are not
    markup, such as <a href="csv.html">csv</a> files.</p><ul>{items}</ul><h2>Converters</h2><ul>{described}</ul>
    <h2>See Also</h2><p>{" ".join(f'<a href="s{n}.html">see{n}</a>,' for n in range(10))}</p></body></html>"""
    sections = sections_of(page)
    # Then the contents list and the "See Also" go, the paragraph and the described links stay
    assert sections[0] == (
        ("File Formats",),
        "The modules in this chapter parse formats that are not\nmarkup, such as csv files.",
    )
    assert [s[0] for s in sections] == [("File Formats",), ("File Formats", "Converters")]  # no "See Also"
    assert "f9: converts one format to another" in sections[1][1]


def test_a_footnotes_mark_linked_in_sup_is_left_out_and_other_numbers_stay():
    html = """<html><body><p>With some restrictions<a href="#FOOT3" id="DOCF3"><sup>3</sup></a>, calls recurse.
    Sphinx cites<a class="footnote-reference brackets" href="#f1" id="id1">1</a> too; x<sup>2</sup> is a
    square, and see <a href="#sec2">2</a> or page <a href="p3.html"><sup>3</sup></a>.</p></body></html>"""
    assert extract(raw(html, "text/html")).text == (
        "With some restrictions, calls recurse.\nSphinx cites too; x2 is a\nsquare, and see 2 or page 3."
    )


def test_an_id_naming_chrome_on_a_term_keeps_it_and_on_a_division_or_cell_drops_it():
    # Given Texinfo's index anchors on a definition's term and its text ("index-toc", "index-menu"), a division
    # with id "toc" and an older page's navigation cell
    html = """<html><body><h1>Timing</h1><dl><dt id="index-toc">: toc ()</dt><dd id="index-menu">Measure it.</dd>
    </dl><div id="toc"><a href="#a">Timing</a></div><table><tr><td id="navigation"><a href="/">Home</a></td>
    <td>Time is measured in seconds.</td></tr></table></body></html>"""
    assert extract(raw(html, "text/html")).text == ": toc ()\n\nMeasure it.\n\nTime is measured in seconds."


def test_a_table_rows_cells_are_one_line_whatever_blocks_and_line_breaks_they_hold():
    # Given Asciidoctor's cells (a <p> in each), cells on lines of their own, and an empty cell
    html = """<html><body><h1>Keys</h1><table><tr><th><p class="tableblock">Key</p></th>
    <th><p class="tableblock">Effect</p></th></tr>
    <tr><td><p>Shift</p></td>
        <td><p>Add the item</p><p>to the selection.</p></td></tr>
    <tr><td>Ctrl</td><td></td><td>Alt</td></tr></table></body></html>"""
    assert (
        extract(raw(html, "text/html")).text == "Key | Effect\n\nShift | Add the item to the selection.\n\nCtrl | | Alt"
    )


def test_a_page_laid_out_in_a_table_keeps_its_paragraphs():
    # Given a row holding headings, one of more paragraphs than a row of data holds, and one longer than any
    paragraphs = "".join(f"<p>Paragraph {n}.</p>" for n in range(5))
    long = "".join(f"<p>Paragraph {n} of the page, a sentence long.</p>" for n in range(60))
    html = f"""<html><body><table><tr><td><h1>Guide</h1><p>First.</p><p>Second.</p></td></tr>
    <tr><td><a href="/">Home</a></td><td>{paragraphs}</td></tr><tr><td>{long}</td></tr></table></body></html>"""
    text = extract(raw(html, "text/html")).text
    assert text.startswith("First.\n\nSecond.\n\n") and "\n\nParagraph 1.\n\nParagraph 2.\n\n" in text
    assert "\n\nParagraph 1 of the page, a sentence long.\n\n" in text


def test_a_row_holding_code_a_list_or_a_table_keeps_their_lines():
    html = """<html><body><h1>Options</h1><table><tr><td>Install</td><td><pre>make
make install</pre></td></tr><tr><td>Steps</td><td><ul><li>one</li><li>two</li></ul></td></tr>
    <tr><td>opts</td><td>An object:<table><tr><td>timeout</td><td>ms</td></tr><tr><td>retries</td><td>count</td>
    </tr></table></td></tr></table></body></html>"""
    text = extract(raw(html, "text/html")).text
    assert "```\nmake\nmake install\n```" in text and "Steps\n\none\n\ntwo" in text
    assert "timeout | ms\n\nretries | count" in text and "ms | retries" not in text


def test_pdf_sections_carry_their_page_numbers():
    doc = extract(raw(make_pdf(["Only page."]), "application/pdf", "/p.pdf"))
    assert [(s.page, s.anchor) for s in doc.sections] == [(1, None)]


def pdf_texts(*pages: str) -> list[str]:
    """The sections' texts of a PDF whose pages pypdf read as these texts (no outline)."""
    from cdgpt.ingest.extract.pdf_layout import sections

    return [s.text for s in sections(list(enumerate(pages, start=1)), [])]


def test_pdf_words_hyphenated_at_a_lines_end_are_whole_and_compounds_keep_their_hyphen():
    page = (
        "Personal devices and third-party tools are in scope under this policy. Per-\n"
        "sonal devices need a PIN; third-\n"
        "party tools need approval. The policy is available un -\n"
        "der Policies and the office is closed -\n"
        "except on Mondays. Hand it in before the dead-\n"
        "line, then ask for a refresh-\n"
        "ment."
    )
    assert pdf_texts(page) == [
        "Personal devices and third-party tools are in scope under this policy. Personal devices need a PIN; "
        "third-party tools need "
        "approval. The policy is available under Policies and the office is closed - except on Mondays. Hand it in "
        "before the deadline, then ask for a refreshment."
    ]


def test_pdf_lines_lose_ligatures_justified_spaces_and_the_spaces_of_letter_spaced_chinese():
    page = "The \ufb01le is in the of\ufb01ce  and   the \ufb02oor.\n国际出差按照 Finance 部门的标 准 执 行。项目 普通员工 经理"
    assert pdf_texts(page) == [
        "The file is in the office and the floor. 国际出差按照 Finance 部门的标准执行。项目 普通员工 经理"
    ]


def test_words_set_apart_by_offsets_in_a_pdf_font_without_a_space_are_words_and_kerning_joins_letters():
    # TeX's word gap is a third of an em, less when a line is justified tight; its kerning at most 111
    tj = b"(This)-333(document)-250(gives)-222(fr)40(equently)-333(as)-111(ked)-333(ques)-27(tions)"
    doc = extract(raw(spaceless_font_pdf(tj), "application/pdf", "/faq.pdf"))
    assert doc.sections[0].text == "This document gives frequently asked questions"


def test_a_pdf_without_an_outline_takes_its_headings_from_the_sizes_its_lines_are_set_in():
    body = "Book leave in the HR portal at least two weeks ahead of the first day."
    footer = (14, "Brightwheel Components")  # large, but on every page: a running line, not a heading
    pages = [
        [(24, "Employee Handbook"), (16, "Leave and Holidays"), (11, body), (12, "Carrying leave over"),
         (11, "You may carry up to five days into the next year."), footer],
        [(12, "Sick leave"), (11, "Tell your manager before half past nine."), (16, "Expenses and"),
         (16, "Travel"), (11, "Claims are due within thirty days."), footer],
        [(11, "Receipts are kept for six years."), footer],
    ]  # fmt: skip
    doc = extract(raw(sized_pdf(pages), "application/pdf", "/handbook.pdf"))
    assert doc.title == "Employee Handbook"
    top, leave = ("Employee Handbook",), ("Employee Handbook", "Leave and Holidays")
    assert [(s.headings, s.text.split("\n\n")[0]) for s in doc.sections] == [
        (leave, body),
        ((*leave, "Carrying leave over"), "You may carry up to five days into the next year."),
        ((*leave, "Sick leave"), "Tell your manager before half past nine."),  # at the top of page 2
        ((*top, "Expenses and"), "Travel"),  # a heading's second line is its section's first
        ((*top, "Expenses and"), "Receipts are kept for six years."),
    ]


def test_a_pdf_line_in_bold_between_plain_lines_heads_under_the_larger_headings():
    body = "Book hotels through the travel portal at least two weeks ahead of the trip."
    warning = ["ALL BOOKINGS NEED THE APPROVAL OF YOUR MANAGER", "AND OF THE FINANCE TEAM BEFORE YOU PAY"]
    pages = [
        [(16, "Travel Policy"), (11, "Hotels"), (11, body), (11, "Flights"), (11, "Economy class is the rule."),
         (14, "Expenses"), (11, "Receipts"), (11, "Keep them for six years."), (11, warning[0]), (11, warning[1]),
         (11, "Note:"), (11, "Scan them on the day you pay.")],
    ]  # fmt: skip
    pdf = sized_pdf(pages, bold=frozenset(["Hotels", "Flights", "Receipts", *warning, "Note:"]))
    doc = extract(raw(pdf, "application/pdf", "/travel.pdf"))
    assert [(s.headings, s.text.split("\n\n")) for s in doc.sections] == [
        (("Travel Policy", "Hotels"), [body]),
        (("Travel Policy", "Flights"), ["Economy class is the rule."]),
        (
            ("Travel Policy", "Expenses", "Receipts"),  # under the larger heading before it
            ["Keep them for six years.", " ".join(warning) + " Note:", "Scan them on the day you pay."],
        ),
    ]


def test_headings_found_by_size_stay_siblings_and_sentences_or_running_lines_are_none():
    header = (14, "CONFIDENTIAL")  # atop every page, in the chapters' size

    def body(n: int) -> tuple[int, str]:
        words = ["trips", "hotels", "trains", "meals", "taxis", "visas", "flights", "claims", "receipts", "advances"]
        return 11, f"Our {words[n]} are booked through the travel portal, and each of them needs a receipt."

    def chapter(n: int) -> list[tuple[int, str]]:
        return [(12, "Purpose"), body(n), (12, "Scope"), body(n + 1)]

    pages = [
        [header, (20, "Travel Policy"), (12, "Summary"), body(1), (12, "Background"), body(2)],
        [header, (14, "1. Booking"), *chapter(3), (14, "All prices exclude VAT."), body(5)],
        [header, (14, "2. Claims"), *chapter(6)],
        [header, (14, "3. Approval"), *chapter(8)],
    ]  # fmt: skip
    paths = [s.headings for s in extract(raw(sized_pdf(pages), "application/pdf", "/travel.pdf")).sections]
    top = ("Travel Policy",)
    assert paths == [
        (*top, "Summary"), (*top, "Background"),  # the second "Summary"-sized heading is a sibling
        (*top, "1. Booking", "Purpose"), (*top, "1. Booking", "Scope"),  # a sentence is no heading
        (*top, "2. Claims", "Purpose"), (*top, "2. Claims", "Scope"),
        (*top, "3. Approval", "Purpose"), (*top, "3. Approval", "Scope"),
    ]  # fmt: skip


def test_a_heading_found_by_size_with_no_text_under_it_starts_the_next_sections_text():
    body = "The new line opens in May, and the factory hires forty people for it this spring."
    pages = [[(24, "The Bulletin"), (14, "Spring edition"), (18, "Factory news"), (11, body)]]
    (section,) = extract(raw(sized_pdf(pages), "application/pdf", "/bulletin.pdf")).sections
    assert section.headings == ("The Bulletin", "Factory news") and section.text == f"Spring edition\n\n{body}"


def test_a_cover_pages_subtitle_in_a_size_no_later_page_uses_heads_nothing_after_it():
    pages = [
        [(24, "Annual Safety Report"), (16, "Prepared by the Safety Committee"), (11, "For the year to March.")],
        [(14, "1. Incidents"), (11, "Four incidents were reported this year, none of them serious.")],
        [(14, "2. Training"), (11, "Every new starter took the safety induction in the first week.")],
    ]  # fmt: skip
    sections = extract(raw(sized_pdf(pages), "application/pdf", "/report.pdf")).sections
    assert [s.headings for s in sections] == [
        ("Annual Safety Report", "Prepared by the Safety Committee"),
        ("Annual Safety Report", "1. Incidents"),
        ("Annual Safety Report", "2. Training"),
    ]


def test_a_letters_large_date_or_sum_is_no_heading_but_a_heading_may_hold_a_date():
    pages = [
        [(24, "ACME Components Ltd"), (14, "14 March 2025"), (11, "Thank you for your order of forty bearings."),
         (14, "Total due: $5,430.00"), (11, "Please pay within thirty days of this letter."),
         (14, "04/14/2025"), (14, "Amount due: 5,430.00 EUR"), (11, "Our bank details are on the back."),
         (14, "Version 2.3 (14 March 2025)"), (11, "This version adds the spring price list.")],
    ]  # fmt: skip
    sections = extract(raw(sized_pdf(pages), "application/pdf", "/letter.pdf")).sections
    assert [s.headings for s in sections] == [
        ("ACME Components Ltd",),
        ("ACME Components Ltd", "Version 2.3 (14 March 2025)"),
    ]
    assert all(line in sections[0].text for line in ("14 March 2025", "Total due: $5,430.00", "04/14/2025"))


def test_a_footnotes_mark_glued_to_a_word_leaves_it_but_a_word_ending_in_digits_stays():
    body = (
        "Every contract of employment1 starts with probation.2 Mount /dev/sda2 first.\n"
        "年假按工龄计算3，每年至少五天。Then /dev/sda2 again.\n"
    )
    notes = "1 Fixed-term contracts too.\n2 Unless the contract says otherwise.\n3 工龄包括其他公司的年限。"
    assert pdf_texts(body + notes)[0].startswith(
        "Every contract of employment starts with probation. Mount /dev/sda2 first. 年假按工龄计算，每年至少五天。"
    )
    # without notes at the page's end, numbers glued to words are the text's own
    assert pdf_texts("Every contract of employment1 starts with probation.2 More.")[0].startswith(
        "Every contract of employment1"
    )


def test_a_pdfs_table_of_contents_is_left_out_but_a_price_lists_leaders_stay():
    contents = "Contents\n1. Welcome ............ 3\n1.1 Our mission . . . . . . . . 3\n2. Working hours ........ 4\nii"
    prices = "Prices\nCoffee ........ 250\nTea ........ 120\nCake ........ 300"
    assert pdf_texts(contents, "Welcome to Acme.", prices) == [
        "Contents ii",
        "Welcome to Acme.",
        "Prices\n\nCoffee ........ 250 Tea ........ 120 Cake ........ 300",
    ]


def test_a_short_pdfs_page_numbers_and_running_lines_go():
    one = "Policy on gifts\nGifts over 50 pounds are declined.\nPage 1 of 1"
    assert pdf_texts(one) == ["Policy on gifts\n\nGifts over 50 pounds are declined."]
    two = [
        "Acme Policy HR-7\nGifts are declined.\nVersion 2 - page 1",
        "Acme Policy HR-7\nTell your manager.\nVersion 2 - page 2",
    ]
    assert pdf_texts(*two) == ["Gifts are declined.", "Tell your manager."]


def test_a_web_page_saved_as_pdf_loses_the_browsers_header_drawn_after_its_text():
    # A browser draws its header (date, page title) after the page's text, then its footer (address, page).
    pages = [
        "Rotating Text\nYou can only rotate text in a drawing object.\n12/4/26, 4:57 AM Rotating Text\n"
        "file:///help/text_rotate.html 1/2",
        "Drag a corner handle of the object.\n12/4/26, 4:57 AM Rotating Text\nfile:///help/text_rotate.html 2/2",
    ]
    assert pdf_texts(*pages) == [
        "Rotating Text\n\nYou can only rotate text in a drawing object.",
        "Drag a corner handle of the object.",
    ]
    # the third line from an end is text, and so is a line the pages share inside their text
    first, second = "Gifts are declined.", "Tell your manager."
    shared = [f"{text}\nSee the notes below.\nAcme\nPage {n}" for n, text in ((1, first), (2, second))]
    assert pdf_texts(*shared) == [f"{first} See the notes below.", f"{second} See the notes below."]


def outlined_pdf(pages: list[list[str]], entries: list[tuple[str, int, int | None]], title: str | None = None) -> bytes:
    """A PDF of these pages' lines with an outline of (title, page index, parent entry's index or None)."""
    from pypdf import PdfReader, PdfWriter

    pdf = make_pages_pdf([text_stream(lines) for lines in pages], list(range(len(pages))))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    if title:
        writer.add_metadata({"/Title": title})
    added: list = []
    for heading, page, parent in entries:
        added.append(
            writer.add_outline_item(title=heading, page_number=page, parent=None if parent is None else added[parent])
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_without_a_title_of_its_own_takes_its_outlines_heading_over_all_the_others():
    pages = [["Leave and Holidays Policy", "Everyone gets 25 days."], ["Booking", "Book in PeopleHub."]]
    driver = "Microsoft Word - leave.docx"  # a print driver's title, not the document's
    nested = outlined_pdf(pages, [("Leave and Holidays Policy", 0, None), ("Booking", 1, 0)], driver)
    assert extract(raw(nested, "application/pdf", "/leave.pdf")).title == "Leave and Holidays Policy"
    # a first chapter ("Purpose") is no title: the file's name stays
    chapters = outlined_pdf(pages, [("Leave and Holidays Policy", 0, None), ("Booking", 1, None)], driver)
    assert extract(raw(chapters, "application/pdf", "/leave.pdf")).title == "leave"


def test_a_sentence_running_on_to_the_next_pdf_page_ends_on_its_own():
    first = "Talk to your manager first. Together you agree a"
    second = "review date, usually within one month.\nA second rule.\nAnd a third."
    assert pdf_texts(first, second) == [
        "Talk to your manager first. Together you agree a review date, usually within one month.",
        "A second rule. And a third.",
    ]
    assert pdf_texts("The keys are kept in the book-", "keeping office.") == [
        "The keys are kept in the bookkeeping office."
    ]
    # a page ending a sentence, or a next page starting one, moves nothing
    assert pdf_texts("All done.", "review date.") == ["All done.", "review date."]
    assert pdf_texts("We agree a", "Review Board meets.") == ["We agree a", "Review Board meets."]


def test_with_an_outline_a_chapters_running_header_with_its_page_number_leaves_the_text():
    pages = [
        ["Chapter 1: Leave 1", "Leave", "Take it."],
        ["Chapter 1: Leave 2", "Book it early."],
        ["Chapter 2: Pay 3", "Pay", "Paid monthly."],
        ["Chapter 2: Pay 4", "Ask HR."],
        ["Summary", "All in all."],
    ]
    pdf = outlined_pdf(pages, [("Leave", 0, None), ("Pay", 2, None), ("Summary", 4, None)])
    doc = extract(raw(pdf, "application/pdf", "/guide.pdf"))
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Leave",), "Take it."),
        (("Leave",), "Book it early."),
        (("Pay",), "Paid monthly."),
        (("Pay",), "Ask HR."),
        (("Summary",), "All in all."),
    ]


def test_a_short_capitalised_line_before_a_capitalised_one_is_a_pdf_heading_of_its_own():
    page = (
        "Access control\n"
        "Access to information assets is granted on the principle of least privilege, to every\n"
        "employee who needs it. The keys are\n"
        "kept in the office. Dear Sam,\n"
        "Thank you for the letter."
    )
    assert pdf_texts(page) == [
        "Access control\n\nAccess to information assets is granted on the principle of least privilege, to every "
        "employee who needs it. The keys are kept in the office. Dear Sam, Thank you for the letter."
    ]
