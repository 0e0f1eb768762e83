"""What one document may cost: pages, characters of text, chunks and CPU time. Past any of them it is skipped."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from cdgpt.errors import SourceFailed


@dataclass(frozen=True)
class Limits:
    pages: int = sys.maxsize
    chars: int = sys.maxsize
    chunks: int = sys.maxsize
    cpu_s: float = float("inf")


@dataclass
class Budget:
    """One document's spending against its limits; extraction and chunking check it as they go."""

    limits: Limits = field(default_factory=Limits)
    chars: int = 0
    started: float = field(default_factory=time.thread_time)  # CPU time of this thread: the document's own work

    @property
    def over_time(self) -> str:
        return f"more than {self.limits.cpu_s:g} s of CPU time to extract (CDGPT_MAX_DOCUMENT_SECONDS)"

    def check_time(self) -> None:
        if time.thread_time() - self.started > self.limits.cpu_s:
            raise SourceFailed(self.over_time)

    def check_pages(self, pages: int) -> None:
        if pages > self.limits.pages:
            raise SourceFailed(f"more than {self.limits.pages} pages (CDGPT_MAX_DOCUMENT_PAGES)")

    def spend(self, chars: int) -> None:
        """Count text as it comes, against the characters and the CPU time."""
        self.chars += chars
        self.check_chars(self.chars)
        self.check_time()

    def check_chars(self, total: int) -> None:
        """Check the document's text as a whole (spend counts it as it comes)."""
        if total > self.limits.chars:
            raise SourceFailed(f"more than {self.limits.chars} characters of text (CDGPT_MAX_DOCUMENT_CHARS)")

    def check_chunks(self, chunks: int) -> None:
        if chunks > self.limits.chunks:
            raise SourceFailed(f"more than {self.limits.chunks} chunks (CDGPT_MAX_DOCUMENT_CHUNKS)")
