"""Accept-Encoding negotiation, from RFC 9110 §12.5.3 and §12.4.2 (HTTP.md rule 25).

Project choices (documented in staticwrap/negotiation.py): a missing field means
identity; an identity that the field neither names nor covers with ``*`` ranks below
every coding the client names; nothing acceptable means identity anyway; a malformed
element or qvalue drops that element only; server order for ties is br > zstd > gzip.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from staticwrap.negotiation import choose_coding, parse_accept_encoding

ALL = ("br", "zstd", "gzip")


# --- parse_accept_encoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("gzip", {"gzip": 1.0}, id="bare-coding-is-q1"),
        pytest.param("compress, gzip", {"compress": 1.0, "gzip": 1.0}, id="rfc-example-list"),
        pytest.param("", {}, id="empty"),
        pytest.param("*", {"*": 1.0}, id="star"),
        pytest.param("compress;q=0.5, gzip;q=1.0", {"compress": 0.5, "gzip": 1.0}, id="rfc-example-qvalues"),
        pytest.param(
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            {"gzip": 1.0, "identity": 0.5, "*": 0.0},
            id="rfc-example-identity-star",
        ),
        # §8.4.1: content codings are case-insensitive.
        pytest.param("GZIP", {"gzip": 1.0}, id="coding-upper"),
        pytest.param("Br", {"br": 1.0}, id="coding-title"),
        # §12.4.2: "q=" is case-insensitive (ABNF literal).
        pytest.param("gzip;Q=0.5", {"gzip": 0.5}, id="q-upper"),
        # §12.5.3: x-gzip is an alias of gzip.
        pytest.param("x-gzip", {"gzip": 1.0}, id="x-gzip-alias"),
        pytest.param("X-GZIP;q=0.3", {"gzip": 0.3}, id="x-gzip-upper"),
        pytest.param("xgzip", {"xgzip": 1.0}, id="xgzip-is-not-an-alias"),
        # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
        pytest.param("gzip;q=0", {"gzip": 0.0}, id="q-0"),
        pytest.param("gzip;q=0.", {"gzip": 0.0}, id="q-0-dot"),
        pytest.param("gzip;q=0.001", {"gzip": 0.001}, id="q-three-decimals"),
        pytest.param("gzip;q=0.999", {"gzip": 0.999}, id="q-0-999"),
        pytest.param("gzip;q=1", {"gzip": 1.0}, id="q-1"),
        pytest.param("gzip;q=1.", {"gzip": 1.0}, id="q-1-dot"),
        pytest.param("gzip;q=1.000", {"gzip": 1.0}, id="q-1-000"),
        # Invalid qvalues drop the element.
        pytest.param("gzip;q=1.5", {}, id="q-1-5-dropped"),
        pytest.param("gzip;q=1.001", {}, id="q-1-001-dropped"),
        pytest.param("gzip;q=2", {}, id="q-2-dropped"),
        pytest.param("gzip;q=abc", {}, id="q-abc-dropped"),
        pytest.param("gzip;q=0.1234", {}, id="q-four-decimals-dropped"),
        pytest.param("gzip;q=-1", {}, id="q-negative-dropped"),
        pytest.param("gzip;q=.5", {}, id="q-no-leading-digit-dropped"),
        pytest.param("gzip;q=", {}, id="q-empty-dropped"),
        pytest.param("gzip;q=0.5e0", {}, id="q-exponent-dropped"),
        pytest.param("gzip;q=\u0660.5", {}, id="q-arabic-indic-digit-dropped"),
        pytest.param("br;q=abc, gzip;q=0.5", {"gzip": 0.5}, id="only-bad-element-dropped"),
        # Malformed codings drop the element.
        pytest.param("gz ip, br", {"br": 1.0}, id="space-inside-coding-dropped"),
        pytest.param("gzip br", {}, id="two-codings-without-comma-dropped"),
        # weight = OWS ";" OWS "q=" qvalue: no white space around "=", so the element is malformed.
        pytest.param("br;q = 0, gzip", {"gzip": 1.0}, id="bws-around-equals-dropped"),
        pytest.param("g\xe9zip, br", {"br": 1.0}, id="non-token-coding-dropped"),
        # §5.6.1: OWS around commas; §12.4.2: weight = OWS ";" OWS "q=" qvalue.
        pytest.param(" gzip ; q=0.5 ,\tbr\t;\tq=0.4 ", {"gzip": 0.5, "br": 0.4}, id="ows-spaces-and-tabs"),
        pytest.param(",gzip,,br,", {"gzip": 1.0, "br": 1.0}, id="empty-elements"),
    ],
)
def test_parse_accept_encoding(value: str, expected: dict[str, float]) -> None:
    assert parse_accept_encoding(value) == expected


# --- choose_coding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "available", "expected"),
    [
        # Absent or empty field.
        pytest.param(None, ALL, "identity", id="missing-field"),
        pytest.param("", ALL, "identity", id="empty-field-identity-only"),
        pytest.param(" ", ALL, "identity", id="blank-field-identity-only"),
        # Single codings.
        pytest.param("gzip", ALL, "gzip", id="gzip"),
        pytest.param("br", ALL, "br", id="br"),
        pytest.param("zstd", ALL, "zstd", id="zstd"),
        pytest.param("GZIP", ALL, "gzip", id="gzip-upper"),
        pytest.param("x-gzip", ALL, "gzip", id="x-gzip"),
        pytest.param("xgzip", ALL, "identity", id="xgzip-unknown"),
        pytest.param("deflate", ALL, "identity", id="unavailable-coding"),
        # q=0 means "not acceptable".
        pytest.param("gzip;q=0", ALL, "identity", id="gzip-q0"),
        pytest.param("gzip;q=0.000", ALL, "identity", id="gzip-q0-000"),
        pytest.param("br;q=0, gzip", ALL, "gzip", id="br-refused-gzip-accepted"),
        # Highest qvalue wins.
        pytest.param("br;q=0.5, gzip;q=1", ALL, "gzip", id="higher-q-beats-server-order"),
        pytest.param("br;q=0.5, gzip;q=0.501", ALL, "gzip", id="q-differs-in-third-decimal"),
        pytest.param("gzip;q=0.5, br;q=0.6", ALL, "br", id="higher-q-later-in-field"),
        pytest.param("br;Q=0.5, gzip", ALL, "gzip", id="q-param-upper"),
        # Ties go to the server's order br > zstd > gzip.
        pytest.param("gzip, br", ALL, "br", id="tie-gzip-br"),
        pytest.param("gzip, zstd", ALL, "zstd", id="tie-gzip-zstd"),
        pytest.param("gzip, zstd, br", ALL, "br", id="tie-all-three"),
        pytest.param("gzip;q=0.5, zstd;q=0.5", ALL, "zstd", id="tie-at-q-0-5"),
        pytest.param("gzip;q=1, br;q=1.000", ALL, "br", id="tie-1-and-1-000"),
        # Wildcard.
        pytest.param("*", ALL, "br", id="star"),
        pytest.param("br;q=0, *", ALL, "zstd", id="star-except-br"),
        pytest.param("br;q=0, *", ("br", "gzip"), "gzip", id="star-except-br-without-zstd"),
        pytest.param("*;q=0.5, gzip", ALL, "gzip", id="named-coding-beats-star"),
        pytest.param("*;q=0.5, gzip;q=0.5", ALL, "br", id="star-tie-goes-to-server-order"),
        pytest.param("*, identity;q=0.5", ALL, "br", id="star-and-lower-identity"),
        pytest.param("*;q=0", ALL, "identity", id="star-q0-nothing-acceptable"),
        pytest.param("*;q=0, gzip", ALL, "gzip", id="star-q0-but-gzip-named"),
        # Identity.
        pytest.param("gzip;q=0.001", ALL, "gzip", id="unlisted-identity-ranks-below-named-coding"),
        pytest.param("identity;q=0.5, gzip;q=0.5", ALL, "gzip", id="coding-wins-tie-with-explicit-identity"),
        pytest.param("identity, gzip", ALL, "gzip", id="coding-wins-tie-with-explicit-identity-q1"),
        pytest.param("identity;q=1, gzip;q=0.5", ALL, "identity", id="explicit-identity-higher"),
        pytest.param("identity", ALL, "identity", id="identity-only"),
        pytest.param("*;q=0.5, identity", ALL, "identity", id="identity-above-star"),
        pytest.param("identity;q=0", (), "identity", id="identity-q0-no-variants"),
        pytest.param("identity;q=0", ALL, "identity", id="identity-q0-no-coding-named"),
        pytest.param("identity;q=0, gzip;q=0", ALL, "identity", id="nothing-acceptable"),
        pytest.param("identity;q=0, gzip;q=0.1", ALL, "gzip", id="identity-refused-gzip-low"),
        # Available variants.
        pytest.param("gzip", (), "identity", id="no-variants"),
        pytest.param("br", ("gzip",), "identity", id="chosen-coding-not-available"),
        pytest.param("br, gzip;q=0.5", ("zstd", "gzip"), "gzip", id="best-unavailable-next-available"),
        pytest.param("*", ("gzip",), "gzip", id="star-only-gzip-available"),
        pytest.param("zstd, gzip", ("br", "gzip"), "gzip", id="tie-among-available"),
        # Invalid qvalues drop that element.
        pytest.param("br;q=1.5, gzip;q=0.5", ALL, "gzip", id="q-1-5-dropped"),
        pytest.param("br;q=abc, gzip;q=0.5", ALL, "gzip", id="q-abc-dropped"),
        pytest.param("br;q=0.1234, gzip;q=0.5", ALL, "gzip", id="q-four-decimals-dropped"),
        pytest.param("br;q=-1, gzip;q=0.5", ALL, "gzip", id="q-negative-dropped"),
        pytest.param("gzip;q=1.5", ALL, "identity", id="only-element-dropped"),
        # A client that refuses br with white space around "=" must not get br:
        # "q = 0" is not the weight syntax, so the element is malformed (dropped) or,
        # read leniently, still q=0. Either way gzip.
        pytest.param("br;q = 0, gzip", ALL, "gzip", id="bws-around-equals-never-means-q1"),
        # OWS around elements and semicolons.
        pytest.param(" gzip ; q=0.5 ,\tbr\t;\tq=0.4", ALL, "gzip", id="ows-around-semicolons"),
        pytest.param("\tbr;q=0\t,\tgzip\t", ALL, "gzip", id="tabs-around-elements"),
        pytest.param(",, gzip ,,", ALL, "gzip", id="empty-elements"),
    ],
)
def test_choose_coding(accept_encoding: str | None, available: Sequence[str], expected: str) -> None:
    assert choose_coding(accept_encoding, available) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip;", {"gzip": 1.0}),
        ("gzip; ;q=0.5", {"gzip": 0.5}),
        ("gzip;level=9;q=0.5", {"gzip": 0.5}),
        ("gzip;q=0.5;level=9", {"gzip": 0.5}),
        ("gzip;level", {}),
    ],
    ids=[
        "empty-parameter",
        "empty-between",
        "other-parameter-first",
        "other-parameter-after",
        "parameter-without-value",
    ],
)
def test_parse_accept_encoding_parameters(value: str, expected: dict[str, float]) -> None:
    # §5.6.6: parameters = *( OWS ";" OWS [ parameter ] ); only q weighs a coding.
    assert parse_accept_encoding(value) == expected


def test_only_the_first_64_elements_are_read() -> None:
    filler = ", ".join(f"x{n}" for n in range(63))
    assert "br" in parse_accept_encoding(f"{filler}, br")  # the 64th element
    assert "br" not in parse_accept_encoding(f"{filler}, x63, br")  # the 65th
