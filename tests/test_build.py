"""``staticwrap build`` (staticwrap/build.py) on real trees: rewriting, manifest, variants, reruns, CLI.

Every expected hashed name is derived here, never read from the build's
output: the SHA-256 of the bytes the target file is expected to have after
its own references are rewritten, 12 hex characters inserted before the last
extension, worked out leaves first.
"""

from __future__ import annotations

import base64
import cProfile
import gzip
import hashlib
import json
import os
import posixpath
import pstats
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from staticwrap.build import BuildError, BuildResult, build
from staticwrap.cli import main
from staticwrap.errors import StaticwrapError, StaticwrapWarning
from staticwrap.manifest import read_manifest
from tests.conftest import MTIME, content_tag, write
from tests.test_hardening import DAC_CAPABILITIES

DECODERS: dict[str, Callable[[bytes], bytes]] = {
    ".br": brotli.decompress,
    ".gz": gzip.decompress,
    ".zst": lambda data: zstandard.ZstdDecompressor().decompress(data),
}
SIBLING_SUFFIXES = (".br", ".zst", ".zstd", ".gz")
MANIFEST = "staticwrap.json"

#: Text that compresses well, so every coding keeps a variant.
COMPRESSIBLE_JS = "".join(f"export const value{i} = {i * 7} + {i};\n" for i in range(200))

# -- helpers -------------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def with_hash(path: str, data: bytes) -> str:
    """``path`` (a logical name or a reference as written) with the hash of ``data`` put into its file name."""
    head, slash, base = path.rpartition("/")
    stem, dot, extension = base.rpartition(".")
    new_base = f"{stem}.{digest(data)}.{extension}" if dot and stem else f"{base}.{digest(data)}"
    return head + slash + new_base


def encoded(text: str) -> bytes:
    # surrogateescape: a template may stand for bytes that are not UTF-8.
    return text.encode("utf-8", "surrogateescape")


def make_tree(root: Path, files: Mapping[str, bytes | str]) -> Path:
    for name, content in files.items():
        write(root, name, content)
    return root


def run(src: Path, dest: Path, **options: Any) -> BuildResult:
    options.setdefault("jobs", 1)
    return build(src, dest, **options)


def built_files(dest: Path) -> set[str]:
    """Every file under ``dest``, relative and ``/``-separated, manifest and siblings included."""
    return {path.relative_to(dest).as_posix() for path in dest.rglob("*") if path.is_file()}


def outputs(dest: Path) -> set[str]:
    """The built files under ``dest`` that are neither the manifest nor a compressed sibling."""
    return {name for name in built_files(dest) if name != MANIFEST and not name.endswith(SIBLING_SUFFIXES)}


