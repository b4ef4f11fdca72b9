"""The pure half of the build (staticwrap/resolve.py): resolving references, hashed names, dependency order.

Expected values come from RFC 3986 (relative resolution, §5.2; schemes, §3.1;
network-path references, §4.2), from the WHATWG HTML rules for ES module
specifiers (only "/", "./" and "../" begin a path), and from the hashed-name
rule of the build's documentation: 12 hex characters before the last extension.
"""

from __future__ import annotations

import itertools
import re

import pytest

from staticwrap.errors import StaticwrapError
from staticwrap.resolve import (
    HASH_LENGTH,
    CycleError,
    Missing,
    Resolution,
    Skip,
    Target,
    acyclic_soft_edges,
    dependency_order,
    hashed_name,
    resolve,
    rewritten_path,
)

DIGEST = "0123456789ab"

#: The tree every resolve() case is looked up in.
TREE = frozenset(
    {
        "app.css",
        "css/app.css",
        "css/base.css",
        "css/a.png",
        "css/deep/x.css",
        "css/my image.png",
        "css/café.png",
        "css/100%.png",
        "img/a.png",
        "img/icons.svg",
        "js/main.js",
        "js/util.js",
        "js/preact",
        "lib/z.js",
        "fonts/f.woff2",
    }
)


# -- resolve: references that name a file of the tree ------------------------------------


@pytest.mark.parametrize(
    ("value", "source", "prefix", "expected"),
    [
        pytest.param("a.png", "css/app.css", "/", Target("css/a.png", "a.png", ""), id="relative-sibling"),
        pytest.param("./a.png", "css/app.css", "/", Target("css/a.png", "./a.png", ""), id="dot-slash"),
        pytest.param("../img/a.png", "css/app.css", "/", Target("img/a.png", "../img/a.png", ""), id="parent"),
        pytest.param(
            "../../img/a.png", "css/deep/x.css", "/", Target("img/a.png", "../../img/a.png", ""), id="two-levels-up"
        ),
        pytest.param("deep/x.css", "css/app.css", "/", Target("css/deep/x.css", "deep/x.css", ""), id="subdirectory"),
        pytest.param("img/a.png", "app.css", "/", Target("img/a.png", "img/a.png", ""), id="from-top-level"),
        pytest.param(
            "../css/./deep/../a.png", "img/x.css", "/", Target("css/a.png", "../css/./deep/../a.png", ""), id="dots"
        ),
        pytest.param("/img/a.png", "css/app.css", "/", Target("img/a.png", "/img/a.png", ""), id="absolute-root"),
        pytest.param(
            "/static/img/a.png",
            "css/app.css",
            "/static/",
            Target("img/a.png", "/static/img/a.png", ""),
            id="absolute-under-prefix",
        ),
        pytest.param(
            "/assets/v1/js/util.js",
            "js/main.js",
            "/assets/v1/",
            Target("js/util.js", "/assets/v1/js/util.js", ""),
            id="absolute-under-deep-prefix",
        ),
    ],
)
def test_resolve_target(value: str, source: str, prefix: str, expected: Target) -> None:
    assert resolve(value, source, TREE, prefix=prefix) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("../img/a.png?v=3", Target("img/a.png", "../img/a.png", "?v=3"), id="query"),
        pytest.param("../img/icons.svg#home", Target("img/icons.svg", "../img/icons.svg", "#home"), id="fragment"),
        pytest.param(
            "../fonts/f.woff2?v=4#iefix",
            Target("fonts/f.woff2", "../fonts/f.woff2", "?v=4#iefix"),
            id="query-and-fragment",
        ),
        # RFC 3986 §3.5: the fragment runs to the end, a "?" inside it included.
        pytest.param(
            "../img/icons.svg#a?b", Target("img/icons.svg", "../img/icons.svg", "#a?b"), id="question-in-fragment"
        ),
        pytest.param("a.png?", Target("css/a.png", "a.png", "?"), id="empty-query"),
        pytest.param("a.png#", Target("css/a.png", "a.png", "#"), id="empty-fragment"),
    ],
)
def test_resolve_keeps_query_and_fragment_in_suffix(value: str, expected: Target) -> None:
    assert resolve(value, "css/app.css", TREE) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("my%20image.png", Target("css/my image.png", "my%20image.png", ""), id="space"),
        pytest.param("caf%C3%A9.png", Target("css/café.png", "caf%C3%A9.png", ""), id="utf8"),
        pytest.param("café.png", Target("css/café.png", "café.png", ""), id="raw-non-ascii"),
        pytest.param("100%25.png", Target("css/100%.png", "100%25.png", ""), id="percent-sign"),
        pytest.param("%61.png", Target("css/a.png", "%61.png", ""), id="encoded-unreserved"),
    ],
)
def test_resolve_percent_encoded(value: str, expected: Target) -> None:
    assert resolve(value, "css/app.css", TREE) == expected


