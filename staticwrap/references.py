"""Find the URL references inside CSS and JavaScript text, and write new ones in their place.

Pure: text in, spans out. Nothing here opens a file, resolves a path or decides
whether a reference is local; ``staticwrap build`` does that with each value.

Both scanners are single forward passes. A compiled pattern jumps to the next
character that can change the meaning of what follows (a quote, a slash, a
backslash, a keyword); strings, comments and ``url()`` tokens are then consumed
whole by patterns whose alternatives start with different characters, so each
match takes time linear in the text it covers; lookaheads after keywords are
bounded by the grammar of what may follow them.

Line numbers count ``\\n``, ``\\r\\n`` and ``\\r`` as line breaks, as editors do
(not CSS's form feed, nor JavaScript's U+2028 and U+2029).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

CSS_URL = "css-url"
CSS_STRING = "css-string"
JS_STRING = "js-string"
#: The first argument of ``new URL("...", import.meta.url)``: a URL, resolved
#: like any relative reference, unlike an import specifier ("worker.js" is a
#: file next to the module, not a package).
JS_URL = "js-url"
COMMENT = "comment"


class Reference(NamedTuple):
    """A reference as written in a CSS or JavaScript text.

    ``text[start:end]`` is the reference exactly as written, inside its quotes
    or parentheses; ``value`` is that text with its escapes decoded. ``kind``
    says where it is written (one of ``"css-url"``, ``"css-string"``,
    ``"js-string"``, ``"comment"``) and ``quote`` which quote encloses it
    (``"`` or ``'``, or a backtick for a template literal; ``""`` for the
    other kinds).
    """

    start: int
    end: int
    value: str
    line: int
    kind: str
    quote: str


# (start, end, value, kind, quote): a Reference before its line is known.
_Found = tuple[int, int, str, str, str]

# The source map comment (ECMA-426, the source map format): "#" (or the older "@"), then the URL.
# The value ends at any white space, which a URL cannot contain unescaped.
_SOURCE_MAP = re.compile(r"[#@][ \t]*sourceMappingURL=([^\s\ufeff]*)")


def _end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """The end of ``pattern`` matched at ``pos``, for patterns that match the empty string."""
    match = pattern.match(text, pos)
    assert match is not None
    return match.end()


def _source_map(text: str, start: int, end: int, found: list[_Found]) -> None:
    """Record a source map URL if the comment body ``text[start:end]`` is one."""
    match = _SOURCE_MAP.match(text, start, end)
    if match and match.group(1):
        found.append((match.start(1), match.end(1), match.group(1), COMMENT, ""))


def _with_lines(text: str, found: list[_Found]) -> list[Reference]:
    references: list[Reference] = []
    line, last = 1, 0
    for start, end, value, kind, quote in found:
        # No reference starts with "\n", so no "\r\n" pair straddles `last`.
        line += text.count("\n", last, start) + text.count("\r", last, start) - text.count("\r\n", last, start)
        last = start
        references.append(Reference(start, end, value, line, kind, quote))
    return references


# --- CSS (CSS Syntax Module Level 3, §4 Tokenization) -------------------------------------

# whitespace = newline / U+0009 / U+0020; newline = LF / CR LF / CR / FF (after §3.3 preprocessing)
_CSS_SPACE = re.compile(r"[ \t\n\r\f]*")
# escape = "\" ( 1*6 hex-digit [whitespace] / any code point but newline or hex digit )
_HEX_ESCAPE = r"[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?"
# Outside strings "\" + newline is not an escape (§4.3.8): the "\" is a lone delim.
_CSS_CODE_ESCAPE = re.compile(rf"\\(?:{_HEX_ESCAPE}|[^\n\r\f]|\Z)")
_CSS_STRINGS = {
    # §4.3.5: inside a string "\" + newline is a line continuation; an unescaped newline ends a bad string.
    quote: re.compile(
        rf"{quote}([^{quote}\\\n\r\f]*(?:\\(?:{_HEX_ESCAPE}|\r\n|[\s\S]|\Z)[^{quote}\\\n\r\f]*)*)({quote})?"
    )
    for quote in "\"'"
}
# §4.3.6: a url token ends at ")" (or EOF), after optional whitespace; a quote, "(", a
# non-printable code point or whitespace followed by anything else make a bad url.
_CSS_URL_CHARS = r"[^\"'()\\ \t\n\r\f\x01-\x08\x0b\x0e-\x1f\x7f]*"
_CSS_URL_BODY = re.compile(rf"{_CSS_URL_CHARS}(?:\\(?:{_HEX_ESCAPE}|[^\n\r\f]|\Z){_CSS_URL_CHARS})*")
# §4.3.14: skip to ")" or EOF, stepping over escapes so that "\)" does not end it.
_CSS_BAD_URL_REST = re.compile(r"[^)\\]*(?:\\[\s\S]?[^)\\]*)*\)?")
_CSS_DECODE = re.compile(r"\\(?:([0-9A-Fa-f]{1,6})(?:\r\n|[ \t\n\r\f])?|(\r\n|[\n\r\f])|([\s\S]))|\\\Z|\x00")
# ASCII-only case folding: with re.IGNORECASE alone, "K" (KELVIN SIGN) would match "k".
_CSS_FLAGS = re.IGNORECASE | re.ASCII
_CSS_STOPS = r"/\*|[\"'\\]|url\(|@import|(?:-webkit-)?image-set\("
_CSS_JUMP = re.compile(_CSS_STOPS, _CSS_FLAGS)
# Inside image-set() the parentheses are counted, to know which strings are its own arguments.
_CSS_JUMP_IN_SET = re.compile(_CSS_STOPS + r"|[()]", _CSS_FLAGS)


def _css_name_char(char: str) -> bool:
    # ident code point (§4.2): letter, digit, "_", "-" or any non-ASCII code point
    return not char.isascii() or char.isalnum() or char in "_-"


def _css_unescape(raw: str, *, in_string: bool) -> str:
    def decode(match: re.Match[str]) -> str:
        hex_digits, newline, char = match.groups()
        if hex_digits is not None:
            code = int(hex_digits, 16)
            # §4.3.7: zero, a surrogate or past the last code point is U+FFFD.
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        if newline is not None:
            return ""  # line continuation inside a string
        if char is not None and char != "\x00":
            return char
        if match.group() == "\\":
            # "\" at EOF: ignored in a string (§4.3.5), U+FFFD in a url (§4.3.7).
            return "" if in_string else "\ufffd"
        return "\ufffd"  # NUL, escaped or not (§3.3 preprocessing)

    if "\\" not in raw and "\x00" not in raw:
        return raw
    return _CSS_DECODE.sub(decode, raw)


def _skip_css_trivia(text: str, pos: int) -> int:
    while True:
        pos = _end(_CSS_SPACE, text, pos)
        if not text.startswith("/*", pos):
            return pos
        end = text.find("*/", pos + 2)
        if end < 0:
            return len(text)
        pos = end + 2


def _css_url(text: str, pos: int, found: list[_Found], pending: set[int], sets: list[int]) -> int:
    """Read what follows ``url(`` at ``pos``; return where scanning resumes."""
    start = _end(_CSS_SPACE, text, pos)
    if text[start : start + 1] in ("'", '"'):
        # url( <string> ... ): a function token (§4.3.4); its string is the reference.
        pending.add(start)
        if sets:
            sets[-1] += 1
        return start
    end = _end(_CSS_URL_BODY, text, start)
    after = _end(_CSS_SPACE, text, end)
    if after < len(text) and text[after] != ")":
        return _end(_CSS_BAD_URL_REST, text, after)
    if end > start:  # url() and url( ) hold nothing to rewrite
        found.append((start, end, _css_unescape(text[start:end], in_string=False), CSS_URL, ""))
    return after + 1


def css_references(text: str) -> list[Reference]:
    """Find the references in a CSS text, in document order.

    These are the values of ``url()`` (quoted or not), the string of
    ``@import``, the strings that are direct arguments of ``image-set()`` and
    ``-webkit-image-set()``, and ``/*# sourceMappingURL=... */``. Empty values
    and bad urls are skipped. Tokens are read as CSS Syntax Level 3 reads them,
    so that text inside comments and other strings is never taken for a
    reference.
    """
    found: list[_Found] = []
    pending: set[int] = set()  # starts of strings already known to be references
    sets: list[int] = []  # per open image-set(): the depth of parentheses inside it
    escape_end = -1  # where the last escape outside a string ended
    pos = 0
    while match := (_CSS_JUMP_IN_SET if sets else _CSS_JUMP).search(text, pos):
        start = match.start()
        char = text[start]
        if char == "/":
            end = text.find("*/", start + 2)
            _source_map(text, start + 2, len(text) if end < 0 else end, found)
            pos = len(text) if end < 0 else end + 2
        elif char in "\"'":
            string = _CSS_STRINGS[char].match(text, start)
            assert string is not None  # the pattern matches any quote
            pos = string.end()
            # A string that ends at a newline is a bad string (§4.3.5); at EOF it is still a string.
            good = string.group(2) is not None or pos == len(text)
            if good and string.group(1) and (start in pending or (sets and sets[-1] == 0)):
                value = _css_unescape(string.group(1), in_string=True)
                if value:  # "\<newline>" alone decodes to nothing
                    found.append((start + 1, string.end(1), value, CSS_STRING, char))
        elif char == "\\":
            escape = _CSS_CODE_ESCAPE.match(text, start)
            pos = escape_end = escape.end() if escape else start + 1
        elif char == "(":
            sets[-1] += 1
            pos = start + 1
        elif char == ")":
            if sets[-1]:
                sets[-1] -= 1
            else:
                sets.pop()
            pos = start + 1
        elif char == "@":
            pos = match.end()
            if not (pos < len(text) and (_css_name_char(text[pos]) or _CSS_CODE_ESCAPE.match(text, pos))):
                after = _skip_css_trivia(text, pos)
                if text[after : after + 1] in ("'", '"'):
                    pending.add(after)
        elif start == escape_end or (start > 0 and (_css_name_char(text[start - 1]) or text[start - 1] in "@#")):
            # The tail of a longer name ("myurl(", "#url(", "a\(url("): only its "(" counts.
            pos = match.end() - 1
        elif char in "uU":
            pos = _css_url(text, match.end(), found, pending, sets)
        else:
            sets.append(0)
            pos = match.end()
    return _with_lines(text, found)


# --- JavaScript (ECMAScript 2025, §12 Lexical Grammar) -------------------------------------

# WhiteSpace and LineTerminator (§12.2, §12.3)
_JS_BLANK = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_BLANK_CHARS = (
    "\t\n\v\f\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_TRIVIA_FIRST = frozenset(_JS_BLANK_CHARS + "/")
_JS_LINE_REST = re.compile(r"[^\n\r\u2028\u2029]*")
_JS_IDENT = re.compile(r"[\w$]+")
# White space and comments. A block comment is matched in the unrolled form ("*" runs,
# then anything but "/"), which fails on an unclosed comment without backtracking.
_JS_TRIVIA = re.compile(rf"(?:[{_JS_BLANK}]+|//[^\n\r\u2028\u2029]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)*")
_JS_STRINGS = {
    # §12.9.4: no unescaped CR or LF inside; "\" + any code point (a line terminator is a continuation).
    quote: re.compile(rf"{quote}([^{quote}\\\n\r]*(?:\\(?:\r\n|[\s\S])[^{quote}\\\n\r]*)*)({quote})?")
    for quote in "\"'"
}
# §12.9.6: template characters up to "`" (the end) or "${" (a substitution).
_JS_TEMPLATE = re.compile(r"[^`\\$]*(?:(?:\\[\s\S]|\$(?!\{))[^`\\$]*)*(`|\$\{)?")
# §12.9.5: a regular expression literal: "[...]" classes may hold "/"; it cannot cross a line.
_RE_CHARS = r"[^/\\\[\n\r\u2028\u2029]*"
_RE_CLASS = r"\[[^\]\\\n\r\u2028\u2029]*(?:\\[^\n\r\u2028\u2029][^\]\\\n\r\u2028\u2029]*)*\]?"
_JS_REGEX = re.compile(rf"/{_RE_CHARS}(?:(?:\\[^\n\r\u2028\u2029]|{_RE_CLASS}){_RE_CHARS})*/?[\w$]*")
_JS_DECODE = re.compile(
    r"\\(?:u\{([0-9A-Fa-f]+)\}|u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([0-3][0-7]{0,2}|[4-7][0-7]?)"
    r"|(\r\n|[\n\r\u2028\u2029])|([\s\S]))|\r\n?"
)
_JS_SINGLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_JS_HASHBANG = re.compile(r"#![^\n\r\u2028\u2029]*")
# "#" too: "this.#import(...)" is a private method. ("a.import" is caught later, after blanks.)
_KEYWORD = r"(?<![\w$#\\])(?:import|export|new)(?![\w$\\])"
_JS_JUMP = re.compile(rf"[\"'`/]|{_KEYWORD}")
# Inside a template substitution the braces are counted, to find the "}" that ends it.
_JS_JUMP_IN_TEMPLATE = re.compile(rf"[\"'`/{{}}]|{_KEYWORD}")
# The previous significant token, as far as "/" and keywords need to know it.
_VALUE, _OPERATOR, _DOT = 0, 1, 2
# After these keywords an expression starts, so "/" starts a regular expression.
_KEYWORDS_BEFORE_EXPRESSION = frozenset(
    {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof"}
    | {"yield", "await"}
)
_KEYWORD_LAST_LETTERS = frozenset(keyword[-1] for keyword in _KEYWORDS_BEFORE_EXPRESSION)
# More than any valid ImportClause needs ("d , * as ns from"); bounds work on odd input.
_MAX_CLAUSE_TOKENS = 8


def _js_unescape(raw: str) -> str:
    """The string value (§12.9.4.1) of a literal's body, or the cooked value of a template's."""

    def decode(match: re.Match[str]) -> str:
        braced, four, two, octal, continuation, char = match.groups()
        if braced is not None or four is not None or two is not None:
            code = int(braced or four or two, 16)
            return chr(code) if code <= 0x10FFFF else "\ufffd"
        if octal is not None:
            return chr(int(octal, 8))  # legacy octal escapes, Annex B.1.2
        if continuation is not None:
            return ""
        if char is not None:
            # Malformed escapes ("\x" without digits) are syntax errors: keep the character.
            return _JS_SINGLE_ESCAPES.get(char, char)
        return "\n"  # a raw CR or CRLF, only possible in a template (TRV, §12.9.6)

    if "\\" not in raw and "\r" not in raw:
        return raw
    value = _JS_DECODE.sub(decode, raw)
    if _SURROGATE.search(value):
        # "\ud83d\ude00" is two UTF-16 code units of one code point.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return value


def _js_name_char(char: str) -> bool:
    return char.isalnum() or char in "$_" or (not char.isascii() and f"a{char}".isidentifier())


def _classify(text: str, start: int, end: int, carried: int) -> int:
    """Classify the last significant token of ``text[start:end]``, or ``carried`` if it has none."""
    last = start + len(text[start:end].rstrip(_JS_BLANK_CHARS)) - 1
    if last < start:
        return carried
    char = text[last]
    if char in ")]":
        return _VALUE
    if char in "+-" and last > start and text[last - 1] == char:
        return _VALUE  # taken as a postfix "++" or "--"
    if char != "." and not _js_name_char(char):
        return _OPERATOR
    if char not in _KEYWORD_LAST_LETTERS and char != ".":
        return _VALUE  # a name or a number, and not a keyword
    first = last
    while first > start and _js_name_char(text[first - 1]):
        first -= 1
    if char == ".":
        if text[last - 1 : last] == ".":
            return _OPERATOR  # the spread "..."
        return _VALUE if first < last and text[first:last].isascii() and text[first:last].isdigit() else _DOT
    word = text[first : last + 1]
    if word in _KEYWORDS_BEFORE_EXPRESSION and not (first > start and text[first - 1] == "."):
        return _OPERATOR
    return _VALUE  # a name or a number


def _skip_js_trivia(text: str, pos: int) -> int:
    if text[pos : pos + 1] not in _JS_TRIVIA_FIRST:
        return pos  # the usual case in minified code: no regular expression call
    pos = _end(_JS_TRIVIA, text, pos)
    # An unclosed comment runs to the end.
    return len(text) if text.startswith("/*", pos) else pos


def _js_literal_end(text: str, pos: int, *, template: bool) -> int | None:
    """The end of a complete string literal (or template without substitutions) at ``pos``."""
    quote = text[pos : pos + 1]
    if quote in ("'", '"'):
        string = _JS_STRINGS[quote].match(text, pos)
        assert string is not None  # the pattern matches any quote
        return string.end() if string.group(2) else None
    if template and quote == "`":
        chunk = _JS_TEMPLATE.match(text, pos + 1)
        assert chunk is not None  # the pattern matches the empty string
        return chunk.end() if chunk.group(1) == "`" else None
    return None


def _expect(text: str, pos: int | None, *tokens: str) -> int | None:
    """Read ``tokens`` (names or punctuators) at ``pos``, with trivia around; ``None`` if not there."""
    for token in tokens:
        if pos is None:
            return None
        pos = _skip_js_trivia(text, pos)
        if token[0].isalpha():
            name = _JS_IDENT.match(text, pos)
            pos = name.end() if name and name.group() == token else None
        else:
            pos = pos + len(token) if text.startswith(token, pos) else None
    return pos


def _named_bindings_end(text: str, pos: int) -> int | None:
    """Step over ``{ a, b as c, "d e" as f }`` from after its "{"; the position after "}"."""
    while True:
        pos = _skip_js_trivia(text, pos)
        char = text[pos : pos + 1]
        if char == "}":
            return pos + 1
        if char == ",":
            pos += 1
            continue
        end = _js_literal_end(text, pos, template=False)
        if end is None:
            name = _JS_IDENT.match(text, pos)
            if name is None:
                return None
            end = name.end()
        pos = end


def _from_clause(text: str, pos: int) -> int | None:
    """The specifier of ``<clause> from "x"`` (§16.2.2, §16.2.3), or ``None``."""
    braces = False
    names = 0  # names in a row: at most two ("source x", "as ns") come before "from"
    for _ in range(_MAX_CLAUSE_TOKENS):
        pos = _skip_js_trivia(text, pos)
        char = text[pos : pos + 1]
        if char == "{" and not braces:
            braces = True
            end = _named_bindings_end(text, pos + 1)
            if end is None:
                return None
            pos, names = end, 0
        elif char in (",", "*"):
            pos, names = pos + 1, 0
        else:
            name = _JS_IDENT.match(text, pos)
            if name is None:
                return None
            pos, names = name.end(), names + 1
            # "from" may also be a binding's name: "import from from './a.js'".
            if name.group() == "from":
                after = _skip_js_trivia(text, pos)
                if _js_literal_end(text, after, template=False) is not None:
                    return after
            if names == 3:
                return None
    return None


def _import_specifier(text: str, pos: int) -> int | None:
    """The specifier literal that follows the keyword ``import`` ending at ``pos``."""
    pos = _skip_js_trivia(text, pos)
    char = text[pos : pos + 1]
    if char == "(":
        # import(x) or import(x, options), with x one literal and nothing else
        start = _skip_js_trivia(text, pos + 1)
        end = _js_literal_end(text, start, template=True)
        if end is None:
            return None
        after = _skip_js_trivia(text, end)
        return start if text[after : after + 1] in (",", ")") else None
    if char in ("'", '"'):
        return pos if _js_literal_end(text, pos, template=False) is not None else None
    return None if char == "." else _from_clause(text, pos)


def _export_specifier(text: str, pos: int) -> int | None:
    """The specifier of ``export {...} from "x"`` or ``export * [as ns] from "x"``."""
    pos = _skip_js_trivia(text, pos)
    return _from_clause(text, pos) if text[pos : pos + 1] in ("{", "*") else None


def _new_url_specifier(text: str, pos: int) -> int | None:
    """The first argument of ``new URL("x", import.meta.url)`` after ``new``."""
    start = _expect(text, pos, "URL", "(")
    if start is None:
        return None
    start = _skip_js_trivia(text, start)
    if text[start : start + 1] not in ("'", '"'):
        return None
    end = _expect(text, _js_literal_end(text, start, template=False), ",", "import", ".", "meta", ".", "url")
    if end is None or _expect(text, _expect(text, end, ",") or end, ")") is None:
        return None
    return start


_SPECIFIERS: dict[str, Callable[[str, int], int | None]] = {
    "import": _import_specifier,
    "export": _export_specifier,
    "new": _new_url_specifier,
}


def js_references(text: str) -> list[Reference]:
    """Find the references in a JavaScript text (a module or a script), in document order.

    These are the specifiers of static ``import`` and ``export ... from``
    declarations and of ``import()`` called with one literal, the first
    argument of ``new URL("...", import.meta.url)``, and
    ``//# sourceMappingURL=...`` comments (also ``//@`` and ``/*# ... */``).
    Strings, template literals, comments and regular expression literals are
    recognised, so that text inside them is never taken for a reference. A
    ``/`` starts a regular expression unless it follows a name (other than a
    keyword such as ``return``), a number, a literal, ``)`` or ``]``, as most
    tools without a full parser decide.
    """
    found: list[_Found] = []
    pending: dict[int, str] = {}  # starts of literals already known to be references → their kind
    substitutions: list[int] = []  # per open "${": the depth of braces inside it
    pos = hashbang.end() if (hashbang := _JS_HASHBANG.match(text)) else 0
    # The previous significant token is the last one of text[segment:] if any, else `state`.
    segment, state = pos, _OPERATOR
    while match := (_JS_JUMP_IN_TEMPLATE if substitutions else _JS_JUMP).search(text, pos):
        start = match.start()
        char = text[start]
        if char in "\"'":
            string = _JS_STRINGS[char].match(text, start)
            assert string is not None  # the pattern matches any quote
            pos = string.end()
            if string.group(2) and start in pending and (value := _js_unescape(string.group(1))):
                found.append((start + 1, string.end(1), value, pending[start], char))
            segment, state = pos, _VALUE
        elif char == "`" or (char == "}" and substitutions[-1] == 0):
            if char == "}":
                substitutions.pop()
            chunk = _JS_TEMPLATE.match(text, start + 1)
            assert chunk is not None  # the pattern matches the empty string
            pos = chunk.end()
            if chunk.group(1) == "${":
                substitutions.append(0)
                state = _OPERATOR
            else:
                state = _VALUE
                if (
                    chunk.group(1)
                    and char == "`"
                    and start in pending
                    and (value := _js_unescape(text[start + 1 : pos - 1]))
                ):
                    found.append((start + 1, pos - 1, value, pending[start], "`"))
            segment = pos
        elif char in "{}":
            substitutions[-1] += 1 if char == "{" else -1
            pos = segment = start + 1
            state = _OPERATOR
        elif char == "/":
            following = text[start + 1 : start + 2]
            if following in ("/", "*"):
                # Comments are not tokens: carry over the token before them.
                state = _classify(text, segment, start, state)
                if following == "/":
                    pos = _end(_JS_LINE_REST, text, start)
                    body_end = pos
                else:
                    body_end = text.find("*/", start + 2)
                    body_end, pos = (len(text), len(text)) if body_end < 0 else (body_end, body_end + 2)
                _source_map(text, start + 2, body_end, found)
            elif _classify(text, segment, start, state) == _OPERATOR:
                pos = _end(_JS_REGEX, text, start)
                state = _VALUE
            else:
                pos = start + 1
                state = _OPERATOR
            segment = pos
        else:
            keyword = match.group()
            previous = _classify(text, segment, start, state)
            pos = segment = match.end()
            if previous == _DOT:  # obj.import(...), a.new
                state = _VALUE
                continue
            specifier = _SPECIFIERS[keyword](text, pos)
            if specifier is not None:
                pending[specifier] = JS_URL if keyword == "new" else JS_STRING
            state = _VALUE if keyword == "import" else _OPERATOR
    return _with_lines(text, found)


# --- Writing values back ------------------------------------------------------------------

_CSS_UNWRITABLE = re.compile("[\x00\ud800-\udfff]")
_CSS_URL_ESCAPES = re.compile("[\\\\()\"' \t\n\r\f\x01-\x08\x0b\x0e-\x1f\x7f]")
_COMMENT_UNWRITABLE = re.compile(r"[\s\ufeff]|\*/")
_JS_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _css_hex_escape(char: str) -> str:
    # The space ends the hex digits, and is consumed with them (§4.3.7).
    return f"\\{ord(char):x} "


def _encode_css_string(value: str, quote: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _css_hex_escape(char) if char in "\n\r\f" else "\\" + char

    return re.sub(f"[\\\\{quote}\n\r\f]", escape, value)


def _encode_css_url(value: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return "\\" + char if char in "\\()\"'" else _css_hex_escape(char)

    return _CSS_URL_ESCAPES.sub(escape, value)


def _encode_js_string(value: str, quote: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in _JS_ESCAPES:
            return _JS_ESCAPES[char]
        if char == "$":
            return "\\$"  # only matched before "{", where it would start a substitution
        if "\ud800" <= char <= "\udfff":
            return f"\\u{ord(char):04x}"  # a lone surrogate has no UTF-8 form
        return "\\" + char

    specials = "\\\\\n\r\u2028\u2029\ud800-\udfff" + quote
    pattern = f"[{specials}]|\\$(?={{)" if quote == "`" else f"[{specials}]"
    return re.sub(pattern, escape, value)


def encode_reference(value: str, reference: Reference) -> str:
    """The text to write at ``text[reference.start:reference.end]`` so that it reads back as ``value``.

    Escapes what the position requires: the quote, backslashes and line
    breaks in a string (JavaScript's ``${`` in a template); backslashes,
    parentheses, quotes, white space and control characters in an unquoted
    ``url()``. Other characters, non-ASCII included, are written as they are.

    :raises ValueError: if ``value`` cannot be written there: an empty value
        (it would not be found again), white space or ``*/`` in a comment, or
        NUL or a lone surrogate in CSS, which CSS reads as U+FFFD.
    """
    if not value:
        raise ValueError("an empty reference would not be found again")
    kind = reference.kind
    if kind in (CSS_STRING, CSS_URL) and _CSS_UNWRITABLE.search(value):
        raise ValueError(f"CSS cannot express NUL or a lone surrogate: {value!r}")
    if kind == CSS_STRING and reference.quote in ("'", '"'):
        return _encode_css_string(value, reference.quote)
    if kind == CSS_URL:
        return _encode_css_url(value)
    if kind in (JS_STRING, JS_URL) and reference.quote in ("'", '"', "`"):
        return _encode_js_string(value, reference.quote)
    if kind == COMMENT:
        if _COMMENT_UNWRITABLE.search(value):
            raise ValueError(f"a source map comment cannot hold white space or '*/': {value!r}")
        return value
    raise ValueError(f"unknown kind {kind!r} or quote {reference.quote!r}")


def rewrite(text: str, replacements: Sequence[tuple[Reference, str]]) -> str:
    """Return ``text`` with each reference's span replaced by the encoded new value.

    ``replacements`` pairs references found in ``text`` with their new
    values, in any order; everything outside their spans is kept as it is.

    :raises ValueError: if two spans overlap, a span lies outside ``text``,
        or a value cannot be encoded (see :func:`encode_reference`).
    """
    parts: list[str] = []
    done = 0
    for reference, value in sorted(replacements, key=lambda item: item[0].start):
        if reference.start < done or reference.end > len(text) or reference.start > reference.end:
            raise ValueError(f"overlapping or out-of-range span: {reference}")
        parts += (text[done : reference.start], encode_reference(value, reference))
        done = reference.end
    parts.append(text[done:])
    return "".join(parts)
