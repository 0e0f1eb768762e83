"""Generate a synthetic company intranet for retrieval benchmarks.

Writes N HTML knowledge-base pages for the fictional "Larkmoor Instruments",
an ``index.html`` linking them, and ``questions.jsonl`` with one question per
page about a fact that appears on that page only. Output is fully determined
by ``--pages`` and ``--seed`` (standard library only).

    python benchmarks/make_site.py OUT_DIR [--pages N] [--seed S]
"""

import argparse
import html
import json
import random
from pathlib import Path

COMPANY = "Larkmoor Instruments"
PREFIXES = [
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Rook",
    "Sable",
    "Tundra",
    "Umber",
    "Vesper",
    "Willow",
    "Zephyr",
]
NOUNS = [
    "Gateway",
    "Sensor Array",
    "Flow Meter",
    "Controller",
    "Data Logger",
    "Calibrator",
    "Pressure Probe",
    "Telemetry Hub",
    "Test Rig",
    "Field Tablet",
    "Spectrometer",
    "Scheduler",
    "Label Printer",
    "Ledger",
]
TOPICS = [
    "Firmware Rollout Procedure",
    "Support Runbook",
    "Installation Guide",
    "Calibration Checklist",
    "Incident Response Playbook",
    "Release Notes Summary",
    "Maintenance Handbook",
    "Onboarding Notes",
    "Security Review",
    "Troubleshooting Guide",
    "Capacity Planning Notes",
    "Vendor Escalation Process",
]
SECTIONS = [
    "Overview",
    "Scope and Audience",
    "Prerequisites",
    "Step-by-Step Procedure",
    "Monitoring and Alerts",
    "Troubleshooting",
    "Known Issues",
    "Ownership and Contacts",
    "Security Considerations",
    "Rollback Plan",
    "Testing and Validation",
    "Change History",
    "Frequently Asked Questions",
]
SUBHEADS = [
    "Before you start",
    "Common pitfalls",
    "Worked example",
    "Who to involve",
    "Checklist",
    "Edge cases",
    "Useful commands",
    "Notes from the field",
    "Timing",
    "Escalation path",
]
TEAMS = [
    "Field Engineering",
    "Platform Operations",
    "Quality Assurance",
    "Customer Success",
    "Firmware",
    "Data Services",
    "Procurement",
    "the Service Desk",
    "Manufacturing Support",
    "Information Security",
]
TOOLS = [
    "Trackline",
    "the Larkmoor portal",
    "Conduit",
    "the asset register",
    "Pulseboard",
    "the build farm",
    "Keystone",
    "the shared runbook library",
    "Waypoint",
    "the calibration database",
]
METRICS = [
    "error rate",
    "mean time to repair",
    "queue depth",
    "battery drain",
    "sync latency",
    "calibration drift",
    "ticket backlog",
    "uptime",
    "packet loss",
    "warm-up time",
]
SITES = [
    "the Aberholt plant",
    "the Ravensby depot",
    "the Coldwater lab",
    "the Estley warehouse",
    "the Northgate office",
    "customer sites in the eastern region",
]
PEOPLE = [
    "Amara Okafor",
    "Bram Lindqvist",
    "Chiara Venn",
    "Dov Hartmann",
    "Elif Sarıgül",
    "Farid Mansour",
    "Greta Holm",
    "Hiro Tanabe",
    "Ines Carvalho",
    "Jonah Pell",
    "Kalinda Rowe",
    "Luca Berti",
    "Maren Strand",
    "Nikhil Rao",
    "Orla Quinn",
    "Pavel Dudek",
    "Rosa Imbert",
    "Soren Vale",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

SENTENCES = [
    "The {product} is used by {team} at {site} for day-to-day measurements.",
    "Before making any change to the {product}, check the latest entry in {tool}.",
    "In the last quarter the {metric} of the {product} improved by {pct}% after a configuration review.",
    "{team} reviews this page every {months} months and records the outcome in {tool}.",
    "If the {metric} stays outside its normal range for more than {mins} minutes, an alert is raised automatically.",
    "Most problems reported at {site} were traced back to outdated firmware rather than faulty hardware.",
    "Keep a written note of every step you take, because {team} will ask for it during the review.",
    "The {product} shares a configuration template with the {other}, so coordinate changes with both owners.",
    "A typical run takes about {mins} minutes, although older units at {site} can take twice as long.",
    "Do not skip the validation step, even when the {product} appears to be working normally.",
    "Spare parts are held at {site}, and requests are tracked in {tool}.",
    "When in doubt, pause the work and contact {team} before continuing.",
    "Roughly {pct}% of tickets in this area are resolved on first contact.",
    "Version {ver} introduced a new diagnostic screen that makes this task considerably easier.",
    "Non-urgent changes are batched into a monthly release rather than applied one by one.",
    "{person} from {team} maintains the reference configuration and answers questions about it.",
    "Readings from the {product} are copied to {tool} every {mins} minutes for long-term analysis.",
    "Customers at {site} asked for clearer documentation, which is one reason this page exists.",
    "Compare the {metric} against the baseline recorded during installation, not against other units.",
    "Remember that the {other} behaves differently, so the same shortcut will not work there.",
    "Each completed job must be signed off in {tool} by a second engineer.",
    "Lessons from past incidents have been folded into the checklist on this page.",
    "New staff are trained on this topic during their first {weeks} weeks.",
    "If a unit fails the check twice, it is quarantined and sent to {site} for inspection.",
    "A short summary of each session is posted in {tool} so that the next shift can pick up where you left off.",
    "Older units may still run version {ver}; upgrade them before following the steps below.",
    "The {metric} tends to rise in cold weather, so winter readings need a little more care.",
    "{team} and {team2} share responsibility here, which occasionally causes confusion about who acts first.",
    "If the {product} reports an unfamiliar error, take a screenshot before restarting anything.",
    "Allow at least {mins} minutes of quiet time after a restart before you trust the readings.",
    "Audit findings from last year asked us to document this step more precisely.",
    "The vendor recommends a full inspection every {months} months, and we follow that advice.",
    "Field reports suggest that a loose connector causes more faults than any software problem.",
    "Ask {person} for access to {tool} if you cannot see the relevant records.",
    "Where the {other} is installed alongside the {product}, label the cables clearly to avoid mix-ups.",
    "About {pct}% of units at {site} were replaced during the last refresh cycle.",
]
FACTS = [  # (statement on the page, question asked about it)
    (
        "The escalation code for the {product} is {code}; quote it whenever you contact the vendor.",
        "What is the escalation code for the {product}?",
    ),
    (
        "Urgent support for the {product} is handled by the on-call desk on extension {ext}.",
        "Which phone extension handles urgent support for the {product}?",
    ),
    (
        "The {product} is owned by {owner}, who must approve every configuration change to it.",
        "Who owns the {product} and approves its configuration changes?",
    ),
    (
        "Planned maintenance on the {product} takes place every {day} at {hour}:00 UTC.",
        "When does planned maintenance on the {product} take place?",
    ),
]


def make_products(rng, n):
    """Return n distinct product names in a seed-dependent order."""
    names = [f"{p} {q}" for p in PREFIXES for q in NOUNS]
    rng.shuffle(names)
    series = 2
    while len(names) < n:  # very large sites: add model numbers
        names += [f"{p} {q} Mk{series}" for p in PREFIXES for q in NOUNS]
        series += 1
    return names[:n]


def sentence(rng, deck, product, others):
    """Draw the next template from a per-page shuffled deck, so repeats are rare."""
    if not deck:
        deck.extend(rng.sample(SENTENCES, len(SENTENCES)))
    team, team2 = rng.sample(TEAMS, 2)
    return deck.pop().format(
        product=product,
        other=rng.choice(others),
        team=team,
        team2=team2,
        tool=rng.choice(TOOLS),
        metric=rng.choice(METRICS),
        site=rng.choice(SITES),
        person=rng.choice(PEOPLE),
        pct=rng.randint(3, 40),
        mins=rng.randint(5, 90),
        weeks=rng.randint(1, 6),
        months=rng.randint(3, 12),
        ver=f"{rng.randint(1, 9)}.{rng.randint(0, 12)}",
    )


def make_fact(rng, product):
    statement, question = rng.choice(FACTS)
    slots = {
        "product": product,
        "code": f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randint(100, 999)}-"
        f"{rng.choice('KLMNPQRSTVWXZ')}{rng.randint(10, 99)}",
        "ext": rng.randint(4000, 7999),
        "owner": rng.choice(PEOPLE),
        "day": rng.choice(WEEKDAYS),
        "hour": f"{rng.randint(0, 23):02d}",
    }
    return statement.format(**slots), question.format(**slots)