def load_manifest(dest: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    return data


def hashed_names(dest: Path) -> dict[str, str]:
    return {name: record["hashed"] for name, record in load_manifest(dest)["files"].items()}


def snapshot(dest: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each file under ``dest``: (mtime_ns, inode, bytes)."""
    found = {}
    for name in built_files(dest):
        path = dest / name
        st = path.stat()
        found[name] = (st.st_mtime_ns, st.st_ino, path.read_bytes())
    return found


# -- the targets that the rewriting tables refer to -----------------------------------------

PNG_A = b"\x89PNG\r\n\x1a\n" + b"image a" * 10
PNG_B = b"\x89PNG\r\n\x1a\n" + b"image b" * 10
BASE_CSS = b"p { color: #333; }\n"
UTIL_JS = b"export const u = 1;\nexport default 0;\n"
LAZY_JS = b"export default function later() {}\n"
DATA_JSON = b'{"n": 1}\n'
Z_JS = b"export const z = 26;\n"
# Written compact, as the build writes maps, so that its bytes are its output too.
CSS_MAP = b'{"version":3,"sources":[],"names":[],"mappings":""}'
JS_MAP = b'{"version":3,"sources":[],"names":[],"mappings":"AAAA"}'

#: Leaves (no references of their own): their output is their source.
TARGETS: dict[str, bytes] = {
    "img/a.png": PNG_A,
    "img/b.png": PNG_B,
    "css/base.css": BASE_CSS,
    "css/app.css.map": CSS_MAP,
    "js/util.js": UTIL_JS,
    "js/lazy.js": LAZY_JS,
    "js/data.json": DATA_JSON,
    "js/main.js.map": JS_MAP,
    "lib/z.js": Z_JS,
}

#: Placeholder → (the reference as written in css/app.css or js/main.js, the file it names).
TOKENS: dict[str, tuple[str, str]] = {
    "<A>": ("../img/a.png", "img/a.png"),
    "<B>": ("../img/b.png", "img/b.png"),
    "<BASE>": ("base.css", "css/base.css"),
    "<CSSMAP>": ("app.css.map", "css/app.css.map"),
    "<U>": ("./util.js", "js/util.js"),
    "<L>": ("./lazy.js", "js/lazy.js"),
    "<J>": ("./data.json", "js/data.json"),
    "<JSMAP>": ("main.js.map", "js/main.js.map"),
    "<ABS>": ("/js/util.js", "js/util.js"),
    "<Z>": ("../lib/z.js", "lib/z.js"),
}


def source_of(template: str) -> str:
    for token, (written, _) in TOKENS.items():
        template = template.replace(token, written)
    return template


def expected_of(template: str) -> str:
    for token, (written, name) in TOKENS.items():
        template = template.replace(token, with_hash(written, TARGETS[name]))
    return template


def build_one(tmp_path: Path, name: str, text: str, **options: Any) -> tuple[Path, bytes]:
    """Build the targets plus ``name`` holding ``text``; return DEST and the bytes ``name`` came out as."""
    src = make_tree(tmp_path / "src", {**TARGETS, name: encoded(text)})
    dest = tmp_path / "dest"
    run(src, dest, **options)
    return dest, (dest / name).read_bytes()


# -- every reference form is rewritten -----------------------------------------------------

CSS_FORMS = [
    pytest.param("a { background: url(<A>) }\n", id="url-unquoted"),
    pytest.param("a { background: url('<A>') }\n", id="url-single-quotes"),
    pytest.param('a { background: url("<A>") }\n', id="url-double-quotes"),
    pytest.param("a { background: url(  <A>  ) }\n", id="url-spaces-inside"),
    pytest.param('a { background: url( "<A>"\t) }\n', id="url-quoted-spaces-inside"),
    pytest.param("a { background: url(\n  <A>\n) }\n", id="url-newlines-inside"),
    pytest.param("a { background: URL(<A>) }\n", id="url-upper-case"),
    pytest.param("a { background: url(<A>), url('<B>') }\n", id="two-urls"),
    pytest.param("a{background:url(<A>)}b{background:url(<B>)}", id="minified"),
    pytest.param('@import "<BASE>";\n', id="import-double-quotes"),
    pytest.param("@import '<BASE>';\n", id="import-single-quotes"),
    pytest.param("@import url(<BASE>);\n", id="import-url"),
    pytest.param('@import url("<BASE>") screen and (min-width: 40em);\n', id="import-url-quoted-media"),
    pytest.param('@import "<BASE>" layer(base);\n', id="import-layer"),
    pytest.param("@IMPORT '<BASE>';\n", id="import-upper-case"),
    pytest.param('a { background-image: image-set("<A>" 1x, "<B>" 2x); }\n', id="image-set-strings"),
    pytest.param("a { background-image: image-set('<A>' 1x, '<B>' 2x); }\n", id="image-set-single-quotes"),
    pytest.param('a { background-image: image-set(url(<A>) 1x, url("<B>") 2x); }\n', id="image-set-urls"),
    pytest.param('a { background-image: image-set("<A>" type("image/png") 1x); }\n', id="image-set-type"),
    pytest.param('a { background-image: -webkit-image-set("<A>" 1x, url(<B>) 2x); }\n', id="webkit-image-set"),
    pytest.param("@font-face { font-family: F; src: url(<A>) format('woff2'); }\n", id="font-face"),
    pytest.param("a {}\n/*# sourceMappingURL=<CSSMAP> */\n", id="source-map"),
    pytest.param("a {}\r\nb { background: url(<A>) }\r\n", id="crlf"),
    pytest.param("\ufeff@import '<BASE>';\n", id="byte-order-mark"),
    pytest.param("/* caf\udce9 */ a { background: url(<A>) }\n", id="not-utf-8"),
]


@pytest.mark.parametrize("template", CSS_FORMS)
def test_build_css_reference_form_rewritten(tmp_path: Path, template: str) -> None:
    expected = encoded(expected_of(template))
    dest, _ = build_one(tmp_path, "css/app.css", source_of(template))
    assert (dest / with_hash("css/app.css", expected)).read_bytes() == expected


JS_FORMS = [
    pytest.param('import u from "<U>";\n', id="import-default"),
    pytest.param("import { u } from '<U>';\n", id="import-named"),
    pytest.param('import {\n  u as v,\n  default as w,\n} from "<U>";\n', id="import-named-multiline"),
    pytest.param('import * as m from "<U>";\n', id="import-namespace"),
    pytest.param('import d, { u } from "<U>";\n', id="import-default-and-named"),
    pytest.param('import d, * as m from "<U>";\n', id="import-default-and-namespace"),
    pytest.param('import "<U>";\n', id="import-side-effect"),
    pytest.param("import '<U>';\n", id="import-side-effect-single-quotes"),
    pytest.param('import data from "<J>" with { type: "json" };\n', id="import-attributes"),
    pytest.param('export { u } from "<U>";\n', id="export-named-from"),
    pytest.param('export { u as default } from "<U>";\n', id="export-default-from"),
    pytest.param('export * from "<U>";\n', id="export-star"),
    pytest.param('export * as m from "<U>";\n', id="export-star-as"),
    pytest.param('const m = import("<L>");\n', id="dynamic-double-quotes"),
    pytest.param("const m = await import('<L>');\n", id="dynamic-single-quotes"),
    pytest.param("const m = import(`<L>`);\n", id="dynamic-template"),
    pytest.param('const m = import( "<L>" );\n', id="dynamic-spaces"),
    pytest.param('import("<J>", { with: { type: "json" } });\n', id="dynamic-with-options"),
    pytest.param('const url = new URL("<A>", import.meta.url);\n', id="new-url"),
    pytest.param("fetch(new URL('<A>', import.meta.url).href);\n", id="new-url-single-quotes"),
    pytest.param("export {};\n//# sourceMappingURL=<JSMAP>\n", id="source-map"),
    pytest.param("export {};\n//@ sourceMappingURL=<JSMAP>\n", id="source-map-old-at"),
    pytest.param('import "<ABS>";\n', id="absolute"),
    pytest.param('import z from "<Z>";\n', id="parent-directory"),
    pytest.param('import{u}from"<U>";export*from"<U>";import("<L>");', id="minified"),
    pytest.param('import "<U>";\r\nimport("<L>");\r\n', id="crlf"),
]


@pytest.mark.parametrize("template", JS_FORMS)
def test_build_js_reference_form_rewritten(tmp_path: Path, template: str) -> None:
    expected = encoded(expected_of(template))
    dest, _ = build_one(tmp_path, "js/main.js", source_of(template))
    assert (dest / with_hash("js/main.js", expected)).read_bytes() == expected


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("a {}\n", id="no-references"),
        pytest.param("a { background: url(<A>) }\n", id="one-reference"),
    ],
)
def test_build_keeps_original_name_with_same_bytes(tmp_path: Path, template: str) -> None:
    _, original = build_one(tmp_path, "css/app.css", source_of(template))
    assert original == encoded(expected_of(template))


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        # CSS escapes are decoded to find the file, and the new name is written plainly.
        pytest.param("css/app.css", 'a { background: url("../img/\\61.png") }', 'url("<A>")', id="css-escape"),
        pytest.param("js/main.js", 'import "./\\u0075til.js";', 'import "<U>";', id="js-escape"),
    ],
)
def test_build_escaped_reference_rewritten(tmp_path: Path, name: str, text: str, expected: str) -> None:
    _, output = build_one(tmp_path, name, text)
    assert expected_of(expected) in output.decode()


@pytest.mark.parametrize(
    ("file", "written", "expected"),
    [
        pytest.param("img/my image.png", "../img/my%20image.png", "../img/my%20image.<h>.png", id="percent-space"),
        pytest.param("img/my image.png", "'../img/my image.png'", "'../img/my image.<h>.png'", id="quoted-space"),
        pytest.param("img/café.png", "../img/caf%C3%A9.png", "../img/caf%C3%A9.<h>.png", id="percent-utf8"),
        pytest.param("img/café.png", "../img/café.png", "../img/café.<h>.png", id="raw-utf8"),
        pytest.param("img/photo@2x.png", "../img/photo@2x.png", "../img/photo@2x.<h>.png", id="at-sign"),
        pytest.param("img/sprite", "../img/sprite", "../img/sprite.<h>", id="no-extension"),
        pytest.param("img/a.tar.gz", "../img/a.tar.gz", "../img/a.tar.<h>.gz", id="multiple-dots"),
        pytest.param("css/a.png", "./a.png", "./a.<h>.png", id="dot-slash"),
        pytest.param("img/a.png", "../css/../img/a.png", "../css/../img/a.<h>.png", id="dot-dot-inside"),
    ],
)
def test_build_tricky_names_rewritten(tmp_path: Path, file: str, written: str, expected: str) -> None:
    text = f"a {{ background: url({written}) }}"
    src = make_tree(tmp_path / "src", {file: PNG_A, "css/app.css": text})
    run(src, tmp_path / "dest")
    assert (tmp_path / "dest/css/app.css").read_text() == text.replace(written, expected.replace("<h>", digest(PNG_A)))


@pytest.mark.parametrize("name", ["js/main.mjs", "js/main.cjs", "css/APP.CSS", "js/MAIN.JS"])
def test_build_rewrites_by_extension_case_insensitively(tmp_path: Path, name: str) -> None:
    template = '@import "<BASE>";' if name.lower().endswith(".css") else 'import "<U>";'
    _, output = build_one(tmp_path, name, source_of(template))
    assert output == expected_of(template).encode()


@pytest.mark.parametrize("name", ["img/a.svg", "index.html", "data.json", "notes.txt"])
def test_build_other_files_copied_as_they_are(tmp_path: Path, name: str) -> None:
    # Only CSS, JavaScript and source maps are rewritten; HTML keeps the original names.
    text = '<a href="css/base.css">url(../img/a.png) import "./util.js"</a>'
    _, output = build_one(tmp_path, name, text)
    assert output == text.encode()


# -- what is left alone --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("/* a { background: url(../img/a.png) } */\na {}\n", id="comment"),
        pytest.param("/* url(../img/gone.png) @import 'gone.css'; */\n", id="comment-missing"),
        pytest.param('a::before { content: "url(../img/a.png)"; }\n', id="string"),
        pytest.param("a::before { content: 'gone.css'; }\n", id="string-not-in-import"),
        pytest.param("a { background: url(data:image/png;base64,iVBORw0KGgo=) }\n", id="data"),
        pytest.param('a { background: url("data:image/svg+xml,%3Csvg/%3E") }\n', id="data-quoted"),
        pytest.param("a { background: url(http://example.com/a.png) }\n", id="http"),
        pytest.param('@import "https://fonts.example.com/css2?family=Inter";\n', id="https-import"),
        pytest.param("a { background: url(//cdn.example.com/a.png) }\n", id="network-path"),
        pytest.param("rect { fill: url(#gradient) }\n", id="fragment"),
        pytest.param("a { background: url() }\n", id="empty-url"),
        pytest.param("a { background: myurl(../img/gone.png) }\n", id="other-function"),
        pytest.param("a { background: url(../img/gone png) }\n", id="bad-url"),
    ],
)
def test_build_css_non_references_untouched(tmp_path: Path, text: str) -> None:
    dest, _ = build_one(tmp_path, "css/app.css", text)
    assert (dest / with_hash("css/app.css", text.encode())).read_bytes() == text.encode()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("// import x from './gone.js';\nexport {};\n", id="line-comment"),
        pytest.param("/* import('./gone.js') */\nexport {};\n", id="block-comment"),
        pytest.param("const s = \"import x from './gone.js'\";\n", id="string"),
        pytest.param("const s = `import('./gone.js')`;\n", id="template"),
        pytest.param("const m = import(`./${name}.js`);\n", id="template-substitution"),
        pytest.param("const m = import(name);\n", id="variable"),
        pytest.param("const m = import('./' + name);\n", id="expression"),
        pytest.param('import { h } from "preact";\n', id="bare"),
        pytest.param('import debounce from "lodash-es/debounce";\n', id="bare-subpath"),
        pytest.param('import x from "@scope/pkg";\n', id="bare-scoped"),
        pytest.param('const m = import("util.js");\n', id="bare-dynamic-looking-like-a-file"),
        pytest.param('import "https://esm.sh/preact@10";\n', id="https"),
        pytest.param('import "data:text/javascript,export default 1";\n', id="data"),
        pytest.param('import "//cdn.example.com/x.js";\n', id="network-path"),
        pytest.param('const r = /import "\\.\\/gone.js"/g;\n', id="regex"),
        pytest.param("obj.import('./gone.js');\n", id="property-call"),
        pytest.param('new URL("./gone.png", location.href);\n', id="new-url-other-base"),
        pytest.param('const x = require("./gone.js");\n', id="require"),
    ],
)
def test_build_js_non_references_untouched(tmp_path: Path, text: str) -> None:
    dest, _ = build_one(tmp_path, "js/main.js", text)
    assert (dest / with_hash("js/main.js", text.encode())).read_bytes() == text.encode()


# -- queries, fragments, directories, prefixes -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "template"),
    [
        pytest.param("css/app.css", "a { background: url(<A>?v=3) }", id="css-query"),
        pytest.param("css/app.css", "a { background: url('<A>#frag') }", id="css-fragment"),
        pytest.param("css/app.css", "a { background: url(<A>?v=3#x) }", id="css-query-and-fragment"),
        pytest.param("css/app.css", '@import "<BASE>?inline";', id="css-import-query"),
        pytest.param("js/main.js", 'import "<U>?worker";', id="js-query"),
        pytest.param("js/main.js", 'new URL("<A>#frag", import.meta.url);', id="js-fragment"),
    ],
)
def test_build_keeps_query_and_fragment(tmp_path: Path, name: str, template: str) -> None:
    _, output = build_one(tmp_path, name, source_of(template))
    assert output == expected_of(template).encode()


def test_build_rewrites_across_directories(tmp_path: Path) -> None:
    page = 'a { background: url(../../img/a.png) }\n@import "../base.css";\n'
    src = make_tree(tmp_path / "src", {**TARGETS, "css/deep/page.css": page})
    run(src, tmp_path / "dest")
    image, base = with_hash("img/a.png", PNG_A), with_hash("base.css", BASE_CSS)
    expected = f'a {{ background: url(../../{image}) }}\n@import "../{base}";\n'
    assert (tmp_path / "dest/css/deep/page.css").read_text() == expected


def test_build_hashes_in_dependency_order(tmp_path: Path) -> None:
    # app.css -> base.css -> img/a.png: base.css's name is the hash of its rewritten bytes.
    base = "b { background: url(../img/a.png) }\n"
    app = '@import "base.css";\n'
    src = make_tree(tmp_path / "src", {"img/a.png": PNG_A, "css/base.css": base, "css/app.css": app})
    run(src, tmp_path / "dest")
    base_out = base.replace("../img/a.png", "../" + with_hash("img/a.png", PNG_A)).encode()
    app_out = app.replace("base.css", with_hash("base.css", base_out)).encode()
    assert hashed_names(tmp_path / "dest") == {
        "img/a.png": with_hash("img/a.png", PNG_A),
        "css/base.css": with_hash("css/base.css", base_out),
        "css/app.css": with_hash("css/app.css", app_out),
    }


@pytest.mark.parametrize(
    ("prefix", "written", "rewritten"),
    [
        pytest.param("/", "/img/a.png", True, id="root"),
        pytest.param("/static/", "/static/img/a.png", True, id="under-prefix"),
        pytest.param("static", "/static/img/a.png", True, id="prefix-without-slashes"),
        pytest.param("/static", "/static/img/a.png", True, id="prefix-without-trailing-slash"),
        pytest.param("/static/", "/img/a.png", False, id="outside-prefix"),
        pytest.param("/static/", "/other/img/a.png", False, id="other-directory"),
    ],
)
def test_build_absolute_references_and_prefix(tmp_path: Path, prefix: str, written: str, rewritten: bool) -> None:
    text = f"a {{ background: url({written}) }}"
    _, output = build_one(tmp_path, "css/app.css", text, prefix=prefix)
    expected = text.replace(written, with_hash(written, PNG_A)) if rewritten else text
    assert output.decode() == expected


def test_build_shared_target_written_once(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {
        "img/a.png": PNG_A,
        "css/one.css": "a { background: url(../img/a.png) }",
        "css/two.css": "b { background: url('../img/a.png') }",
        "js/main.js": "new URL('../img/a.png', import.meta.url);",
    }
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    assert sorted(name for name in outputs(dest) if name.startswith("img/")) == sorted(
        ["img/a.png", with_hash("img/a.png", PNG_A)]
    )


def test_build_shared_target_both_point_at_it(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {
        "img/a.png": PNG_A,
        "css/one.css": "a { background: url(../img/a.png) }",
        "css/two.css": "b { background: url('../img/a.png') }",
        "js/main.js": "new URL('../img/a.png', import.meta.url);",
    }
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    reference = "../" + with_hash("img/a.png", PNG_A)
    for name in ("css/one.css", "css/two.css", "js/main.js"):
        assert reference in (dest / name).read_text(), name


def test_build_self_reference_is_not_a_cycle(tmp_path: Path) -> None:
    # A file naming itself (an SVG-in-CSS fragment, say) cannot carry its own
    # hash; it is left as written, and the copy under that name exists.
    text = "a { filter: url(app.css#shadow) }"
    _, output = build_one(tmp_path, "css/app.css", text)
    assert output.decode() == text


# -- missing references ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "line", "reference"),
    [
        pytest.param("css/app.css", "a {}\n\nb { background: url(../img/nope.png) }\n", 3, "../img/nope.png", id="css"),
        pytest.param("css/app.css", "a {}\r\n\r\nb { background: url(nope.png) }\r\n", 3, "nope.png", id="css-crlf"),
        pytest.param("css/app.css", '@import "gone.css";\n', 1, "gone.css", id="css-import"),
        pytest.param("js/main.js", 'import "./util.js";\nimport "./nope.js";\n', 2, "./nope.js", id="js-import"),
        pytest.param("js/main.js", "\n\n\nconst m = import('../lib/nope.js');\n", 4, "../lib/nope.js", id="js-dynamic"),
        pytest.param("js/main.js", "export {};\n//# sourceMappingURL=gone.js.map\n", 2, "gone.js.map", id="js-map"),
        pytest.param(
            "css/app.css", "a { background: url(../../../etc/passwd) }", 1, "../../../etc/passwd", id="escape"
        ),
    ],
)
def test_build_missing_reference_strict_error(tmp_path: Path, name: str, text: str, line: int, reference: str) -> None:
    src = make_tree(tmp_path / "src", {**TARGETS, name: text})
    with pytest.raises(BuildError) as raised:
        run(src, tmp_path / "dest")
    message = str(raised.value)
    assert f"{src / name}:{line}:" in message
    assert repr(reference) in message


def test_build_missing_reference_strict_writes_nothing(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {**TARGETS, "css/app.css": "a { background: url(nope.png) }"})
    with pytest.raises(BuildError):
        run(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_build_missing_reference_not_strict_warns(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {**TARGETS, "css/app.css": "a {}\nb { background: url(../img/nope.png) }"})
    with pytest.warns(StaticwrapWarning, match=re.escape(f"{src / 'css/app.css'}:2: '../img/nope.png'")):
        run(src, tmp_path / "dest", strict=False)


def test_build_missing_reference_not_strict_left_as_written(tmp_path: Path) -> None:
    template = "a { background: url(../img/nope.png), url(<A>) }"
    src = make_tree(tmp_path / "src", {**TARGETS, "css/app.css": source_of(template)})
    with pytest.warns(StaticwrapWarning):
        run(src, tmp_path / "dest", strict=False)
    assert (tmp_path / "dest/css/app.css").read_text() == expected_of(template)


def test_build_error_is_a_staticwrap_error() -> None:
    assert issubclass(BuildError, StaticwrapError)


# -- cycles and source maps ------------------------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"a.css": '@import "b.css";', "b.css": '@import "a.css";'}, id="css-import"),
        pytest.param({"a.css": "x { background: url(b.css) }", "b.css": "@import url(a.css);"}, id="css-url"),
    ],
)
def test_build_cycle_error_names_both(tmp_path: Path, files: dict[str, str]) -> None:
    src = make_tree(tmp_path / "src", files)
    with pytest.raises(BuildError, match=r"a\.css -> b\.css -> a\.css"):
        run(src, tmp_path / "dest")


MAIN_JS = "console.log(1);\n//# sourceMappingURL=main.js.map\n"


def map_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def source_map_expectations(source_map: dict[str, Any], sources: list[str]) -> tuple[bytes, dict[str, Any]]:
    """(main.js's expected output, the map's expected final JSON) for a map whose ``file`` is main.js.

    The map's name is the hash of its bytes with ``file`` as written and the
    sources rewritten; ``file`` then names the script's hashed name.
    """
    hashed_map = {**source_map, "sources": sources}
    map_name = with_hash("main.js.map", map_json(hashed_map))
    main_out = MAIN_JS.replace("main.js.map", map_name).encode()
    return main_out, {**hashed_map, "file": with_hash("main.js", main_out)}


SOURCE_MAP = {
    "version": 3,
    "file": "main.js",
    "sources": ["util.js", "../src/main.ts"],
    "names": [],
    "mappings": "AAAA",
}


@pytest.fixture
def source_map_build(tmp_path: Path) -> Path:
    files: dict[str, bytes | str] = {
        "js/main.js": MAIN_JS,
        "js/main.js.map": map_json(SOURCE_MAP),
        "js/util.js": UTIL_JS,
    }
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    return dest


def test_build_source_map_back_reference_not_a_cycle(source_map_build: Path) -> None:
    main_out, _ = source_map_expectations(SOURCE_MAP, [with_hash("util.js", UTIL_JS), "../src/main.ts"])
    assert (source_map_build / with_hash("js/main.js", main_out)).read_bytes() == main_out


def test_build_source_map_file_is_left_as_written(source_map_build: Path) -> None:
    # "file" is informational (ECMA-426); pointing it at the script's hashed
    # name would make the map's hashed name not describe its bytes.
    hashed_map = hashed_names(source_map_build)["js/main.js.map"]
    assert json.loads((source_map_build / hashed_map).read_bytes())["file"] == SOURCE_MAP["file"]


def test_build_source_map_shipped_source_rewritten_unshipped_left(source_map_build: Path) -> None:
    hashed_map = hashed_names(source_map_build)["js/main.js.map"]
    sources = json.loads((source_map_build / hashed_map).read_bytes())["sources"]
    assert sources == [with_hash("util.js", UTIL_JS), "../src/main.ts"]


def test_build_source_map_name_is_hash_with_file_as_written(source_map_build: Path) -> None:
    sources = [with_hash("util.js", UTIL_JS), "../src/main.ts"]
    expected = with_hash("js/main.js.map", map_json({**SOURCE_MAP, "sources": sources}))
    assert hashed_names(source_map_build)["js/main.js.map"] == expected


def test_build_source_map_hashed_name_describes_its_bytes(source_map_build: Path) -> None:
    hashed_map = hashed_names(source_map_build)["js/main.js.map"]
    written = (source_map_build / hashed_map).read_bytes()
    assert hashed_map == with_hash("js/main.js.map", written)
    assert written == map_json({**SOURCE_MAP, "sources": [with_hash("util.js", UTIL_JS), "../src/main.ts"]})


def test_build_source_map_source_root(tmp_path: Path) -> None:
    source_map = {"version": 3, "sourceRoot": "../", "sources": ["js/util.js", "src/main.ts"], "mappings": ""}
    files = {"js/main.js.map": map_json(source_map), "js/util.js": UTIL_JS}
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    sources = json.loads((dest / "js/main.js.map").read_bytes())["sources"]
    assert sources == [with_hash("js/util.js", UTIL_JS), "src/main.ts"]


def test_build_source_map_not_json_warns_and_is_copied(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"js/main.js.map": "not json"})
    with pytest.warns(StaticwrapWarning, match="not valid JSON"):
        run(src, tmp_path / "dest")
    assert (tmp_path / "dest" / with_hash("js/main.js.map", b"not json")).read_bytes() == b"not json"


# -- what is written where -------------------------------------------------------------------


def test_build_hashed_only_writes_no_original_names(tmp_path: Path) -> None:
    template = "a { background: url(<A>) }\n"
    src = make_tree(
        tmp_path / "src", {"img/a.png": PNG_A, "css/app.css": source_of(template), "js/big.js": COMPRESSIBLE_JS}
    )
    dest = tmp_path / "dest"
    run(src, dest, hashed_only=True)
    expected = {
        with_hash("img/a.png", PNG_A),
        with_hash("css/app.css", expected_of(template).encode()),
        with_hash("js/big.js", COMPRESSIBLE_JS.encode()),
    }
    assert outputs(dest) == expected


def test_build_hashed_only_writes_no_original_siblings(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"js/big.js": COMPRESSIBLE_JS})
    dest = tmp_path / "dest"
    run(src, dest, hashed_only=True)
    assert not [name for name in built_files(dest) if name.startswith("js/big.js")]


def test_build_skips_dotfiles_but_not_well_known(tmp_path: Path) -> None:
    files = {".env": "SECRET=1", "css/.hidden.css": "a{}", ".git/config": "x", ".well-known/security.txt": "Contact: x"}
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    assert set(load_manifest(dest)["files"]) == {".well-known/security.txt"}


def test_build_source_file_named_like_manifest_error(tmp_path: Path) -> None:
    # DEST/staticwrap.json is the manifest: a source file of that name would be
    # overwritten by it (and rewritten by every build); refuse the tree instead.
    src = make_tree(tmp_path / "src", {"staticwrap.json": '{"app": "settings"}', "a.css": "a {}"})
    with pytest.raises(BuildError, match=r"staticwrap\.json"):
        run(src, tmp_path / "dest")


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        pytest.param("src", "src/out", "inside SRC", id="dest-inside-src"),
        pytest.param("src", "src/a/b/out", "inside SRC", id="dest-deep-inside-src"),
        pytest.param("src", "src", "inside SRC", id="same-directory"),
        pytest.param("out/src", "out", "inside DEST", id="src-inside-dest"),
    ],
)
def test_build_nested_directories_error(tmp_path: Path, source: str, destination: str, message: str) -> None:
    make_tree(tmp_path / source, {"a.css": "a {}"})
    with pytest.raises(BuildError, match=message):
        run(tmp_path / source, tmp_path / destination)


def test_build_sibling_directories_with_common_prefix_allowed(tmp_path: Path) -> None:
    # "src-out" starts with "src" but is not inside it.
    make_tree(tmp_path / "src", {"a.css": "a {}"})
    assert run(tmp_path / "src", tmp_path / "src-out").files == 1


def test_build_source_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not a directory"):
        run(tmp_path / "missing", tmp_path / "dest")


# -- the manifest ----------------------------------------------------------------------------

MANIFEST_TEMPLATE = "@import '<BASE>';\na { background: url(<A>) }\n" + "".join(
    f".rule-{i} {{ margin: {i % 7}px; }}\n" for i in range(100)
)


@pytest.fixture
def manifest_build(tmp_path: Path) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    """A built tree; returns DEST, the source bytes and the expected output bytes by logical name."""
    sources = {
        "img/a.png": PNG_A,
        "css/base.css": BASE_CSS,
        "css/app.css": source_of(MANIFEST_TEMPLATE).encode(),
        "js/big.js": COMPRESSIBLE_JS.encode(),
        "LICENSE": b"MIT\n" * 50,
        ".well-known/security.txt": b"Contact: mailto:security@example.com\n",
    }
    expected = {**sources, "css/app.css": expected_of(MANIFEST_TEMPLATE).encode()}
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", {**sources, ".env": b"SECRET=1\n"}), dest)
    return dest, sources, expected


ManifestBuild = tuple[Path, dict[str, bytes], dict[str, bytes]]


def test_manifest_version_and_hash_description(manifest_build: ManifestBuild) -> None:
    data = load_manifest(manifest_build[0])
    assert data["version"] == 2
    assert data["hash"] == {"algorithm": "sha256", "length": 12, "alphabet": "0123456789abcdef"}
    assert re.fullmatch(r"staticwrap \S+", data["generator"])


def test_manifest_lists_every_logical_name(manifest_build: ManifestBuild) -> None:
    dest, sources, _ = manifest_build
    assert set(load_manifest(dest)["files"]) == set(sources)


def test_manifest_hashed_names(manifest_build: ManifestBuild) -> None:
    dest, _, expected = manifest_build
    assert hashed_names(dest) == {name: with_hash(name, data) for name, data in expected.items()}


def test_manifest_size(manifest_build: ManifestBuild) -> None:
    dest, _, expected = manifest_build
    for name, record in load_manifest(dest)["files"].items():
        assert record["size"] == len(expected[name]) == (dest / record["hashed"]).stat().st_size, name


def test_manifest_mtime_is_the_outputs_mtime(manifest_build: ManifestBuild) -> None:
    dest, _, _ = manifest_build
    for name, record in load_manifest(dest)["files"].items():
        # The server trusts the manifest only for files with exactly this
        # mtime; the hashed and logical copies share it.
        assert (dest / record["hashed"]).stat().st_mtime_ns == record["mtime"] * 10**9, name
        assert (dest / name).stat().st_mtime_ns == record["mtime"] * 10**9, name


def test_manifest_integrity(manifest_build: ManifestBuild) -> None:
    dest, _, expected = manifest_build
    for name, record in load_manifest(dest)["files"].items():
        sha384 = base64.b64encode(hashlib.sha384(expected[name]).digest()).decode()
        assert record["integrity"] == f"sha384-{sha384}", name


def test_manifest_etag(manifest_build: ManifestBuild) -> None:
    dest, _, expected = manifest_build
    for name, record in load_manifest(dest)["files"].items():
        assert record["etag"] == content_tag(expected[name]), name


def test_manifest_source_is_sha256_of_source(manifest_build: ManifestBuild) -> None:
    dest, sources, _ = manifest_build
    for name, record in load_manifest(dest)["files"].items():
        assert record["source"] == hashlib.sha256(sources[name]).hexdigest(), name


def test_manifest_variants_match_sibling_files(manifest_build: ManifestBuild) -> None:
    dest, _, _ = manifest_build
    suffixes = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}
    listed = 0
    for name, record in load_manifest(dest)["files"].items():
        variants = record.get("variants", {})
        on_disk = {coding for coding, suffix in suffixes.items() if (dest / (record["hashed"] + suffix)).exists()}
        assert set(variants) == on_disk, name
        for coding, variant in variants.items():
            for path in (dest / (record["hashed"] + suffixes[coding]), dest / (name + suffixes[coding])):
                assert variant["size"] == path.stat().st_size, path
                assert variant["etag"] == content_tag(path.read_bytes()), path
            listed += 1
    assert listed >= 3, "the tree has compressible files: some variants must be listed"


def test_manifest_read_back(manifest_build: ManifestBuild) -> None:
    dest, _, expected = manifest_build
    manifest = read_manifest(str(dest))
    assert manifest.hashed_names == {with_hash(name, data) for name, data in expected.items()}


def test_manifest_build_result_matches_file(manifest_build: ManifestBuild, tmp_path: Path) -> None:
    dest, _, _ = manifest_build
    again = run(tmp_path / "src", dest)
    assert {name: record.hashed for name, record in again.manifest.files.items()} == hashed_names(dest)


# -- precompressed variants ------------------------------------------------------------------


def test_build_every_variant_decodes_to_its_file(manifest_build: ManifestBuild) -> None:
    dest, _, _ = manifest_build
    seen = set()
    for name in built_files(dest):
        suffix = os.path.splitext(name)[1]
        if suffix in DECODERS and (dest / name[: -len(suffix)]).is_file():
            assert DECODERS[suffix]((dest / name).read_bytes()) == (dest / name[: -len(suffix)]).read_bytes(), name
            seen.add(suffix)
    assert seen == set(DECODERS)


@pytest.mark.parametrize(
    ("codings", "suffixes"),
    [
        pytest.param(["gzip"], {".gz"}, id="gzip"),
        pytest.param(["br", "zstd"], {".br", ".zst"}, id="br-zstd"),
    ],
)
def test_build_codings_option(tmp_path: Path, codings: list[str], suffixes: set[str]) -> None:
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", {"js/big.js": COMPRESSIBLE_JS}), dest, codings=codings)
    assert {os.path.splitext(name)[1] for name in built_files(dest) if name.endswith(SIBLING_SUFFIXES)} == suffixes


def test_build_min_saving_drops_variants(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    # Hex digits of distinct bytes: no coding makes them 90% smaller.
    run(make_tree(tmp_path / "src", {"a.txt": bytes(range(256)).hex()}), dest, min_saving=0.9)
    assert not [name for name in built_files(dest) if name.endswith(SIBLING_SUFFIXES)]


def test_build_in_parallel_processes(tmp_path: Path) -> None:
    files = {f"js/m{i}.js": COMPRESSIBLE_JS + f"// {i}\n" for i in range(4)}
    dest = tmp_path / "dest"
    build(make_tree(tmp_path / "src", files), dest, jobs=2)
    for name, text in files.items():
        assert gzip.decompress((dest / (with_hash(name, text.encode()) + ".gz")).read_bytes()) == text.encode()


def test_build_progress_called_once_per_file(tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    src = make_tree(tmp_path / "src", {"a.css": "a{}", "js/big.js": COMPRESSIBLE_JS, "img/a.png": PNG_A})
    run(src, tmp_path / "dest", progress=lambda done, total, name: calls.append((done, total, name)))
    assert sorted(done for done, _, _ in calls) == [1, 2, 3]
    assert {total for _, total, _ in calls} == {3}


# -- incremental rebuilds --------------------------------------------------------------------

INCREMENTAL: dict[str, bytes | str] = {
    "img/a.png": PNG_A,
    "img/b.png": PNG_B,
    "css/base.css": "b { background: url(../img/a.png) }\n" + "/* padding */\n" * 20,
    "css/app.css": '@import "base.css";\n' + "a { color: red; }\n" * 20,
    "css/other.css": "o { background: url(../img/b.png) }\n" + "o { color: blue; }\n" * 20,
    "js/main.js": COMPRESSIBLE_JS,
    "js/extra.js": COMPRESSIBLE_JS + "// extra\n",
}


@pytest.fixture
def incremental(tmp_path: Path) -> tuple[Path, Path]:
    src, dest = make_tree(tmp_path / "src", INCREMENTAL), tmp_path / "dest"
    run(src, dest)
    return src, dest


def test_build_rerun_unchanged_writes_nothing(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    assert run(src, dest).written == 0


def test_build_rerun_unchanged_removes_nothing(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    assert run(src, dest).removed == 0


def test_build_rerun_unchanged_files_untouched(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    before = snapshot(dest)
    run(src, dest)
    assert snapshot(dest) == before


def test_build_rerun_unchanged_files_not_rewritten(incremental: tuple[Path, Path]) -> None:
    # ctime changes on any write, even of the same bytes with the mtime put back:
    # a file rewritten in place can be read half-written by a server serving it.
    src, dest = incremental
    before = {name: (dest / name).stat().st_ctime_ns for name in built_files(dest)}
    run(src, dest)
    after = {name: (dest / name).stat().st_ctime_ns for name in built_files(dest)}
    assert {name for name in before if after[name] != before[name]} == set()


def test_build_rerun_unchanged_manifest_untouched(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    st = (dest / MANIFEST).stat()
    data = (dest / MANIFEST).read_bytes()
    run(src, dest)
    after = (dest / MANIFEST).stat()
    assert ((dest / MANIFEST).read_bytes(), after.st_mtime_ns, after.st_ino) == (data, st.st_mtime_ns, st.st_ino)


def test_build_edit_leaf_changes_it_and_its_referrers(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    before = hashed_names(dest)
    write(src, "img/a.png", PNG_A + b"edited")
    run(src, dest)
    after = hashed_names(dest)
    assert {name for name in before if before[name] != after[name]} == {"img/a.png", "css/base.css", "css/app.css"}


def test_build_edit_leaf_writes_only_those(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    write(src, "img/a.png", PNG_A + b"edited")
    assert run(src, dest).written == 3


def test_build_edit_leaf_others_untouched(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    names = hashed_names(dest)
    untouched = [names[name] for name in ("img/b.png", "css/other.css", "js/main.js", "js/extra.js")]
    before = {name: snap for name, snap in snapshot(dest).items() if name.startswith(tuple(untouched))}
    write(src, "img/a.png", PNG_A + b"edited")
    run(src, dest)
    after = snapshot(dest)
    assert {name: after.get(name) for name in before} == before


def test_build_edit_leaf_removes_old_hashed_files(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    before = hashed_names(dest)
    write(src, "img/a.png", PNG_A + b"edited")
    result = run(src, dest, keep=1, keep_for="0")  # no earlier generation kept
    stale = [before[name] for name in ("img/a.png", "css/base.css", "css/app.css")]
    assert [name for name in built_files(dest) if name.startswith(tuple(stale))] == []
    assert result.removed == 3


def test_build_touched_source_manifest_mtime_matches_output(incremental: tuple[Path, Path]) -> None:
    # Same bytes, new mtime: the manifest must still describe the files on
    # disk, or the server stops trusting it (and Last-Modified disagrees).
    src, dest = incremental
    write(src, "js/main.js", COMPRESSIBLE_JS, mtime=MTIME + 100)
    run(src, dest)
    record = load_manifest(dest)["files"]["js/main.js"]
    on_disk = {name: (dest / name).stat().st_mtime_ns for name in ("js/main.js", record["hashed"])}
    assert on_disk == dict.fromkeys(on_disk, record["mtime"] * 10**9)


def test_build_fewer_codings_manifest_still_lists_siblings(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    run(src, dest, codings=["gzip"])
    record = load_manifest(dest)["files"]["js/main.js"]
    suffixes = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}
    on_disk = {coding for coding, suffix in suffixes.items() if (dest / (record["hashed"] + suffix)).exists()}
    assert set(record.get("variants", {})) == on_disk


def test_build_deleted_source_outputs_removed(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    hashed = hashed_names(dest)["js/extra.js"]
    gone = [name + suffix for name in ("js/extra.js", hashed) for suffix in ("", ".br", ".zst", ".gz")]
    assert all((dest / name).is_file() for name in gone), "the variants were written in the first place"
    (src / "js/extra.js").unlink()
    result = run(src, dest, keep=1, keep_for="0")  # no earlier generation kept
    assert [name for name in gone if (dest / name).exists()] == []
    assert result.removed == 2


def test_build_deleted_source_leaves_manifest_without_it(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    (src / "js/extra.js").unlink()
    run(src, dest)
    assert "js/extra.js" not in load_manifest(dest)["files"]


def test_build_never_removes_files_it_did_not_write(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    foreign = {
        "robots.txt": b"User-agent: *\n",
        "css/custom.css": b"x {}\n",
        "img/a.0123456789ab.png": b"looks hashed, was not built",
        "js/extra.js.bak": b"a backup",
        "uploads/photo.jpg": b"\xff\xd8\xff",
    }
    make_tree(dest, foreign)
    write(src, "img/a.png", PNG_A + b"edited")
    (src / "js/extra.js").unlink()
    run(src, dest)
    assert {name: (dest / name).read_bytes() for name in foreign} == foreign


def test_build_hashed_only_rebuild_removes_original_names(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"img/a.png": PNG_A, "css/app.css": "a { background: url(../img/a.png) }"})
    dest = tmp_path / "dest"
    run(src, dest)
    run(src, dest, hashed_only=True)
    assert outputs(dest) == set(hashed_names(dest).values())


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_tree(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "src",
        {"img/a.png": PNG_A, "css/app.css": "a { background: url(../img/a.png) }\n", "js/big.js": COMPRESSIBLE_JS},
    )


def test_cli_build_quiet_prints_nothing(cli_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["build", str(cli_tree), str(tmp_path / "dest"), "--quiet"])
    assert (status, capsys.readouterr()) == (0, ("", ""))


def test_cli_build_quiet_builds(cli_tree: Path, tmp_path: Path) -> None:
    main(["build", str(cli_tree), str(tmp_path / "dest"), "--quiet", "--jobs", "1"])
    assert set(hashed_names(tmp_path / "dest")) == {"img/a.png", "css/app.css", "js/big.js"}


def test_cli_build_prints_summary(cli_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", str(cli_tree), str(tmp_path / "dest"), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "built 3 files: 3 written, 0 unchanged, 0 removed from an earlier build"


def test_cli_build_second_summary(cli_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["build", str(cli_tree), str(tmp_path / "dest"), "--quiet", "--jobs", "1"])
    main(["build", str(cli_tree), str(tmp_path / "dest"), "--jobs", "1"])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "built 3 files: 0 written, 3 unchanged, 0 removed from an earlier build"


def test_cli_build_missing_reference_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_tree(tmp_path / "src", {"css/app.css": "a {}\nb { background: url(nope.png) }"})
    status = main(["build", str(src), str(tmp_path / "dest"), "--quiet"])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.startswith("staticwrap: error: ")
    assert f"{src / 'css/app.css'}:2: 'nope.png'" in err


def test_cli_build_no_strict(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"css/app.css": "b { background: url(nope.png) }"})
    with pytest.warns(StaticwrapWarning, match="nope.png"):
        status = main(["build", str(src), str(tmp_path / "dest"), "--quiet", "--no-strict", "--jobs", "1"])
    assert status == 0


def test_cli_build_nested_directories_exit_2(cli_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["build", str(cli_tree), str(cli_tree / "out"), "--quiet"])
    assert (status, "inside SRC" in capsys.readouterr().err) == (2, True)


def test_cli_build_hashed_only(cli_tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    main(["build", str(cli_tree), str(dest), "--quiet", "--jobs", "1", "--hashed-only"])
    assert outputs(dest) == set(hashed_names(dest).values())


def test_cli_build_prefix(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"img/a.png": PNG_A, "css/app.css": "a { background: url(/static/img/a.png) }"})
    main(["build", str(src), str(tmp_path / "dest"), "--quiet", "--jobs", "1", "--prefix", "/static/"])
    expected = f"a {{ background: url(/static/{with_hash('img/a.png', PNG_A)}) }}"
    assert (tmp_path / "dest/css/app.css").read_text() == expected


def test_cli_build_coding_and_min_saving(cli_tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    main(["build", str(cli_tree), str(dest), "--quiet", "--jobs", "1", "--coding", "gzip", "--min-saving", "0.1"])
    siblings = {name for name in built_files(dest) if name.endswith(SIBLING_SUFFIXES)}
    assert siblings == {"js/big.js.gz", with_hash("js/big.js", COMPRESSIBLE_JS.encode()) + ".gz"}


def test_cli_compress_writes_siblings(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "built", {"js/big.js": COMPRESSIBLE_JS, "img/a.png": PNG_A})
    assert main(["compress", str(root), "--quiet", "--jobs", "1"]) == 0
    assert sorted(name for name in built_files(root) if name.endswith(SIBLING_SUFFIXES)) == [
        "js/big.js.br",
        "js/big.js.gz",
        "js/big.js.zst",
    ]


def test_cli_compress_siblings_decode(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "built", {"js/big.js": COMPRESSIBLE_JS})
    main(["compress", str(root), "--quiet", "--jobs", "1"])
    for suffix, decode in DECODERS.items():
        assert decode((root / f"js/big.js{suffix}").read_bytes()) == COMPRESSIBLE_JS.encode(), suffix


# -- the server's policy, option checks, command line errors -------------------------------


def test_build_publishes_nothing_the_server_would_hide(tmp_path: Path) -> None:
    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "outside"
    write(src, ".env", "SECRET=1")
    write(src, "css/app.css", "a{}")
    write(outside, "private.css", "b{}")
    (src / "css" / "env.txt").symlink_to(src / ".env")
    (src / "leak.css").symlink_to(outside / "private.css")
    (src / "alias").symlink_to(src / "css", target_is_directory=True)
    with pytest.warns(StaticwrapWarning, match="leak.css"):
        build(src, dest, jobs=1)
    names = set(read_manifest(str(dest)).files)
    assert names == {"css/app.css", "alias/app.css"}  # a directory link inside SRC is followed, as the server does
    assert not (dest / "css" / "env.txt").exists()
    assert not (dest / "leak.css").exists()


def test_build_bad_options_fail_before_dest_is_touched(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src, "a.css", "a{}")
    for options in ({"jobs": 0}, {"min_saving": 1.5}, {"codings": ["lzma"]}):
        with pytest.raises(StaticwrapError):
            build(src, dest, **options)
        assert not dest.exists(), options


def test_cli_build_destination_under_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A DEST that cannot be created is the user's choice to fix, told before anything is written.
    src = tmp_path / "src"
    write(src, "a.css", "a{}")
    blocker = write(tmp_path, "file", "not a directory")
    assert main(["build", str(src), str(blocker / "dest"), "--quiet"]) == 2
    assert f"staticwrap: error: DEST {blocker / 'dest'} cannot be created" in capsys.readouterr().err


def test_cli_warnings_read_as_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    write(src, "a.css", "a{background:url(nope.png)}")
    with pytest.warns(StaticwrapWarning):  # still recorded for in-process callers
        assert main(["build", str(src), str(tmp_path / "dest"), "--quiet", "--no-strict"]) == 0
    import warnings

    assert warnings.formatwarning.__module__ == "warnings"  # restored after the command


# -- a build over a DEST that a server is reading -------------------------------------------


def test_build_changed_output_gets_a_new_mtime_and_a_running_server_sees_new_bytes(tmp_path: Path) -> None:
    # a.css names img/b.png; only b.png changes, so a.css's new bytes keep
    # their size (the hash has a fixed length). The server must not keep
    # answering with the old ETag, nor 304 to it.
    from staticwrap import StaticWrap
    from tests.conftest import call

    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src, "a.css", "a{background:url(img/b.png)}")
    write(src, "img/b.png", b"\x89PNG one")
    build(src, dest, jobs=1)
    app = StaticWrap(None, dest)
    before = call(app, "/a.css")
    write(src, "img/b.png", b"\x89PNG two")
    build(src, dest, jobs=1)
    after = call(app, "/a.css")
    assert after.body != before.body
    assert len(after.body) == len(before.body)
    assert after.header("ETag") != before.header("ETag")
    etag = before.header("ETag")
    assert etag is not None
    assert call(app, "/a.css", {"If-None-Match": etag}).code == 200


def test_build_manifest_naming_files_outside_dest_is_refused(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src, "a.css", "a{}")
    victim = write(tmp_path, "victim.txt", "keep me")
    dest.mkdir()
    hostile = {"version": 1, "files": {"x.css": {"hashed": "../victim.txt"}}}
    (dest / "staticwrap.json").write_text(json.dumps(hostile))
    with pytest.raises(StaticwrapError, match="victim"):
        build(src, dest, jobs=1)
    assert victim.read_text() == "keep me"


def test_build_leaves_no_temporary_files(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src, "a.css", "a{color:red}" * 50)
    build(src, dest, jobs=1)
    leftovers = [p.name for p in dest.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_build_dest_symlinked_into_src_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "a.css", "a{}")
    (tmp_path / "dest").symlink_to(src / "dist", target_is_directory=True)
    (src / "dist").mkdir()
    with pytest.raises(BuildError, match="inside SRC"):
        build(src, tmp_path / "dest", jobs=1)


def test_build_refuses_a_second_build_into_the_same_dest(tmp_path: Path) -> None:
    import fcntl

    src, dest = tmp_path / "src", tmp_path / "dest"
    write(src, "a.css", "a{}")
    dest.mkdir()
    holder = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # as a build in another process would
        with pytest.raises(BuildError, match="another staticwrap build"):
            build(src, dest, jobs=1)
    finally:
        os.close(holder)
    build(src, dest, jobs=1)  # free again


def test_build_new_url_argument_is_a_url_not_a_package(tmp_path: Path) -> None:
    # "worker.js" next to the module: new URL() resolves it like any relative
    # URL (WHATWG URL), unlike the bare import specifier "preact".
    src, dest = tmp_path / "src", tmp_path / "dest"
    worker = b"postMessage(1);\n"
    write(src, "js/worker.js", worker)
    write(src, "js/main.js", 'import "preact";\nnew Worker(new URL("worker.js", import.meta.url));\n')
    build(src, dest, jobs=1)
    digest = hashlib.sha256(worker).hexdigest()[:12]
    assert (dest / "js/main.js").read_text() == (
        f'import "preact";\nnew Worker(new URL("worker.{digest}.js", import.meta.url));\n'
    )


# A stylesheet and its map as PostCSS writes them (Bootstrap 5's dist/): the
# map lists the generated stylesheet itself among its sources, next to
# sources that were not shipped.
GRID_CSS = ".row { display: flex }\n/*# sourceMappingURL=grid.css.map */\n"
GRID_MAP = {
    "version": 3,
    "sources": ["../../scss/_grid.scss", "grid.css", "../../scss/mixins/_grid.scss"],
    "names": [],
    "mappings": "AAAA",
    "file": "grid.css",
}


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "no-strict"])
def test_build_map_listing_its_own_generated_file_is_not_a_cycle(tmp_path: Path, strict: bool) -> None:
    files: dict[str, bytes | str] = {"css/grid.css": GRID_CSS, "css/grid.css.map": map_json(GRID_MAP)}
    dest = tmp_path / "dest"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here is worth a warning: unshipped sources are normal
        run(make_tree(tmp_path / "src", files), dest, strict=strict)
    # The map cannot name the stylesheet's hashed name (that name depends on
    # the map's), so that source stays as written: it still resolves to the
    # stylesheet's copy under its own name, next to the map.
    map_name = with_hash("css/grid.css.map", map_json(GRID_MAP))
    assert json.loads((dest / map_name).read_bytes())["sources"] == GRID_MAP["sources"]
    css_out = GRID_CSS.replace("grid.css.map", posixpath.basename(map_name)).encode()
    assert (dest / with_hash("css/grid.css", css_out)).read_bytes() == css_out
    assert (dest / "css/grid.css").read_bytes() == css_out


def test_build_map_source_is_kept_as_an_edge_when_it_leads_nowhere_back(tmp_path: Path) -> None:
    # The map of a.js lists b.js (shipped, not pointing back) and a.js itself:
    # b.js is rewritten to its hashed name, a.js is left as written.
    a_js = "import './b.js';\n//# sourceMappingURL=a.js.map\n"
    a_map = {"version": 3, "sources": ["b.js", "a.js"], "names": [], "mappings": "AAAA"}
    files: dict[str, bytes | str] = {"js/a.js": a_js, "js/a.js.map": map_json(a_map), "js/b.js": UTIL_JS}
    dest = tmp_path / "dest"
    run(make_tree(tmp_path / "src", files), dest)
    rewritten = {**a_map, "sources": [with_hash("b.js", UTIL_JS), "a.js"]}
    assert (dest / with_hash("js/a.js.map", map_json(rewritten))).read_bytes() == map_json(rewritten)


# -- rebuilds trust the previous manifest for unchanged outputs --------------------------------


def main_js_variants(dest: Path) -> dict[str, bytes]:
    hashed = hashed_names(dest)["js/main.js"]
    return {suffix: (dest / (hashed + suffix)).read_bytes() for suffix in (".br", ".zst", ".gz")}


def bytes_read() -> int:
    """What this process has read so far, through any file (Linux: /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
@pytest.mark.parametrize("hashed_only", [True, False], ids=["hashed-only", "both-names"])
def test_build_rerun_reuses_recorded_variants_without_reading_them(tmp_path: Path, hashed_only: bool) -> None:
    words = b"".join(b"v%x = %d;\n" % (n * 2654435761 % 2**32, n) for n in range(40_000))
    src = make_tree(tmp_path / "src", {"js/big.js": words, "css/a.css": "a { color: red }\n" * 50})
    dest = tmp_path / "dest"
    run(src, dest, hashed_only=hashed_only)
    sources = sum(path.stat().st_size for path in src.rglob("*") if path.is_file())
    variants = sum(path.stat().st_size for path in dest.rglob("*") if path.suffix in {".br", ".zst", ".gz"})
    outputs = sum(path.stat().st_size for path in dest.rglob("*") if path.suffix in {".js", ".css"})
    manifest = (dest / MANIFEST).stat().st_size
    before = bytes_read()
    result = run(src, dest, hashed_only=hashed_only)
    read = bytes_read() - before
    assert all(set(r.reused) == set(r.sizes) and r.sizes for r in result.compressed)
    # The sources are read, the outputs compared and the manifests read; the
    # variants (and their copies under the original names), which the
    # manifest's records still describe, are not read at all. Checking them
    # by decoding or comparing would read them all on top.
    expected = sources + outputs + 2 * manifest + 64 * 1024
    assert read <= expected < sources + outputs + variants // 2, (read, sources, outputs, variants)


@pytest.mark.parametrize("damage", ["truncated", "removed", "stray-zstd"])
def test_build_rerun_repairs_variants_that_differ_from_the_manifest(
    incremental: tuple[Path, Path], damage: str
) -> None:
    # Only a variant with the size and time the build recorded is trusted;
    # anything else is checked (decoded) and written again.
    src, dest = incremental
    hashed = dest / hashed_names(dest)["js/main.js"]
    good = main_js_variants(dest)
    if damage == "truncated":
        brotli_file = Path(f"{hashed}.br")
        st = brotli_file.stat()
        brotli_file.write_bytes(good[".br"][:-10])
        os.utime(brotli_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif damage == "removed":
        Path(f"{hashed}.gz").unlink()
    else:
        write(hashed.parent, hashed.name + ".zstd", zstandard.ZstdCompressor().compress(b"old"))
    run(src, dest)
    assert main_js_variants(dest) == good
    assert not Path(f"{hashed}.zstd").exists()


def test_build_rerun_with_fewer_codings_or_a_higher_saving_drops_variants(incremental: tuple[Path, Path]) -> None:
    src, dest = incremental
    hashed = dest / hashed_names(dest)["js/main.js"]
    run(src, dest, codings=("gzip",))
    assert not Path(f"{hashed}.br").exists()
    assert Path(f"{hashed}.gz").exists()
    run(src, dest, codings=("gzip",), min_saving=0.999)
    assert not Path(f"{hashed}.gz").exists()
    assert load_manifest(dest)["files"]["js/main.js"].get("variants", {}) == {}


def encodings_made(action: Callable[[], object]) -> int:
    """How many times ``action`` (a build in this process, jobs=1) encoded a file, seen by the profiler."""
    profiler = cProfile.Profile()
    profiler.runcall(action)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return sum(
        calls for (filename, _, name), (calls, *_) in stats.items() if name == "encode" and "compress" in filename
    )


def test_build_rerun_encodes_nothing_when_a_coding_saved_too_little(tmp_path: Path) -> None:
    # Random bytes and a 12-byte file: no coding saves the 5% asked for.
    src = make_tree(
        tmp_path / "src", {"noise.js": os.urandom(20_000), "tiny.css": "a{color:red}", "big.txt": "ab" * 5000}
    )
    dest = tmp_path / "dest"
    run(src, dest)
    files = load_manifest(dest)["files"]
    for name, size in (("noise.js", 20_000), ("tiny.css", 12)):
        # Tried, not kept, and recorded with a size that did not save enough.
        assert "variants" not in files[name]
        assert set(files[name]["unkept"]) == {"br", "zstd", "gzip"}
        assert all(compressed > 0.95 * size for compressed in files[name]["unkept"].values())
    assert "unkept" not in files["big.txt"]

    assert encodings_made(lambda: run(src, dest)) == 0
    assert load_manifest(dest)["files"] == files


def test_build_rerun_with_a_lower_saving_encodes_again_what_would_now_be_kept(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"app.css": "a { color: red }\n" * 50})
    dest = tmp_path / "dest"
    run(src, dest, min_saving=0.999)
    hashed = dest / hashed_names(dest)["app.css"]
    assert not Path(f"{hashed}.br").exists()

    assert encodings_made(lambda: run(src, dest)) > 0
    assert brotli.decompress(Path(f"{hashed}.br").read_bytes()) == hashed.read_bytes()
    assert "unkept" not in load_manifest(dest)["files"]["app.css"]


# -- unreadable entries ----------------------------------------------------------------------


def run_without_read_capabilities(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m staticwrap ARGS`` unable to read what its modes forbid, even as root (setpriv)."""
    command = [sys.executable, "-m", "staticwrap", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv(1) is not installed (util-linux): root would read every file")
        command = [setpriv, f"--inh-caps={DAC_CAPABILITIES}", f"--bounding-set={DAC_CAPABILITIES}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 and done.stderr.startswith("setpriv"):
        pytest.skip(f"setpriv cannot drop capabilities here: {done.stderr.strip()}")
    return done


@pytest.mark.parametrize("locked", ["fonts", "css/locked.css"], ids=["directory", "file"])
def test_build_strict_stops_at_an_unreadable_entry_and_no_strict_skips_it(tmp_path: Path, locked: str) -> None:
    src = make_tree(
        tmp_path / "src",
        {"css/site.css": "a { color: red }\n", "css/locked.css": "b {}\n", "fonts/a.woff2": b"wOF2" + bytes(60)},
    )
    (src / locked).chmod(0o000)
    try:
        strict = run_without_read_capabilities(["build", "--quiet", "--jobs", "1", str(src), str(tmp_path / "strict")])
        lenient = run_without_read_capabilities(
            ["build", "--quiet", "--jobs", "1", "--no-strict", str(src), str(tmp_path / "lenient")]
        )
    finally:
        (src / locked).chmod(0o755)
    assert strict.returncode == 2, strict.stderr
    assert f"staticwrap: error: {src / locked} cannot be" in strict.stderr
    assert "--no-strict" in strict.stderr
    assert not (tmp_path / "strict").exists()
    assert lenient.returncode == 0, lenient.stderr
    assert f"{src / locked} cannot be" in lenient.stderr
    assert "warning" in lenient.stderr
    assert (tmp_path / "lenient" / "css" / "site.css").read_text() == "a { color: red }\n"
    assert not (tmp_path / "lenient" / locked).exists()


@pytest.mark.parametrize("hashed_only", [False, True])
def test_build_refuses_a_source_named_like_another_files_hashed_copy(tmp_path: Path, hashed_only: bool) -> None:
    # app.css's hashed copy is app.<12 hex of its SHA-256>.css: a source file
    # already called that would be overwritten by it (its own bytes lost).
    content = b"a { color: red }"
    taken = f"app.{hashlib.sha256(content).hexdigest()[:12]}.css"
    write(tmp_path / "src", "app.css", content)
    write(tmp_path / "src", taken, b"b { color: blue }")
    dest = tmp_path / "dest"
    if hashed_only:
        # Only hashed copies are written, and theirs differ: nothing clashes.
        build(tmp_path / "src", dest, hashed_only=True)
        manifest = read_manifest(str(dest))
        for name, data in (("app.css", content), (taken, b"b { color: blue }")):
            assert (dest / manifest.files[name].hashed).read_bytes() == data
        return
    with pytest.raises(BuildError) as raised:
        build(tmp_path / "src", dest)
    message = str(raised.value)
    assert "app.css" in message
    assert taken in message
    assert "rename" in message
    assert not dest.exists()
