"""The pure half of ``staticwrap build``: which file a written reference names,
the content-hashed name of a file, and the order in which files can be hashed.

No I/O: the tree is given as a set of logical names (``/``-separated paths
relative to the source directory).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple
from urllib.parse import quote, unquote

from .errors import StaticwrapError

#: Hex characters of the SHA-256 put into a hashed name: 48 bits, so that two
#: versions of one file collide with probability 2**-48.
HASH_LENGTH = 12

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_ENCODED_SEPARATOR = re.compile(r"%2[Ff]|%5[Cc]")


class Target(NamedTuple):
    """A reference that names a file of the tree."""

    name: str  # the logical name of the file referred to
    path: str  # the path part as written (percent-encoded as in the source)
    suffix: str  # the "?query" and "#fragment" as written, kept on rewriting


class Skip(NamedTuple):
    """A reference that is not a file of this tree, and why; it is left as written."""

    reason: str


class Missing(NamedTuple):
    """A reference that looks like a file of the tree but names none."""

    name: str


Resolution = Target | Skip | Missing


def resolve(value: str, source: str, names: Collection[str], *, prefix: str = "/", module: bool = False) -> Resolution:
    """Resolve a reference written in the file ``source`` against the tree ``names``.

    :param value: the reference, unescaped from its CSS/JS syntax (still a URL).
    :param prefix: the URL prefix the tree is served at; an absolute path is
        resolved only under it.
    :param module: true for ES module specifiers, where a bare name
        (``"preact"``) is a package, not a path (only ``/``, ``./`` and
        ``../`` begin paths there).
    """
    if not value or value.startswith("#"):
        return Skip("a fragment of the document itself")
    if value.startswith("//"):
        return Skip("a network-path reference (another host)")
    if _SCHEME.match(value):
        return Skip("an absolute URL (data:, http:, ...)")
    if module and not value.startswith(("/", "./", "../")):
        return Skip("a bare module specifier (a package name)")
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    path, suffix = value[:cut], value[cut:]
    if _ENCODED_SEPARATOR.search(path):
        # RFC 3986 §2.2 makes %2F data, not a separator, but servers decode
        # it into one: what the reference names depends on the server.
        return Skip("an encoded '/' or '\\' in the path, which servers read differently")
    decoded = unquote(path)
    if decoded.startswith("/"):
        if not decoded.startswith(prefix):
            return Skip(f"an absolute path outside the prefix {prefix}")
        joined = decoded[len(prefix) :]
    else:
        joined = posixpath.join(posixpath.dirname(source), decoded)
    name = posixpath.normpath(joined)
    if name.startswith("../") or name == ".." or name == ".":
        return Missing(name)
    if name in names:
        return Target(name, path, suffix)
    return Missing(name)


def hashed_name(name: str, digest: str) -> str:
    """``css/app.css`` → ``css/app.<digest>.css``; a name without extension gets ``.<digest>``.

    The hash goes before the last extension so that the media type, found by
    extension, stays the same.
    """
    directory, base = posixpath.split(name)
    stem, dot, extension = base.rpartition(".")
    new_base = f"{stem}.{digest}.{extension}" if dot and stem else f"{base}.{digest}"
    return posixpath.join(directory, new_base)


# The last segment of a name hashed_name gives a file with an extension:
# ``<stem>.<HASH_LENGTH hex>.<extension>``. Matched against that segment
# alone, from its start: one pass back from its end, whatever the path.
_HASHED_SEGMENT = re.compile(rf"[^/]+\.[0-9a-f]{{{HASH_LENGTH}}}\.[^./]+")


def looks_hashed(path: str) -> bool:
    """Whether the last segment of ``path`` has the shape :func:`hashed_name` gives: ``app.<12 hex>.js``."""
    return _HASHED_SEGMENT.fullmatch(path, path.rfind("/") + 1) is not None


def rewritten_path(target: Target, digest: str) -> str:
    """The reference to write in place of ``target``, pointing at its hashed name.

    The directory part, the query and the fragment stay as written; in the
    file name the hash is inserted the way :func:`hashed_name` does, so a
    percent-encoded or relative reference keeps its form. Should the written
    name not decode to the expected one (an encoded dot, say), the hashed name
    is written percent-encoded instead.
    """
    head, slash, written = target.path.rpartition("/")
    expected = posixpath.basename(hashed_name(target.name, digest))
    new_base = posixpath.basename(hashed_name(written, digest))
    if unquote(new_base) != expected:
        new_base = quote(expected, safe="!$&'()*+,;=:@~")
    return head + slash + new_base + target.suffix


class CycleError(StaticwrapError):
    """Files refer to each other in a loop, so no order lets each name hash its dependencies' final names."""


def dependency_order(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Order ``nodes`` so that each comes after every node it depends on.

    Raises :class:`CycleError` naming the files of a cycle in reference order.
    Iterative depth-first search: deep reference chains do not hit the
    recursion limit.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(nodes):
        if state.get(start) == 2:
            continue
        path = [start]
        stack = [iter(sorted(set(edges.get(start, ()))))]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
                continue
            if state.get(child) == 1:
                cycle = [*path[path.index(child) :], child]
                raise CycleError("reference cycle: " + " -> ".join(cycle))
            if state.get(child) == 2:
                continue
            state[child] = 1
            path.append(child)
            stack.append(iter(sorted(set(edges.get(child, ())))))
    return order


def acyclic_soft_edges(edges: Mapping[str, Iterable[str]], soft: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The ``soft`` edges that can join ``edges`` without making a cycle, in the form of ``edges``.

    A source map's ``sources`` are soft: naming a shipped source by its
    hashed name is good, but a map that lists the very file it belongs to
    (PostCSS writes ``bootstrap.css`` into ``bootstrap.css.map``) cannot name
    that file's hashed name, which depends on the map's own name through
    ``sourceMappingURL``. Such an edge is dropped and its source left as
    written. Soft edges are tried in name order, each kept unless its target
    already leads back to its origin, so the result is the same on every run.
    ``edges`` itself is assumed free of cycles (see :func:`dependency_order`).
    """
    graph = {node: set(targets) for node, targets in edges.items()}
    kept: dict[str, list[str]] = {}
    for origin in sorted(soft):
        for target in sorted(set(soft[origin])):
            if target == origin or _reaches(graph, target, origin):
                continue
            graph.setdefault(origin, set()).add(target)
            kept.setdefault(origin, []).append(target)
    return kept


def _reaches(graph: Mapping[str, Iterable[str]], start: str, goal: str) -> bool:
    seen = {start}
    stack = [start]
    while stack:
        for child in graph.get(stack.pop(), ()):
            if child == goal:
                return True
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return False
