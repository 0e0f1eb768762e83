"""XML from untrusted documents and sites: no entity expansion, no DTD loading, no network, no huge trees.

libxml2 (under lxml) then refuses nesting deeper than 256 levels and entity amplification on its own.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cdgpt.errors import SourceFailed


def parse_xml(data: bytes, what: str) -> Any:
    """The root element of `data`; `what` names it in the reason when it cannot be parsed."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        message = str(exc).lower()
        if "depth" in message:
            raise SourceFailed(f"{what} is nested more than 256 levels deep") from exc
        if "amplification" in message:
            raise SourceFailed(f"{what} declares entities that expand too much") from exc
        raise SourceFailed(f"{what} is damaged (not well-formed XML)") from exc
    for entity in list(root.iter(etree.Entity)):  # left unexpanded: the text after it stays, in its place
        _remove_keeping_tail(entity)
    return root


def _remove_keeping_tail(node: Any) -> None:
    parent, before = node.getparent(), node.getprevious()
    if parent is None:
        return
    if before is not None:
        before.tail = (before.tail or "") + (node.tail or "")
    else:
        parent.text = (parent.text or "") + (node.tail or "")
    parent.remove(node)


def local(element: Any) -> str:
    """An element's tag without its namespace ('' for an unexpanded entity reference)."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def attr(element: Any, name: str) -> str | None:
    """The attribute called `name`, with or without a namespace (w:val and val alike)."""
    for key, value in element.attrib.items():
        if key == name or key.endswith("}" + name):
            return str(value)
    return None


def children(element: Any, name: str) -> list[Any]:
    """Direct children whose tag, without its namespace, is `name`."""
    return [child for child in element if local(child) == name]


def child(element: Any, name: str) -> Any | None:
    return next((c for c in element if local(c) == name), None)


def rel_id(element: Any) -> str | None:
    """An OOXML relationship id (r:id), told apart from a plain `id` attribute."""
    return next((str(v) for k, v in element.attrib.items() if k.endswith("}id")), None)
