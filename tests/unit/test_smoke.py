from cdgpt.ingest.sources import load_entry
from cdgpt.settings import get_settings


def test_local_url_is_refused_by_default_and_served_when_allowed(web, monkeypatch):
    url = web.add("/a.html", "<html><title>A</title><body><p>Alpha text.</p></body></html>")
    import pytest

    from cdgpt.errors import SourceRefused

    with pytest.raises(SourceRefused):
        load_entry(url, get_settings())
    assert web.hits == []  # refused before any connection
    monkeypatch.setenv("CDGPT_ALLOW_PRIVATE_URLS", "1")
    get_settings.cache_clear()
    [doc] = load_entry(url, get_settings())
    assert b"Alpha" in doc.content