def chrome(title, body):
    nav = "".join(
        f'<a href="{h}">{t}</a> '
        for h, t in [("index.html", "Home"), ("#", "Teams"), ("#", "Policies"), ("#", "Service Desk"), ("#", "Search")]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
        f" | {COMPANY} Knowledge Base</title>\n<style>body{{font-family:sans-serif;max-width:50rem}}"
        f" nav a{{margin-right:1em}}</style>\n<script>window.kbTrack=function(p){{return p}};"
        f"kbTrack(location.pathname);</script>\n</head>\n<body>\n<nav>{nav}</nav>\n"
        f"<header><p>{COMPANY} &middot; Internal Knowledge Base</p></header>\n<main>\n{body}</main>\n"
        f"<footer><p>&copy; {COMPANY}. Internal use only. Report a problem with this page to the"
        f" Service Desk.</p></footer>\n</body>\n</html>\n"
    )


def make_page(rng, title, product, others):
    """Return (html, question) for one page."""
    n_sections = rng.randint(3, 8)
    paras = [rng.randint(2, 5) for _ in range(n_sections)]
    budget = rng.randint(580, 1260) / sum(paras)  # target words per paragraph
    fact, question = make_fact(rng, product)
    fact_sec = rng.randrange(n_sections)
    fact_at = (fact_sec, rng.randrange(paras[fact_sec]))
    headings = rng.sample(SECTIONS, n_sections)
    deck = []
    parts = [f"<h1>{html.escape(title)}</h1>\n"]
    for s, (heading, n_paras) in enumerate(zip(headings, paras, strict=False)):
        parts.append(f"<section>\n<h2>{heading}</h2>\n")
        for p in range(n_paras):
            if p and rng.random() < 0.35:
                parts.append(f"<h3>{rng.choice(SUBHEADS)}</h3>\n")
            sents = [sentence(rng, deck, product, others) for _ in range(2)]
            while sum(len(x.split()) for x in sents) < budget - 8 and len(sents) < 12:
                sents.append(sentence(rng, deck, product, others))
            if (s, p) == fact_at:
                sents.insert(rng.randrange(len(sents) + 1), fact)
            parts.append(f"<p>{html.escape(' '.join(sents))}</p>\n")
        parts.append("</section>\n")
    return chrome(title, "".join(parts)), question