# -- resolve: references left as written -----------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("#frag", id="fragment-only"),
        pytest.param("#", id="bare-hash"),
        pytest.param("data:image/png;base64,iVBORw0KGgo=", id="data"),
        pytest.param("http://example.com/img/a.png", id="http"),
        pytest.param("https://example.com/img/a.png", id="https"),
        pytest.param("HTTPS://EXAMPLE.COM/img/a.png", id="scheme-upper-case"),
        pytest.param("mailto:someone@example.com", id="mailto"),
        pytest.param("blob:https://example.com/1234", id="blob"),
        pytest.param("chrome-extension://abc/x.png", id="scheme-with-dash"),
        pytest.param("//cdn.example.com/img/a.png", id="network-path"),
        pytest.param("//img/a.png", id="network-path-looking-local"),
    ],
)
def test_resolve_skips_non_file_references(value: str) -> None:
    assert isinstance(resolve(value, "css/app.css", TREE), Skip)


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        pytest.param("/img/a.png", "/static/", id="root-not-under-prefix"),
        pytest.param("/staticx/img/a.png", "/static/", id="prefix-is-a-path-segment"),
        pytest.param("/other/img/a.png", "/static/", id="another-directory"),
    ],
)
def test_resolve_skips_absolute_path_outside_prefix(value: str, prefix: str) -> None:
    assert isinstance(resolve(value, "css/app.css", TREE, prefix=prefix), Skip)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("preact", id="package"),
        pytest.param("util.js", id="looks-like-a-file"),
        pytest.param("@scope/pkg/index.js", id="scoped-package"),
        pytest.param("lodash-es/debounce", id="package-subpath"),
    ],
)
def test_resolve_bare_specifier_skipped_in_module(value: str) -> None:
    assert isinstance(resolve(value, "js/main.js", TREE, module=True), Skip)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Outside a module a bare name is a relative URL (CSS url(), source maps).
        pytest.param("util.js", Target("js/util.js", "util.js", ""), id="relative-file"),
        pytest.param("preact", Target("js/preact", "preact", ""), id="extensionless-file"),
    ],
)
def test_resolve_bare_name_is_relative_outside_module(value: str, expected: Target) -> None:
    assert resolve(value, "js/main.js", TREE, module=False) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("./util.js", Target("js/util.js", "./util.js", ""), id="dot-slash"),
        pytest.param("../lib/z.js", Target("lib/z.js", "../lib/z.js", ""), id="dot-dot-slash"),
        pytest.param("/js/util.js", Target("js/util.js", "/js/util.js", ""), id="absolute"),
    ],
)
def test_resolve_module_paths_resolved(value: str, expected: Target) -> None:
    assert resolve(value, "js/main.js", TREE, module=True) == expected


@pytest.mark.parametrize("value", ["..%2F..%2Fa.png", "..%2fimg%2fa.png", "img%5Ca.png", "img%5ca.png"])
def test_resolve_encoded_separator_is_left_alone(value: str) -> None:
    # RFC 3986 §2.2: %2F is data; servers decode it to "/", so the target is ambiguous.
    assert isinstance(resolve(value, "css/app.css", TREE), Skip)


@pytest.mark.parametrize(
    ("value", "source", "prefix"),
    [
        pytest.param("../a.png", "app.css", "/", id="parent-of-top"),
        pytest.param("../../img/a.png", "css/app.css", "/", id="two-up-from-one-deep"),
        pytest.param("../../../etc/passwd", "css/deep/x.css", "/", id="far-up"),
        pytest.param("..", "app.css", "/", id="dot-dot-alone"),
        pytest.param("%2E%2E/%2E%2E/a.png", "css/app.css", "/", id="encoded-dots"),
    ],
)
def test_resolve_escaping_tree_is_missing(value: str, source: str, prefix: str) -> None:
    resolution = resolve(value, source, TREE, prefix=prefix)
    assert isinstance(resolution, Missing)
    assert resolution.name not in TREE


