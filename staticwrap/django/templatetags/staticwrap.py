"""``{% load staticwrap %}``: static URLs with their Subresource Integrity values.

- ``{% static_integrity "css/app.css" %}``: the ``sha384-...`` value, or nothing;
- ``{% stylesheet "css/app.css" %}``: ``<link rel="stylesheet" href="..." integrity="..." crossorigin="anonymous">``;
- ``{% script "js/app.js" type="module" %}``: the same attributes on a ``<script src="...">`` element.

Keyword arguments become attributes (``data_id="x"`` is ``data-id="x"``;
``True`` gives a bare attribute, ``False`` or ``None`` none). Every value is
HTML-escaped, even a template's string literal, which Django treats as safe
HTML. The integrity attributes are left out when the storage has no SRI value
for the file, as with ``DEBUG``, where the link is to the source.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import template
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def integrity(path: str) -> str | None:
    """The SRI value of ``path`` from the staticfiles storage (``None`` if it has none, or is not ours)."""
    getter = getattr(staticfiles_storage, "integrity", None)
    value = getter(path) if callable(getter) else None
    return value if isinstance(value, str) else None


@register.simple_tag
def static_integrity(path: str) -> str:
    """The ``integrity`` value of the static file ``path``, or an empty string."""
    return integrity(path) or ""


@register.simple_tag
def stylesheet(path: str, **attributes: object) -> SafeString:
    """A ``<link rel="stylesheet">`` to the static file ``path``, with its SRI value."""
    return element("link", {"rel": "stylesheet", "href": static(path), **_sri(path), **attributes})


@register.simple_tag
def script(path: str, **attributes: object) -> SafeString:
    """A ``<script>`` loading the static file ``path``, with its SRI value."""
    return element("script", {"src": static(path), **_sri(path), **attributes}, close=True)


def element(name: str, attributes: Mapping[str, object], *, close: bool = False) -> SafeString:
    """An HTML start tag (and end tag when ``close``) with escaped attribute values."""
    parts = [format_html("<{}", name)]
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        attribute = key.replace("_", "-")
        if value is True:
            parts.append(format_html(" {}", attribute))
        else:
            # escape(), not conditional_escape(): a template's string literal
            # is "safe" HTML, but an attribute value is text, whose quotes
            # must not end the attribute.
            parts.append(format_html(' {}="{}"', attribute, escape(str(value))))
    parts.append(format_html("></{}>", name) if close else mark_safe(">"))
    # Each part was escaped by format_html.
    return mark_safe("".join(parts))


def _sri(path: str) -> dict[str, object]:
    value = integrity(path)
    if value is None:
        return {}
    # SRI on a cross-origin resource needs a CORS request (a STATIC_URL on a CDN).
    return {"integrity": value, "crossorigin": "anonymous"}