def build(out_dir, pages=200, seed=7):
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    products = make_products(rng, pages)
    width = max(3, len(str(pages)))
    links, questions = [], []
    for i, product in enumerate(products, start=1):
        name = f"page-{i:0{width}d}.html"
        title = f"{product}: {rng.choice(TOPICS)}"
        others = [p for p in rng.sample(products, min(4, len(products))) if p != product] or [product]
        page, question = make_page(rng, title, product, others)
        (out / name).write_text(page, encoding="utf-8")
        links.append(f'<li><a href="{name}">{html.escape(title)}</a></li>\n')
        questions.append({"question": question, "expected_source": name})
    index = "<h1>Knowledge Base Index</h1>\n<ul>\n" + "".join(links) + "</ul>\n"
    (out / "index.html").write_text(chrome("Knowledge Base Index", index), encoding="utf-8")
    with open(out / "questions.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    return len(products)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", help="folder to write the pages into (created if missing)")
    ap.add_argument("--pages", type=int, default=200, help="number of pages (default 200)")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = ap.parse_args(argv)
    if args.pages < 1:
        ap.error("--pages must be at least 1")
    n = build(args.out_dir, args.pages, args.seed)
    print(f"wrote {n} pages, index.html and questions.jsonl to {args.out_dir}")


if __name__ == "__main__":
    main()