@pytest.mark.parametrize(
    ("value", "source", "expected"),
    [
        pytest.param("b.png", "css/app.css", "css/b.png", id="relative"),
        pytest.param("../img/b.png?v=1", "css/app.css", "img/b.png", id="with-query"),
        pytest.param("/img/nope.svg#x", "css/app.css", "img/nope.svg", id="absolute"),
        pytest.param("./nope.js", "js/main.js", "js/nope.js", id="module-style"),
        pytest.param("A.PNG", "css/app.css", "css/A.PNG", id="case-sensitive"),
        pytest.param("css", "app.css", "css", id="a-directory-is-not-a-file"),
    ],
)
def test_resolve_missing_file(value: str, source: str, expected: str) -> None:
    assert resolve(value, source, TREE) == Missing(expected)


def test_resolve_results_are_the_resolution_types() -> None:
    results: list[Resolution] = [
        resolve("a.png", "css/app.css", TREE),
        resolve("data:,", "css/app.css", TREE),
        resolve("b.png", "css/app.css", TREE),
    ]
    assert [type(result) for result in results] == [Target, Skip, Missing]


# -- hashed_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("app.css", f"app.{DIGEST}.css", id="top-level"),
        pytest.param("css/app.css", f"css/app.{DIGEST}.css", id="extension-kept"),
        pytest.param("js/main.js.map", f"js/main.js.{DIGEST}.map", id="map"),
        pytest.param("a.tar.gz", f"a.tar.{DIGEST}.gz", id="multiple-dots"),
        pytest.param("LICENSE", f"LICENSE.{DIGEST}", id="no-extension"),
        pytest.param("docs/LICENSE", f"docs/LICENSE.{DIGEST}", id="no-extension-in-directory"),
        pytest.param(".htaccess", f".htaccess.{DIGEST}", id="dotfile"),
        pytest.param("conf/.env", f"conf/.env.{DIGEST}", id="dotfile-in-directory"),
        pytest.param("v1.2/readme", f"v1.2/readme.{DIGEST}", id="dot-in-directory-only"),
        pytest.param(".well-known/security.txt", f".well-known/security.{DIGEST}.txt", id="well-known"),
        pytest.param("img/photo@2x.png", f"img/photo@2x.{DIGEST}.png", id="at-sign"),
        pytest.param("css/my image.png", f"css/my image.{DIGEST}.png", id="space"),
    ],
)
def test_hashed_name(name: str, expected: str) -> None:
    assert hashed_name(name, DIGEST) == expected


def test_hashed_name_length_is_twelve() -> None:
    assert HASH_LENGTH == 12


# -- rewritten_path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(Target("css/a.png", "a.png", ""), f"a.{DIGEST}.png", id="bare"),
        pytest.param(Target("css/a.png", "./a.png", ""), f"./a.{DIGEST}.png", id="dot-slash-kept"),
        pytest.param(Target("img/a.png", "../img/a.png", ""), f"../img/a.{DIGEST}.png", id="parent-kept"),
        pytest.param(
            Target("img/a.png", "../css/../img/a.png", ""), f"../css/../img/a.{DIGEST}.png", id="odd-directory-kept"
        ),
        pytest.param(Target("img/a.png", "/static/img/a.png", ""), f"/static/img/a.{DIGEST}.png", id="absolute-kept"),
        pytest.param(Target("img/a.png", "../img/a.png", "?v=3"), f"../img/a.{DIGEST}.png?v=3", id="query-kept"),
        pytest.param(
            Target("fonts/f.woff2", "../fonts/f.woff2", "?v=4#iefix"),
            f"../fonts/f.{DIGEST}.woff2?v=4#iefix",
            id="query-and-fragment-kept",
        ),
        pytest.param(Target("LICENSE", "LICENSE", ""), f"LICENSE.{DIGEST}", id="no-extension"),
        pytest.param(Target("a.tar.gz", "./a.tar.gz", ""), f"./a.tar.{DIGEST}.gz", id="multiple-dots"),
    ],
)
def test_rewritten_path(target: Target, expected: str) -> None:
    assert rewritten_path(target, DIGEST) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(Target("css/my image.png", "my%20image.png", ""), f"my%20image.{DIGEST}.png", id="space"),
        pytest.param(Target("css/café.png", "caf%C3%A9.png", ""), f"caf%C3%A9.{DIGEST}.png", id="utf8"),
        pytest.param(Target("css/café.png", "caf%c3%a9.png", ""), f"caf%c3%a9.{DIGEST}.png", id="lower-case-hex"),
        pytest.param(Target("css/100%.png", "100%25.png", ""), f"100%25.{DIGEST}.png", id="percent-sign"),
    ],
)
def test_rewritten_path_keeps_percent_encoding(target: Target, expected: str) -> None:
    assert rewritten_path(target, DIGEST) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # "a%2Epng" has no written extension: inserting the hash into it would name another file.
        pytest.param(Target("css/a.png", "a%2Epng", ""), f"a.{DIGEST}.png", id="encoded-dot"),
        pytest.param(
            Target("css/my image.png", "../css/my%20image%2Epng", "#x"),
            f"../css/my%20image.{DIGEST}.png#x",
            id="encoded-dot-with-directory-and-fragment",
        ),
        pytest.param(Target("css/100%.png", "100%25%2Epng", ""), f"100%25.{DIGEST}.png", id="encoded-dot-percent"),
    ],
)
def test_rewritten_path_falls_back_to_encoding(target: Target, expected: str) -> None:
    assert rewritten_path(target, DIGEST) == expected


