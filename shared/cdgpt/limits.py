"""Bounds on untrusted input, in one place (the API's request models and the domain both use them), and
the CPUs this process may use."""

import os

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
MAX_SOURCES = 5000  # file_list entries in one training
MAX_DOCUMENTS = 20000  # documents in one training, prefixes and folders expanded (in one shard, when sharded)
MAX_SHARDED_DOCUMENTS = 200_000  # documents in one sharded training
MAX_SHARDS = 10_000  # shards of one training (Step Functions collects an empty result from each)
MAX_ENTRY_CHARS = 2048  # one file_list entry
MAX_PROMPT_CHARS = 20000
MAX_QUESTION_CHARS = 4000
MAX_HISTORY_ITEMS = 200
MAX_HISTORY_ITEM_CHARS = 20000
MAX_HISTORY_CHARS = 500_000  # the history is echoed back: keep the reply far below Lambda's 6 MB
MAX_WAIT_SECONDS = 25  # a training answers before API Gateway's 29 s integration timeout

# Packaged documents (Office, OpenDocument, EPUB: zip files of XML) and tabular data
MAX_ARCHIVE_MEMBERS = 10_000  # files inside one zip
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024  # their declared sizes together (zipfile stops each member at its own)
MAX_ARCHIVE_RATIO = 100  # unpacked / packed, checked once the unpacked size passes 16 MB
MAX_STYLES_BYTES = 8 * 1024 * 1024  # a workbook's styles part: openpyxl makes ~100 bytes of objects of each byte
MAX_CHAPTER_BYTES = 20 * 1024 * 1024  # an EPUB chapter, parsed as a web page is: no larger than one may be
MAX_XML_PART_BYTES = 64 * 1024 * 1024  # one XML part parsed into a tree (lxml also stops at 256 levels)
MAX_TABLE_ROWS = 100_000  # rows of one sheet, CSV or JSON document
MAX_TABLE_COLUMNS = 500
MAX_TABLE_CELLS = 2_000_000  # cells of one document, all sheets together

# Crawling (an entry {"url": ..., "crawl": {...}}, or a sitemap)
MAX_CRAWL_PAGES = 5000  # pages one crawl entry may fetch
MAX_CRAWL_DEPTH = 20
MAX_CRAWL_BYTES = 512 * 1024 * 1024  # a crawl stops once it fetched this much
HELD_CRAWL_BYTES = 64 * 1024 * 1024  # of them, held until indexed; later pages are fetched again in their turn
MAX_SITEMAP_URLS = 50_000  # in one sitemap file, as the protocol allows
MAX_SITEMAP_FILES = 100  # sitemaps read through sitemap indexes
MAX_LINKS_PER_PAGE = 5000
HOST_CONCURRENCY = 4  # requests in flight to one host while crawling


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or a Lambda's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no affinity call
        return os.cpu_count() or 1
