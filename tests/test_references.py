"""Finding and rewriting references in CSS and JavaScript (staticwrap.references).

Expected values come from the grammars, not from running the code: CSS Syntax
Level 3 §4 (tokenization: strings, url tokens, escapes, comments) and
ECMAScript §12 (strings, templates, comments, regular expression literals) and
§16.2 (import and export declarations). Each row gives the reference as written
(``text[start:end]``) and its decoded value.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from staticwrap.references import (
    Reference,
    css_references,
    encode_reference,
    js_references,
    rewrite,
)

URL, STR, JS, JS_URL, COMMENT = "css-url", "css-string", "js-string", "js-url", "comment"

# (written form, decoded value, kind, quote)
Row = tuple[str, str, str, str]
Scanner = Callable[[str], list[Reference]]


def found(scanner: Scanner, text: str) -> list[Row]:
    """The references of ``text`` as (written form, value, kind, quote), read through their spans."""
    return [(text[ref.start : ref.end], ref.value, ref.kind, ref.quote) for ref in scanner(text)]


def test_reference_fields() -> None:
    assert Reference._fields == ("start", "end", "value", "line", "kind", "quote")


# --- CSS: what is a reference ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a{background:url(img/a.png)}", [("img/a.png", "img/a.png", URL, "")], id="url-unquoted"),
        pytest.param('a{background:url("img/a.png")}', [("img/a.png", "img/a.png", STR, '"')], id="url-double-quoted"),
        pytest.param("a{background:url('img/a.png')}", [("img/a.png", "img/a.png", STR, "'")], id="url-single-quoted"),
        pytest.param("a{b:URL(a.png)}", [("a.png", "a.png", URL, "")], id="url-uppercase"),
        pytest.param('a{b:Url("a.png")}', [("a.png", "a.png", STR, '"')], id="url-mixed-case-quoted"),
        pytest.param("a{b:url(  a.png  )}", [("a.png", "a.png", URL, "")], id="url-unquoted-inner-spaces"),
        pytest.param('a{b:url( "a.png" )}', [("a.png", "a.png", STR, '"')], id="url-quoted-inner-spaces"),
        pytest.param("a{b:url(\n\ta.png\n)}", [("a.png", "a.png", URL, "")], id="url-inner-newlines"),
        pytest.param(
            'a{b:url("a.png" crossorigin(anonymous))}', [("a.png", "a.png", STR, '"')], id="url-quoted-with-modifier"
        ),
        pytest.param(r"a{b:url(a\)b.png)}", [(r"a\)b.png", "a)b.png", URL, "")], id="url-escaped-paren"),
        pytest.param(r"a{b:url(a\ b.png)}", [(r"a\ b.png", "a b.png", URL, "")], id="url-escaped-space"),
        pytest.param(r"a{b:url(\26 b.png)}", [(r"\26 b.png", "&b.png", URL, "")], id="url-hex-escape-eats-space"),
        pytest.param(r"a{b:url(\0000e9.png)}", [(r"\0000e9.png", "é.png", URL, "")], id="url-hex-escape-six-digits"),
        pytest.param(
            "a{b:url(a\\20\r\nb.png)}", [("a\\20\r\nb.png", "a b.png", URL, "")], id="url-hex-escape-eats-crlf"
        ),
        pytest.param("a{b:url(é.png)}", [("é.png", "é.png", URL, "")], id="url-non-ascii"),
        pytest.param("a{b:url(a.png", [("a.png", "a.png", URL, "")], id="url-unclosed-at-eof"),
        pytest.param(
            "a{b:url(data:image/gif;base64,R0lGOD==)}",
            [("data:image/gif;base64,R0lGOD==", "data:image/gif;base64,R0lGOD==", URL, "")],
            id="url-data-uri",
        ),
        pytest.param("a{b:url(a\x00.png)}", [("a\x00.png", "a\ufffd.png", URL, "")], id="url-nul-is-replacement"),
        pytest.param(r'a{b:url("a\"b.png")}', [(r"a\"b.png", 'a"b.png', STR, '"')], id="string-escaped-quote"),
        pytest.param(r"a{b:url('a\'b.png')}", [(r"a\'b.png", "a'b.png", STR, "'")], id="string-escaped-apostrophe"),
        pytest.param("""a{b:url("a'b.png")}""", [("a'b.png", "a'b.png", STR, '"')], id="string-other-quote-as-is"),
        pytest.param(r'a{b:url("a\\b.png")}', [(r"a\\b.png", "a\\b.png", STR, '"')], id="string-escaped-backslash"),
        pytest.param('a{b:url("a\\\nb.png")}', [("a\\\nb.png", "ab.png", STR, '"')], id="string-line-continuation"),
        pytest.param(
            'a{b:url("a\\\r\nb.png")}', [("a\\\r\nb.png", "ab.png", STR, '"')], id="string-line-continuation-crlf"
        ),
        pytest.param(r'a{b:url("\26 x.png")}', [(r"\26 x.png", "&x.png", STR, '"')], id="string-hex-escape-eats-space"),
        pytest.param(r'a{b:url("\26x.png")}', [(r"\26x.png", "&x.png", STR, '"')], id="string-hex-escape-ends-at-x"),
        pytest.param(
            r'a{b:url("\0000261.png")}', [(r"\0000261.png", "&1.png", STR, '"')], id="string-hex-escape-six-digits-max"
        ),
        pytest.param(
            'a{b:url("\\26\nx.png")}', [("\\26\nx.png", "&x.png", STR, '"')], id="string-hex-escape-eats-newline"
        ),
        pytest.param(r'a{b:url("\0 a.png")}', [(r"\0 a.png", "\ufffda.png", STR, '"')], id="string-hex-escape-zero"),
        pytest.param(
            r'a{b:url("\d800 a.png")}', [(r"\d800 a.png", "\ufffda.png", STR, '"')], id="string-hex-escape-surrogate"
        ),
        pytest.param(
            r'a{b:url("\110000 a.png")}', [(r"\110000 a.png", "\ufffda.png", STR, '"')], id="string-hex-escape-too-big"
        ),
        pytest.param(r'a{b:url("\g.png")}', [(r"\g.png", "g.png", STR, '"')], id="string-escaped-letter"),
        pytest.param('@import "a.css";', [("a.css", "a.css", STR, '"')], id="import-double-quoted"),
        pytest.param("@import 'a.css' screen;", [("a.css", "a.css", STR, "'")], id="import-single-quoted-media"),
        pytest.param("@import url(a.css);", [("a.css", "a.css", URL, "")], id="import-url-unquoted"),
        pytest.param('@import url("a.css") layer(base);', [("a.css", "a.css", STR, '"')], id="import-url-quoted"),
        pytest.param('@IMPORT "a.css";', [("a.css", "a.css", STR, '"')], id="import-uppercase"),
        pytest.param('@import/* x */"a.css";', [("a.css", "a.css", STR, '"')], id="import-comment-before-string"),
        pytest.param('@import\n  "a.css";', [("a.css", "a.css", STR, '"')], id="import-newline-before-string"),
        pytest.param('@import "a.css', [("a.css", "a.css", STR, '"')], id="import-string-unclosed-at-eof"),
        pytest.param(
            '@import "a.css"; a{content:"b.css"}', [("a.css", "a.css", STR, '"')], id="import-then-other-string"
        ),
        pytest.param(
            'a{b:image-set("a.png" 1x, "b.png" 2x)}',
            [("a.png", "a.png", STR, '"'), ("b.png", "b.png", STR, '"')],
            id="image-set-strings",
        ),
        pytest.param(
            "a{b:image-set('a.png' 1x, url(b.png) 2x)}",
            [("a.png", "a.png", STR, "'"), ("b.png", "b.png", URL, "")],
            id="image-set-string-and-url",
        ),
        pytest.param(
            'a{b:image-set(url("a.png") 1x, "b.png" 2x)}',
            [("a.png", "a.png", STR, '"'), ("b.png", "b.png", STR, '"')],
            id="image-set-quoted-url-then-string",
        ),
        pytest.param(
            'a{b:-webkit-image-set("a.png" 1x, "b.png" 2x)}',
            [("a.png", "a.png", STR, '"'), ("b.png", "b.png", STR, '"')],
            id="webkit-image-set",
        ),
        pytest.param('a{b:IMAGE-SET("a.png" 1x)}', [("a.png", "a.png", STR, '"')], id="image-set-uppercase"),
        pytest.param(
            'a{b:image-set("a.avif" type("image/avif"), "a.png" type("image/png"))}',
            [("a.avif", "a.avif", STR, '"'), ("a.png", "a.png", STR, '"')],
            id="image-set-type-strings-skipped",
        ),
        pytest.param(
            'a{b:image-set("a.png" 1x) "b.png"}', [("a.png", "a.png", STR, '"')], id="image-set-closed-then-string"
        ),
        pytest.param(
            'a{b:cross-fade(image-set("a.png" 1x), "b.png")}',
            [("a.png", "a.png", STR, '"')],
            id="image-set-inside-other-function",
        ),
        pytest.param(
            "/*# sourceMappingURL=app.css.map */", [("app.css.map", "app.css.map", COMMENT, "")], id="source-map"
        ),
        pytest.param(
            "/*@ sourceMappingURL=app.css.map */", [("app.css.map", "app.css.map", COMMENT, "")], id="source-map-at"
        ),
        pytest.param(
            "/*# sourceMappingURL=app.css.map*/",
            [("app.css.map", "app.css.map", COMMENT, "")],
            id="source-map-ends-at-comment-end",
        ),
        pytest.param(
            "a{}\n/*# sourceMappingURL=app.css.map */\n",
            [("app.css.map", "app.css.map", COMMENT, "")],
            id="source-map-after-rules",
        ),
        pytest.param(
            '@import "a.css";\nb{c:url(d.png)}\n/*# sourceMappingURL=e.map */',
            [("a.css", "a.css", STR, '"'), ("d.png", "d.png", URL, ""), ("e.map", "e.map", COMMENT, "")],
            id="document-order",
        ),
        pytest.param(r".a\"b{c:url(x.png)}", [("x.png", "x.png", URL, "")], id="escaped-quote-in-selector"),
        pytest.param(r".md\:flex{c:url(x.png)}", [("x.png", "x.png", URL, "")], id="escaped-colon-in-selector"),
        pytest.param("a{b:url(a b.png);c:url(c.png)}", [("c.png", "c.png", URL, "")], id="bad-url-then-url"),
        pytest.param(
            r"a{b:url(a b\).png);c:url(c.png)}", [("c.png", "c.png", URL, "")], id="bad-url-remnants-skip-escape"
        ),
        pytest.param('a{content:"x\n;b:url(c.png)}', [("c.png", "c.png", URL, "")], id="bad-string-then-url"),
        pytest.param("/* url(a.png) */b{c:url(c.png)}", [("c.png", "c.png", URL, "")], id="comment-then-url"),
        pytest.param("a{b:\\\nurl(x.png)}", [("x.png", "x.png", URL, "")], id="backslash-newline-is-not-escape"),
        pytest.param('@import "a.css\\', [("a.css\\", "a.css", STR, '"')], id="string-backslash-at-eof-ignored"),
        pytest.param("a{b:url(a.png\\", [("a.png\\", "a.png\ufffd", URL, "")], id="url-backslash-at-eof"),
    ],
)
def test_css_references_finds(text: str, expected: list[Row]) -> None:
    assert found(css_references, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("/* url(x.png) */", id="in-comment"),
        pytest.param('/* @import "a.css"; */', id="import-in-comment"),
        pytest.param("/* url(x.png)", id="in-unclosed-comment"),
        pytest.param('a{content:"url(x.png)"}', id="in-content-string"),
        pytest.param("""a{content:'@import "a.css"'}""", id="import-in-string"),
        pytest.param('a{src:format("woff2")}', id="format-string"),
        pytest.param('a{font-family:"a.png"}', id="font-family-string"),
        pytest.param('a{src:local("a.png")}', id="local-string"),
        pytest.param('a{b:"a.png"}', id="declaration-string"),
        pytest.param("a{b:url()}", id="url-empty"),
        pytest.param("a{b:url(   )}", id="url-blank"),
        pytest.param('a{b:url("")}', id="url-empty-double-quoted"),
        pytest.param("a{b:url('')}", id="url-empty-single-quoted"),
        pytest.param('a{b:url(a"b.png)}', id="bad-url-quote"),
        pytest.param("a{b:url(a'b.png)}", id="bad-url-apostrophe"),
        pytest.param("a{b:url(a(b.png)}", id="bad-url-open-paren"),
        pytest.param("a{b:url(a b.png)}", id="bad-url-inner-space"),
        pytest.param("a{b:url(a\x01b.png)}", id="bad-url-non-printable"),
        pytest.param("a{b:url(a\\\nb.png)}", id="bad-url-escaped-newline"),
        pytest.param('@import "a.css\n";', id="bad-string-at-newline"),
        pytest.param('a{b:image-set("a.png\n 1x)}', id="image-set-bad-string"),
        pytest.param("a{b:myurl(x.png)}", id="longer-function-name"),
        pytest.param("a{b:-url(x.png)}", id="dashed-function-name"),
        pytest.param("a{b:2url(x.png)}", id="dimension-unit"),
        pytest.param("a{b:#url(x.png)}", id="hash-token"),
        pytest.param("@url(x.png);", id="at-keyword"),
        pytest.param(r"a{b:a\(url(x.png)}", id="escape-continues-name"),
        pytest.param(r"a{b:\26 url(x.png)}", id="hex-escape-continues-name"),
        pytest.param('@importx "a.css";', id="longer-at-keyword"),
        pytest.param(r'\@import "a.css";', id="escaped-at-sign"),
        pytest.param('a{b:my-image-set("a.png" 1x)}', id="longer-image-set-name"),
        pytest.param('a{b:-moz-image-set("a.png" 1x)}', id="other-vendor-image-set"),
        pytest.param("/* sourceMappingURL=a.map */", id="source-map-without-hash"),
        pytest.param("/*# sourceMappingURL= */", id="source-map-empty"),
        pytest.param('@import /* "a.css";', id="import-then-unclosed-comment"),
        pytest.param('a{b:url("\\\n")}', id="string-of-only-a-continuation"),
        pytest.param('a{content:"/*# sourceMappingURL=a.map */"}', id="source-map-in-string"),
    ],
)
def test_css_references_ignores(text: str) -> None:
    assert css_references(text) == []


# --- JavaScript: what is a reference --------------------------------------------------------


def js(value: str, quote: str = '"', written: str | None = None) -> Row:
    return (value if written is None else written, value, JS, quote)


def js_url(value: str, quote: str = '"') -> Row:
    """The argument of new URL(..., import.meta.url): a URL, not a module specifier."""
    return (value, value, JS_URL, quote)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('import x from "./a.js";', [js("./a.js")], id="import-default"),
        pytest.param("import {a, b as c} from './a.js';", [js("./a.js", "'")], id="import-named"),
        pytest.param('import * as ns from "./a.js";', [js("./a.js")], id="import-namespace"),
        pytest.param('import d, {e} from "./a.js";', [js("./a.js")], id="import-default-and-named"),
        pytest.param('import d, * as ns from "./a.js";', [js("./a.js")], id="import-default-and-namespace"),
        pytest.param('import "./side.js";', [js("./side.js")], id="import-side-effect"),
        pytest.param("import './side.js';", [js("./side.js", "'")], id="import-side-effect-single-quoted"),
        pytest.param('export {x} from "./a.js";', [js("./a.js")], id="export-named-from"),
        pytest.param('export * from "./a.js";', [js("./a.js")], id="export-star"),
        pytest.param('export * as ns from "./a.js";', [js("./a.js")], id="export-star-as"),
        pytest.param('export {default as y} from "./a.js";', [js("./a.js")], id="export-default-as"),
        pytest.param('import {"a-b" as c} from "./a.js";', [js("./a.js")], id="import-string-name"),
        pytest.param('export {"a-b"} from "./a.js";', [js("./a.js")], id="export-string-name"),
        pytest.param('import from from "./a.js";', [js("./a.js")], id="import-binding-named-from"),
        pytest.param(
            'import{a as b}from"./a.js";import"./b.js";export*from"./c.js"',
            [js("./a.js"), js("./b.js"), js("./c.js")],
            id="minified",
        ),
        pytest.param('import {\n  a,\n  b,\n} from "./a.js";', [js("./a.js")], id="import-over-lines"),
        pytest.param('import /* a */ x /* b */ from /* c */ "./a.js";', [js("./a.js")], id="import-comments-between"),
        pytest.param('import x // first\nfrom "./a.js";', [js("./a.js")], id="import-line-comment-between"),
        pytest.param('import j from "./a.json" with { type: "json" };', [js("./a.json")], id="import-with-attributes"),
        pytest.param('import j from "./a.json" assert { type: "json" };', [js("./a.json")], id="import-assert"),
        pytest.param('import "./a.css" with { type: "css" };', [js("./a.css")], id="side-effect-with-attributes"),
        pytest.param(
            'export {j} from "./a.json" with { type: "json" };', [js("./a.json")], id="export-with-attributes"
        ),
        pytest.param('import defer * as ns from "./a.js";', [js("./a.js")], id="import-defer"),
        pytest.param('import source m from "./a.wasm";', [js("./a.wasm")], id="import-source"),
        pytest.param('import("./lazy.js");', [js("./lazy.js")], id="dynamic"),
        pytest.param("import('./lazy.js');", [js("./lazy.js", "'")], id="dynamic-single-quoted"),
        pytest.param("import('./lazy.js', {with: {type: 'json'}});", [js("./lazy.js", "'")], id="dynamic-with-options"),
        pytest.param("import(`./lazy.js`);", [js("./lazy.js", "`")], id="dynamic-template"),
        pytest.param('import ( "./lazy.js" );', [js("./lazy.js")], id="dynamic-spaces"),
        pytest.param('import("./lazy.js",);', [js("./lazy.js")], id="dynamic-trailing-comma"),
        pytest.param('const m = await import("./lazy.js");', [js("./lazy.js")], id="dynamic-awaited"),
        pytest.param('`${import("./x.js")}`', [js("./x.js")], id="dynamic-in-substitution"),
        pytest.param('`${ {a: `x`} }${import("./y.js")}`', [js("./y.js")], id="dynamic-after-nested-template"),
        pytest.param('`a${`b${import("./z.js")}`}`', [js("./z.js")], id="dynamic-in-nested-substitution"),
        pytest.param(
            'p = [...new URL("./a.png", import.meta.url).pathname];', [js_url("./a.png")], id="new-url-after-spread"
        ),
        pytest.param('new URL("./img.png", import.meta.url);', [js_url("./img.png")], id="new-url"),
        pytest.param("new URL('./img.png', import.meta.url);", [js_url("./img.png", "'")], id="new-url-single-quoted"),
        pytest.param(
            'new URL(\n  "./img.png",\n  import.meta.url,\n);',
            [js_url("./img.png")],
            id="new-url-over-lines-trailing-comma",
        ),
        pytest.param(
            'new /* a */ URL(/* b */"./img.png", import . meta . url)',
            [js_url("./img.png")],
            id="new-url-comments-spaces",
        ),
        pytest.param(
            "f();\n//# sourceMappingURL=app.js.map\n", [("app.js.map", "app.js.map", COMMENT, "")], id="source-map"
        ),
        pytest.param(
            "//@ sourceMappingURL=app.js.map", [("app.js.map", "app.js.map", COMMENT, "")], id="source-map-at"
        ),
        pytest.param(
            "/*# sourceMappingURL=app.js.map */", [("app.js.map", "app.js.map", COMMENT, "")], id="source-map-block"
        ),
        pytest.param(
            "//# sourceMappingURL=data:application/json;base64,eyJ2IjozfQ==",
            [("data:application/json;base64,eyJ2IjozfQ==", "data:application/json;base64,eyJ2IjozfQ==", COMMENT, "")],
            id="source-map-data-uri",
        ),
        pytest.param(r'import "./\u0061.js";', [js("./a.js", written=r"./\u0061.js")], id="escape-unicode"),
        pytest.param(r'import "./\u{1F600}.js";', [js("./😀.js", written=r"./\u{1F600}.js")], id="escape-code-point"),
        pytest.param(
            r'import "./\uD83D\uDE00.js";', [js("./😀.js", written=r"./\uD83D\uDE00.js")], id="escape-surrogate-pair"
        ),
        pytest.param(r'import "./\x61.js";', [js("./a.js", written=r"./\x61.js")], id="escape-hex"),
        pytest.param(r'import "./a\".js";', [js('./a".js', written=r"./a\".js")], id="escape-quote"),
        pytest.param(r"import './a\'.js';", [js("./a'.js", "'", written=r"./a\'.js")], id="escape-apostrophe"),
        pytest.param(r'import "./a\\b.js";', [js("./a\\b.js", written=r"./a\\b.js")], id="escape-backslash"),
        pytest.param(r'import "./a\nb.js";', [js("./a\nb.js", written=r"./a\nb.js")], id="escape-newline"),
        pytest.param('import "./a\\\nb.js";', [js("./ab.js", written="./a\\\nb.js")], id="escape-line-continuation"),
        pytest.param(
            'import "./a\\\r\nb.js";', [js("./ab.js", written="./a\\\r\nb.js")], id="escape-line-continuation-crlf"
        ),
        pytest.param(r'import "./\a.js";', [js("./a.js", written=r"./\a.js")], id="escape-identity"),
        # Legacy octal escapes are only allowed in scripts (Annex B.1.2), where only import() is.
        pytest.param(r'import("./\141.js");', [js("./a.js", written=r"./\141.js")], id="escape-legacy-octal"),
        pytest.param("import(`./a\r\nb.js`);", [js("./a\nb.js", "`", written="./a\r\nb.js")], id="template-crlf-is-lf"),
        pytest.param('import "./é.js";', [js("./é.js")], id="non-ascii"),
        pytest.param('#!/usr/bin/env node\nimport "./a.js";', [js("./a.js")], id="after-hashbang"),
        pytest.param('x = "\\\\"; import y from "./a.js";', [js("./a.js")], id="after-string-ending-in-backslash"),
        pytest.param('x = /"/; import("./a.js");', [js("./a.js")], id="after-regex-with-quote"),
        pytest.param('x = /[/"]/g; import("./a.js");', [js("./a.js")], id="after-regex-class-with-slash"),
        pytest.param('function f() { return /"/.test(s) } import("./a.js");', [js("./a.js")], id="regex-after-return"),
        pytest.param('x = typeof /"/; import("./a.js");', [js("./a.js")], id="regex-after-typeof"),
        pytest.param('f(/"/); import("./a.js");', [js("./a.js")], id="regex-after-paren"),
        pytest.param('/"/.test(s); import("./a.js");', [js("./a.js")], id="regex-at-start"),
        pytest.param(
            'function f() { return /* c */ /"/ } import("./a.js");', [js("./a.js")], id="regex-after-keyword-comment"
        ),
        pytest.param('`${/`/.source}`; import("./a.js");', [js("./a.js")], id="regex-in-substitution"),
        pytest.param('n = (a) / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-paren"),
        pytest.param('n = a[0] / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-bracket"),
        pytest.param('n = a / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-name"),
        pytest.param('n = 1 / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-number"),
        pytest.param('n = a++ / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-postfix"),
        pytest.param('n = "a" / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-string"),
        pytest.param('n = `a` / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-template"),
        pytest.param('n = a.return / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-property"),
        pytest.param('n = a /* c */ / 2; s = "/"; import("./a.js");', [js("./a.js")], id="division-after-comment"),
        pytest.param(
            'import a from "./a.js";\nconst b = import("./b.js");\n'
            'const c = new URL("./c.png", import.meta.url);\nexport * from "./d.js";\n'
            "//# sourceMappingURL=e.js.map\n",
            [js("./a.js"), js("./b.js"), js_url("./c.png"), js("./d.js"), ("e.js.map", "e.js.map", COMMENT, "")],
            id="document-order",
        ),
    ],
)
def test_js_references_finds(text: str, expected: list[Row]) -> None:
    assert found(js_references, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\"import x from './a.js'\";", id="in-double-quoted-string"),
        pytest.param("'import(\"./a.js\")';", id="in-single-quoted-string"),
        pytest.param('`import x from "./a.js"`;', id="in-template"),
        pytest.param('`new URL("./a.png", import.meta.url)`;', id="new-url-in-template"),
        pytest.param('// import "./x.js"', id="in-line-comment"),
        pytest.param('/* import("./x.js") */', id="in-block-comment"),
        pytest.param('/* import("./x.js")', id="in-unclosed-block-comment"),
        pytest.param(r'x = /import\("x"\)/;', id="in-regex"),
        pytest.param('x = /[import("./a.js")]/;', id="in-regex-class"),
        pytest.param('function f() { return /import "x"/ }', id="in-regex-after-return"),
        pytest.param('foo.import("x");', id="member-call"),
        pytest.param('foo?.import("x");', id="optional-member-call"),
        pytest.param('foo . import("x");', id="member-call-spaced"),
        pytest.param('foo\n  .import("./x.js");', id="member-call-next-line"),
        pytest.param('this.#import("x");', id="private-method"),
        pytest.param('x = obj.from("./a.js");', id="member-from"),
        pytest.param("x = import.meta;", id="import-meta"),
        pytest.param('x = import.meta.resolve("./a.js");', id="import-meta-resolve"),
        pytest.param('myimport("./a.js");', id="longer-name"),
        pytest.param('$import("./a.js");', id="dollar-prefixed-name"),
        pytest.param('_import("./a.js");', id="underscore-prefixed-name"),
        pytest.param('importer("./a.js");', id="name-starting-with-import"),
        pytest.param("import(x);", id="dynamic-non-literal"),
        pytest.param('import("./a" + b);', id="dynamic-concatenated"),
        pytest.param("import(`./${a}.js`);", id="dynamic-template-with-substitution"),
        pytest.param("new URL(x, import.meta.url);", id="new-url-non-literal"),
        pytest.param('new URL("./a", base);', id="new-url-other-base"),
        pytest.param('new URL("./a");', id="new-url-no-base"),
        pytest.param('new URL("./a" + b, import.meta.url);', id="new-url-concatenated"),
        pytest.param('new URL("./a", import.meta.url + "x");', id="new-url-base-extended"),
        pytest.param('new URL("./a", import.meta.urls);', id="new-url-base-longer-name"),
        pytest.param("new URL(`./a.png`, import.meta.url);", id="new-url-template"),
        pytest.param('new window.URL("./a.png", import.meta.url);', id="new-qualified-url"),
        pytest.param('new URLSearchParams("./a.png", import.meta.url);', id="new-longer-name"),
        pytest.param('URL("./a.png", import.meta.url);', id="url-without-new"),
        pytest.param('export {a, b}; const c = "./a.js";', id="export-without-from"),
        pytest.param('export default "./a.js";', id="export-default-string"),
        pytest.param('export const a = "./a.js";', id="export-const"),
        pytest.param('import "./a.js', id="unclosed-string"),
        pytest.param('import("./a.js', id="unclosed-dynamic"),
        pytest.param('import "./a\nb.js";', id="string-broken-by-newline"),
        pytest.param('import "";', id="empty-specifier"),
        pytest.param('#!/usr/bin/env node import("./a.js")', id="in-hashbang"),
        pytest.param('x = {import: "./a.js", from: "./b.js"};', id="object-keys"),
        pytest.param('import {a.b} from "./a.js";', id="named-bindings-with-member"),
        pytest.param('import a b c from "./a.js";', id="three-names-before-from"),
        pytest.param('import a, b, c, d, e from "./a.js";', id="clause-longer-than-any-valid-one"),
        pytest.param("// sourceMappingURL=app.js.map", id="source-map-without-hash"),
        pytest.param("//# sourceMappingURL=", id="source-map-empty"),
        pytest.param('x = "//# sourceMappingURL=app.js.map";', id="source-map-in-string"),
        pytest.param("`\n//# sourceMappingURL=app.js.map\n`;", id="source-map-in-template"),
    ],
)
def test_js_references_ignores(text: str) -> None:
    assert js_references(text) == []


# --- Exact spans and lines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scanner", "text", "expected"),
    [
        pytest.param(css_references, 'a{b:url( "x.png" )}', Reference(10, 15, "x.png", 1, STR, '"'), id="css-string"),
        pytest.param(css_references, "url(  a.png  )", Reference(6, 11, "a.png", 1, URL, ""), id="css-url"),
        pytest.param(css_references, r"url(a\)b)", Reference(4, 8, "a)b", 1, URL, ""), id="css-url-escape"),
        pytest.param(
            css_references,
            "/*# sourceMappingURL=a.map */",
            Reference(21, 26, "a.map", 1, COMMENT, ""),
            id="css-comment",
        ),
        pytest.param(js_references, 'import x from "./a.js"', Reference(15, 21, "./a.js", 1, JS, '"'), id="js-import"),
        pytest.param(js_references, "import(`./b.js`)", Reference(8, 14, "./b.js", 1, JS, "`"), id="js-template"),
        pytest.param(
            js_references, "//# sourceMappingURL=a.map", Reference(21, 26, "a.map", 1, COMMENT, ""), id="js-comment"
        ),
    ],
)
def test_references_exact_span(scanner: Scanner, text: str, expected: Reference) -> None:
    assert scanner(text) == [expected]


@pytest.mark.parametrize(
    ("scanner", "text", "lines"),
    [
        pytest.param(css_references, "a{}\nb{c:url(x.png)}\n\nd{e:url(y.png)}", [2, 4], id="css-lf"),
        pytest.param(css_references, "a{}\r\nb{c:url(x.png)}\r\n\r\nd{e:url(y.png)}", [2, 4], id="css-crlf"),
        pytest.param(css_references, "a{}\rb{c:url(x.png)}", [2], id="css-lone-cr"),
        pytest.param(css_references, "/*\n\n*/ a{b:url(x.png)}", [3], id="css-after-multiline-comment"),
        pytest.param(css_references, '@import "a\\\nb.css";\nc{d:url(e.png)}', [1, 3], id="css-after-continuation"),
        pytest.param(
            js_references, 'import "./a.js";\n\nimport("./b.js");\n//# sourceMappingURL=c.map', [1, 3, 4], id="js-lf"
        ),
        pytest.param(
            js_references,
            'import "./a.js";\r\n\r\nimport("./b.js");\r\n//# sourceMappingURL=c.map\r\n',
            [1, 3, 4],
            id="js-crlf",
        ),
        pytest.param(js_references, "`a\nb`;\nimport('./a.js')", [3], id="js-after-multiline-template"),
        pytest.param(js_references, 'import x\r\nfrom\r\n"./a.js";', [3], id="js-specifier-on-own-line"),
    ],
)
def test_references_lines(scanner: Scanner, text: str, lines: list[int]) -> None:
    assert [ref.line for ref in scanner(text)] == lines


@pytest.mark.parametrize(
    ("scanner", "text", "written"),
    [
        pytest.param(css_references, "a{}\r\nb{c:url(x.png)}\r\nd{e:url('y.png')}\r\n", ["x.png", "y.png"], id="css"),
        pytest.param(
            js_references, 'import a\r\nfrom "./a.js";\r\nimport("./b.js");\r\n', ["./a.js", "./b.js"], id="js"
        ),
    ],
)
def test_references_crlf_spans(scanner: Scanner, text: str, written: list[str]) -> None:
    assert [text[ref.start : ref.end] for ref in scanner(text)] == written


# --- encode_reference -------------------------------------------------------------------------


def ref(kind: str, quote: str = "") -> Reference:
    return Reference(0, 1, "x", 1, kind, quote)


@pytest.mark.parametrize(
    ("reference", "value", "written"),
    [
        pytest.param(ref(STR, '"'), "a b.png", "a b.png", id="css-string-space"),
        pytest.param(ref(STR, '"'), 'a"b.png', 'a\\"b.png', id="css-string-own-quote"),
        pytest.param(ref(STR, '"'), "a'b.png", "a'b.png", id="css-string-other-quote"),
        pytest.param(ref(STR, "'"), "a'b.png", "a\\'b.png", id="css-string-single-own-quote"),
        pytest.param(ref(STR, '"'), "a(b).png", "a(b).png", id="css-string-parens"),
        pytest.param(ref(STR, '"'), "a\\b.png", "a\\\\b.png", id="css-string-backslash"),
        pytest.param(ref(STR, '"'), "é.png", "é.png", id="css-string-non-ascii"),
        pytest.param(ref(STR, '"'), "a\nb.png", "a\\a b.png", id="css-string-newline"),
        pytest.param(ref(STR, '"'), "a\rb.png", "a\\d b.png", id="css-string-carriage-return"),
        pytest.param(ref(URL), "a.png", "a.png", id="css-url-plain"),
        pytest.param(ref(URL), "a b.png", "a\\20 b.png", id="css-url-space"),
        pytest.param(ref(URL), "a\tb.png", "a\\9 b.png", id="css-url-tab"),
        pytest.param(ref(URL), "a\nb.png", "a\\a b.png", id="css-url-newline"),
        pytest.param(ref(URL), 'a"b.png', 'a\\"b.png', id="css-url-quote"),
        pytest.param(ref(URL), "a'b.png", "a\\'b.png", id="css-url-apostrophe"),
        pytest.param(ref(URL), "a(b).png", "a\\(b\\).png", id="css-url-parens"),
        pytest.param(ref(URL), "a\\b.png", "a\\\\b.png", id="css-url-backslash"),
        pytest.param(ref(URL), "é.png", "é.png", id="css-url-non-ascii"),
        pytest.param(ref(URL), "a\x7fb", "a\\7f b", id="css-url-delete-control"),
        pytest.param(ref(JS, '"'), "a b.png", "a b.png", id="js-double-space"),
        pytest.param(ref(JS, '"'), 'a"b.png', 'a\\"b.png', id="js-double-own-quote"),
        pytest.param(ref(JS, '"'), "a'b.png", "a'b.png", id="js-double-other-quote"),
        pytest.param(ref(JS, "'"), "a'b.png", "a\\'b.png", id="js-single-own-quote"),
        pytest.param(ref(JS, '"'), "a(b).png", "a(b).png", id="js-parens"),
        pytest.param(ref(JS, '"'), "a\\b.png", "a\\\\b.png", id="js-backslash"),
        pytest.param(ref(JS, '"'), "a\nb.png", "a\\nb.png", id="js-newline"),
        pytest.param(ref(JS, '"'), "a\rb.png", "a\\rb.png", id="js-carriage-return"),
        pytest.param(ref(JS, '"'), "a\u2028b.png", "a\\u2028b.png", id="js-line-separator"),
        pytest.param(ref(JS, '"'), "é.png", "é.png", id="js-non-ascii"),
        pytest.param(ref(JS, '"'), "a\ud800b", "a\\ud800b", id="js-lone-surrogate"),
        pytest.param(ref(JS, "`"), "a`b.png", "a\\`b.png", id="template-backtick"),
        pytest.param(ref(JS, "`"), "a${b}.png", "a\\${b}.png", id="template-substitution-start"),
        pytest.param(ref(JS, "`"), "a$b.png", "a$b.png", id="template-lone-dollar"),
        pytest.param(ref(JS, "`"), "a\\b.png", "a\\\\b.png", id="template-backslash"),
        pytest.param(ref(JS, "`"), 'a"b.png', 'a"b.png', id="template-quote"),
        pytest.param(ref(COMMENT), "app.3f2a1b9c0d4e.js.map", "app.3f2a1b9c0d4e.js.map", id="comment-plain"),
        pytest.param(ref(COMMENT), "é.map", "é.map", id="comment-non-ascii"),
    ],
)
def test_encode_reference(reference: Reference, value: str, written: str) -> None:
    assert encode_reference(value, reference) == written


@pytest.mark.parametrize(
    ("reference", "value", "message"),
    [
        pytest.param(ref(COMMENT), "a b.map", "white space", id="comment-space"),
        pytest.param(ref(COMMENT), "a\nb.map", "white space", id="comment-newline"),
        pytest.param(ref(COMMENT), "a\tb.map", "white space", id="comment-tab"),
        pytest.param(ref(COMMENT), "a*/b.map", r"\*/", id="comment-end"),
        pytest.param(ref(COMMENT), "", "empty", id="comment-empty"),
        pytest.param(ref(URL), "", "empty", id="css-url-empty"),
        pytest.param(ref(STR, '"'), "", "empty", id="css-string-empty"),
        pytest.param(ref(JS, '"'), "", "empty", id="js-string-empty"),
        pytest.param(ref(URL), "a\x00b", "NUL", id="css-url-nul"),
        pytest.param(ref(STR, '"'), "a\x00b", "NUL", id="css-string-nul"),
        pytest.param(ref(STR, '"'), "a\udc00b", "surrogate", id="css-string-lone-surrogate"),
        pytest.param(ref("html-attribute"), "a.png", "unknown kind", id="unknown-kind"),
        pytest.param(ref(STR, "`"), "a.png", "unknown kind", id="css-string-backtick"),
        pytest.param(ref(JS, ""), "a.png", "unknown kind", id="js-string-without-quote"),
    ],
)
def test_encode_reference_refuses(reference: Reference, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_reference(value, reference)


# --- rewrite ----------------------------------------------------------------------------------

CSS_DOCUMENT = (
    '@import "a.css";\r\n'
    '.x{background:url(img/b.png) no-repeat; content:"url(no.png)"}\n'
    ".y{background:image-set(\"c.png\" 1x, url('d.png') 2x)}\n"
    "/* url(no.png) */\n"
    "/*# sourceMappingURL=app.css.map */\n"
)
JS_DOCUMENT = (
    'import a from "./a.js";\r\n'
    "export * from './b.js';\n"
    'const c = import(`./c.js`), s = "import(\'./no.js\')", r = /import("no")/;\n'
    'const d = new URL("./d.png", import.meta.url);\n'
    "//# sourceMappingURL=app.js.map\n"
)
# Values that need escaping in at least one kind; a comment gets a hashed name instead.
AWKWARD = ["a b.png", 'a"b.png', "a'b.png", "a(b).png", "a\\b.png", "é.png", "a`b${c}.png", "a\nb\r.png", "a\tb.png"]


def new_value(reference: Reference, awkward: str) -> str:
    return "app.3f2a1b9c0d4e.map" if reference.kind == COMMENT else f"{reference.value}/{awkward}"


def outside_spans(text: str, references: list[Reference]) -> list[str]:
    pieces, done = [], 0
    for reference in references:
        pieces.append(text[done : reference.start])
        done = reference.end
    return [*pieces, text[done:]]


@pytest.mark.parametrize("awkward", AWKWARD)
@pytest.mark.parametrize(
    ("scanner", "document"),
    [pytest.param(css_references, CSS_DOCUMENT, id="css"), pytest.param(js_references, JS_DOCUMENT, id="js")],
)
def test_rewrite_round_trip(scanner: Scanner, document: str, awkward: str) -> None:
    before = scanner(document)
    values = [new_value(reference, awkward) for reference in before]
    text = rewrite(document, list(zip(before, values, strict=True)))
    after = scanner(text)
    assert [reference.value for reference in after] == values
    assert [text[r.start : r.end] for r in after] == [
        encode_reference(v, r) for v, r in zip(values, before, strict=True)
    ]
    assert outside_spans(text, after) == outside_spans(document, before)
    assert [(r.kind, r.quote, r.line) for r in after] == [(r.kind, r.quote, r.line) for r in before]


@pytest.mark.parametrize(
    ("scanner", "document", "count"),
    [pytest.param(css_references, CSS_DOCUMENT, 5, id="css"), pytest.param(js_references, JS_DOCUMENT, 5, id="js")],
)
def test_rewrite_documents_have_every_kind(scanner: Scanner, document: str, count: int) -> None:
    # Guards the round-trip test: each document holds every kind of its language.
    references = scanner(document)
    assert len(references) == count
    assert {r.kind for r in references} == ({URL, STR, COMMENT} if scanner is css_references else {JS, JS_URL, COMMENT})


def test_rewrite_writes_escaped_form() -> None:
    text = "a{b:url(a.png)}"
    (reference,) = css_references(text)
    assert rewrite(text, [(reference, "b c.png")]) == "a{b:url(b\\20 c.png)}"


def test_rewrite_nothing_keeps_text() -> None:
    assert rewrite(JS_DOCUMENT, []) == JS_DOCUMENT


def test_rewrite_order_of_replacements_does_not_matter() -> None:
    references = js_references(JS_DOCUMENT)
    pairs = [(reference, f"x{index}.js") for index, reference in enumerate(references)]
    assert rewrite(JS_DOCUMENT, pairs[::-1]) == rewrite(JS_DOCUMENT, pairs)


def test_rewrite_subset_keeps_other_references() -> None:
    _, second = css_references('@import "a.css";\nb{c:url(d.png)}')
    text = rewrite('@import "a.css";\nb{c:url(d.png)}', [(second, "e.png")])
    assert text == '@import "a.css";\nb{c:url(e.png)}'


def test_rewrite_refuses_overlapping_spans() -> None:
    text = "a{b:url(a.png)}"
    (reference,) = css_references(text)
    with pytest.raises(ValueError, match="overlapping"):
        rewrite(text, [(reference, "b.png"), (reference, "c.png")])


def test_rewrite_refuses_span_past_end() -> None:
    with pytest.raises(ValueError, match="out-of-range"):
        rewrite("url(a)", [(Reference(4, 40, "a", 1, URL, ""), "b")])


def test_rewrite_refuses_unwritable_value() -> None:
    text = "//# sourceMappingURL=a.map"
    (reference,) = js_references(text)
    with pytest.raises(ValueError, match="white space"):
        rewrite(text, [(reference, "a b.map")])


# --- Large inputs (a linear scan; no time is asserted) ----------------------------------------

REPEATS = 20_000


def test_css_references_large_input() -> None:
    block = '.r{background:url(img/r.png)} /* url(no.png) */ .s{content:"url(no.png)"}\n'
    references = css_references(block * REPEATS)
    assert len(references) == REPEATS
    assert {reference.value for reference in references} == {"img/r.png"}
    assert references[-1].line == REPEATS
    assert references[-1].start == (REPEATS - 1) * len(block) + len(".r{background:url(")


def test_js_references_large_minified_input() -> None:
    block = 'import("./m.js");var s="import(\'./no.js\')",r=/import("no")/g,t=`import("no")`;x=a/b/c;'
    references = js_references(block * REPEATS)
    assert len(references) == REPEATS
    assert {reference.value for reference in references} == {"./m.js"}
    assert {reference.line for reference in references} == {1}
    assert references[-1].start == (REPEATS - 1) * len(block) + len('import("')