@pytest.mark.parametrize(
    "target",
    [
        Target("css/my image.png", "my%20image.png", "?q"),
        Target("css/a.png", "a%2Epng", ""),
        Target("css/café.png", "café.png", "#f"),
        Target("img/a.png", "../img/a.png", ""),
        Target("img/a.png", "%2E%2E/img/a.png", ""),
    ],
    ids=["space", "encoded-dot", "raw-non-ascii", "parent", "encoded-dot-segment"],
)
def test_rewritten_path_resolves_to_hashed_name(target: Target) -> None:
    # Whatever form was written, the new reference, read back from the same
    # file, must name the hashed file and keep the suffix.
    new = rewritten_path(target, DIGEST)
    hashed = hashed_name(target.name, DIGEST)
    resolution = resolve(new, "css/app.css", {hashed})
    assert isinstance(resolution, Target), f"{new!r} -> {resolution}"
    assert (resolution.name, resolution.suffix) == (hashed, target.suffix)


# -- dependency_order --------------------------------------------------------------------


def assert_dependencies_first(order: list[str], nodes: set[str], edges: dict[str, list[str]]) -> None:
    assert sorted(order) == sorted(nodes), "every node exactly once"
    position = {node: index for index, node in enumerate(order)}
    for node, dependencies in edges.items():
        for dependency in dependencies:
            assert position[dependency] < position[node], f"{dependency} must come before {node}"


@pytest.mark.parametrize(
    ("nodes", "edges"),
    [
        pytest.param({"a"}, {}, id="single"),
        pytest.param({"a", "b"}, {"a": ["b"]}, id="one-edge"),
        pytest.param({"a", "b", "c"}, {"a": ["b"], "b": ["c"]}, id="chain"),
        pytest.param({"c", "b", "a"}, {"c": ["b"], "b": ["a"]}, id="chain-against-sorted-order"),
        pytest.param({"x", "y", "z"}, {}, id="independent"),
        pytest.param({"x", "y", "z"}, {"x": [], "y": [], "z": []}, id="independent-empty-edges"),
        pytest.param({"a", "b", "c", "d"}, {"a": ["b", "c"], "b": ["d"], "c": ["d"]}, id="diamond"),
        pytest.param({"d", "b", "c", "a"}, {"d": ["b", "c"], "b": ["a"], "c": ["a"]}, id="diamond-reversed-names"),
        pytest.param({"a", "b"}, {"a": ["b", "b", "b"]}, id="duplicate-edges"),
        pytest.param(
            {"css/app.css", "css/base.css", "img/a.png", "img/b.png", "js/main.js"},
            {"css/app.css": ["css/base.css", "img/a.png"], "css/base.css": ["img/b.png"], "js/main.js": ["img/a.png"]},
            id="site",
        ),
    ],
)
def test_dependency_order_dependencies_first(nodes: set[str], edges: dict[str, list[str]]) -> None:
    assert_dependencies_first(dependency_order(nodes, edges), nodes, edges)


def test_dependency_order_long_chain_without_recursion_error() -> None:
    # n00000 -> n00001 -> ... -> n04999: a recursive search would go 5000 frames deep.
    names = [f"n{i:05d}" for i in range(5000)]
    edges = {name: [following] for name, following in itertools.pairwise(names)}
    assert dependency_order(names, edges) == names[::-1]


def test_dependency_order_is_deterministic() -> None:
    nodes = [f"f{i}" for i in range(50)]
    edges = {f"f{i}": [f"f{(i * 7) % 50}"] for i in range(50) if (i * 7) % 50 < i}
    assert dependency_order(nodes, edges) == dependency_order(list(reversed(nodes)), edges)


def cycle_in_message(message: str) -> list[str]:
    """The file names of "a -> b -> a" in an error message, in the order written."""
    match = re.search(r"(\S+(?: -> \S+)+)", message)
    assert match is not None, f"no 'x -> y' chain in {message!r}"
    return match.group(1).split(" -> ")


@pytest.mark.parametrize(
    ("nodes", "edges", "members"),
    [
        pytest.param({"a.css", "b.css"}, {"a.css": ["b.css"], "b.css": ["a.css"]}, {"a.css", "b.css"}, id="two"),
        pytest.param({"a.css"}, {"a.css": ["a.css"]}, {"a.css"}, id="self"),
        pytest.param({"a", "b", "c"}, {"a": ["b"], "b": ["c"], "c": ["a"]}, {"a", "b", "c"}, id="three"),
        pytest.param(
            {"entry", "x", "y", "leaf"},
            {"entry": ["x", "leaf"], "x": ["y"], "y": ["x"]},
            {"x", "y"},
            id="reached-from-outside",
        ),
    ],
)
def test_dependency_order_cycle_lists_files_in_order(
    nodes: set[str], edges: dict[str, list[str]], members: set[str]
) -> None:
    with pytest.raises(CycleError) as raised:
        dependency_order(nodes, edges)
    chain = cycle_in_message(str(raised.value))
    assert chain[0] == chain[-1], "the cycle is closed"
    assert set(chain) == members, "only the files of the cycle"
    assert len(chain) == len(members) + 1, "each file once"
    for referrer, referred in itertools.pairwise(chain):
        assert referred in edges[referrer], f"{referrer} -> {referred} is not an edge"


def test_dependency_order_two_cycle_message() -> None:
    with pytest.raises(CycleError, match=r"a\.css -> b\.css -> a\.css"):
        dependency_order(["a.css", "b.css"], {"a.css": ["b.css"], "b.css": ["a.css"]})


def test_cycle_error_is_a_staticwrap_error() -> None:
    assert issubclass(CycleError, StaticwrapError)


# -- acyclic_soft_edges ------------------------------------------------------


def test_soft_edge_back_to_its_origin_is_dropped() -> None:
    # app.css -> app.css.map (sourceMappingURL); the map lists app.css and a shipped b.css.
    hard = {"app.css": ["app.css.map"], "app.css.map": [], "b.css": []}
    soft = {"app.css.map": ["app.css", "b.css"]}
    assert acyclic_soft_edges(hard, soft) == {"app.css.map": ["b.css"]}


def test_soft_edge_closing_a_longer_loop_is_dropped_and_the_result_is_acyclic() -> None:
    # a.js imports b.js, whose map lists a.js: b.js.map -> a.js -> b.js -> b.js.map.
    hard = {"a.js": ["b.js", "a.js.map"], "b.js": ["b.js.map"], "b.js.map": [], "a.js.map": []}
    soft = {"b.js.map": ["a.js"], "a.js.map": ["b.js", "a.js"]}
    kept = acyclic_soft_edges(hard, soft)
    assert kept == {"a.js.map": ["b.js"]}
    merged = {node: [*targets, *kept.get(node, [])] for node, targets in hard.items()}
    order = dependency_order(hard, merged)  # would raise CycleError on a loop
    assert order.index("b.js") < order.index("a.js.map") < order.index("a.js")


def test_soft_edges_between_maps_keep_the_first_in_name_order() -> None:
    # Two maps naming each other as sources: only one direction can be kept.
    soft = {"a.map": ["b.map"], "b.map": ["a.map"]}
    assert acyclic_soft_edges({"a.map": [], "b.map": []}, soft) == {"a.map": ["b.map"]}
