"""The inbound rules (docs/channels.md): opt-out keywords, voice requests, E.164 numbers."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import assume, given, strategies as st

import domain.inbound
from domain.inbound import (
    HELP_KEYWORDS,
    KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    OPT_OUT_PHRASES,
    STOP_WORDS,
    e164,
    keyword_of,
    possible_opt_out,
    screened,
    voice_contact,
)

# White space a phone or a person puts around a word (str.strip removes each of these).
SPACE = st.text(alphabet=" \t\r\n\u00a0\u2003", max_size=4)
FOLDED = {k.casefold(): k for k in KEYWORDS}


def test_the_worked_examples_hold() -> None:
    """The examples in the module's docstrings are run, so they stay true."""
    result = doctest.testmod(domain.inbound)
    assert result.attempted >= 12 and result.failed == 0


def test_the_keyword_lists_are_the_carrier_lists() -> None:
    assert sorted(OPT_OUT_KEYWORDS) == [
        "CANCEL", "END", "OPTOUT", "QUIT", "REVOKE", "STOP", "STOPALL", "UNSUBSCRIBE"
    ]  # fmt: skip
    assert sorted(OPT_IN_KEYWORDS) == ["START", "UNSTOP"]
    assert sorted(HELP_KEYWORDS) == ["HELP", "INFO"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", ("opt_out", "STOP")),
        ("stop", ("opt_out", "STOP")),
        (" Stop \n", ("opt_out", "STOP")),
        ("stopall", ("opt_out", "STOPALL")),
        ("OptOut", ("opt_out", "OPTOUT")),
        ("end", ("opt_out", "END")),
        ("START", ("opt_in", "START")),
        ("unStop", ("opt_in", "UNSTOP")),
        ("help", ("help", "HELP")),
        ("INFO ", ("help", "INFO")),
        ("STOP please", None),
        ("please stop", None),
        ("STOP!", None),
        ("S T O P", None),
        ("stopp", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("qu\u0131t", None),  # dotless i: upper() would make it QUIT, casefold does not
    ],
)
def test_keyword_examples(body: str | None, expected: tuple[str, str] | None) -> None:
    assert keyword_of(body) == expected


@st.composite
def keyword_in_any_case(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.sampled_from(sorted(KEYWORDS)))
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    spelled = "".join(c.lower() if f else c for c, f in zip(word, flips, strict=True))
    return word, draw(SPACE) + spelled + draw(SPACE)


@given(keyword_in_any_case())
def test_a_keyword_is_recognised_in_any_case_with_any_surrounding_space(case: tuple[str, str]) -> None:
    word, body = case
    assert keyword_of(body) == (KEYWORDS[word], word)


@given(
    st.sampled_from(sorted(KEYWORDS)),
    st.text(min_size=1).filter(lambda t: t.strip() != ""),
    st.booleans(),
)
def test_a_keyword_with_anything_more_is_not_a_keyword(word: str, more: str, before: bool) -> None:
    """Only the whole trimmed body counts: words before or after it make it a message."""
    body = more + word if before else word + more
    assume(body.strip().casefold() not in FOLDED)  # "STOP" + "ALL" is STOPALL, a keyword itself
    assert keyword_of(body) is None


@given(st.text())
def test_keyword_of_is_a_membership_test_of_the_trimmed_folded_body(body: str) -> None:
    found = keyword_of(body)
    if body.strip().casefold() in FOLDED:
        word = FOLDED[body.strip().casefold()]
        assert found == (KEYWORDS[word], word)
    else:
        assert found is None


# ---------------------------------------------------------------- possible opt-outs
@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "Stop texting me!!",
        "STOP.",
        "Stop please",
        "stop stop stop",
        "Unsubscribe me",
        "unsubscribe.",
        "pls remove me from this list",
        "Don't text me again",
        "don\u2019t  CONTACT me",
        "do not call this number",
        "No more texts, thanks",
        "I want to opt out",
        "leave me alone",
        "Alto",
        "Basta ya",
        "no me escriba mas por favor",
        "Por favor, no me envíen más mensajes",
        "Dejen de escribirme",
        "quiero darme de baja",
    ],
)
def test_words_that_ask_for_the_texts_to_stop_are_a_possible_opt_out(body: str) -> None:
    assert possible_opt_out(body)


@pytest.mark.parametrize(
    "body",
    [
        *sorted(OPT_OUT_KEYWORDS),  # a keyword is acted on, never merely flagged
        " stop\n",
        "START",
        "help",
        "Can you text me the address?",
        "I'll stop by the clinic on Monday",
        "I need to cancel my appointment",
        "see you at the end of the week",
        "my daughter has a fever, please call",
        "stopped by but you were closed",
        "¿A qué hora abren?",
        "",
        None,
    ],
)
def test_other_texts_are_not_a_possible_opt_out(body: str | None) -> None:
    assert not possible_opt_out(body)


@given(keyword_in_any_case())
def test_an_exact_keyword_is_never_a_possible_opt_out(case: tuple[str, str]) -> None:
    assert not possible_opt_out(case[1])


@given(st.sampled_from(OPT_OUT_PHRASES), st.text(), st.text(), st.booleans())
def test_a_phrase_stays_flagged_whatever_surrounds_it(
    phrase: str, before: str, after: str, shout: bool
) -> None:
    """Words before and after a phrase (separated from it), in any case, keep it flagged."""
    body = f"{before} {phrase.upper() if shout else phrase} {after}"
    assume(keyword_of(body) is None)  # " unsubscribe " alone is the keyword itself
    assert possible_opt_out(body)


ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\n"))


@given(ASCII_TEXT, st.text(alphabet=" \t\n", min_size=1, max_size=3))
def test_case_and_spacing_do_not_change_a_possible_opt_out(body: str, space: str) -> None:
    flagged = possible_opt_out(body)
    assert possible_opt_out(body.swapcase()) == flagged
    assert possible_opt_out(space.join(body.split(" "))) == flagged


def test_a_stop_word_with_courtesy_words_is_flagged_and_one_among_other_words_is_not() -> None:
    for word in sorted(STOP_WORDS):
        assert possible_opt_out(f"{word}, please")
        if word not in OPT_OUT_PHRASES:  # "unsubscribe" says it anywhere
            assert not possible_opt_out(f"we will {word} later")


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+13035550123", "+13035550123"),
        ("+1 303-555-0123", "+13035550123"),
        ("+442071838750", "+442071838750"),
        ("3035550123", None),  # no country code: not comparable across teams
        ("+15555550100", None),  # not a valid number
        ("anonymous", None),
        ("+266696687", None),  # Twilio's withheld caller id
        ("", None),
    ],
)
def test_e164(number: str, expected: str | None) -> None:
    assert e164(number) == expected


@pytest.mark.parametrize(
    ("call_status", "dial_status", "url", "seconds", "expected"),
    [
        ("completed", "no-answer", None, None, "call"),  # the <Dial> action: nobody picked up
        ("in-progress", "busy", None, None, "call"),
        ("completed", "failed", None, None, "call"),
        ("canceled", None, None, None, "call"),  # hung up while it rang (status callback)
        ("no-answer", None, None, None, "call"),
        ("in-progress", None, "https://api.twilio.com/r/RE1", "12", "voicemail"),
        ("completed", "no-answer", "https://api.twilio.com/r/RE1", "3", "voicemail"),
        ("completed", None, "https://api.twilio.com/r/RE1", "0", "call"),  # hung up at the prompt
        ("completed", None, None, None, None),  # an answered call ending
        ("completed", "completed", None, None, None),
        ("ringing", None, None, None, None),
        ("in-progress", None, "https://api.twilio.com/r/RE1", "x", None),
        (None, None, None, None, None),
    ],
)
def test_voice_contact(
    call_status: str | None,
    dial_status: str | None,
    url: str | None,
    seconds: str | None,
    expected: str | None,
) -> None:
    got = voice_contact(
        call_status=call_status, dial_call_status=dial_status, recording_url=url, recording_duration=seconds
    )
    assert got == expected


# ---------------------------------------------------------------- screening (team config)
@pytest.mark.parametrize(
    ("body", "phrases", "expected"),
    [
        ("I want to HURT MYSELF tonight", ["hurt myself"], True),
        ("i might hurt\n  myself", ["Hurt Myself"], True),
        ("we have NO FOOD since monday", ["hurt myself", "no food"], True),
        ("my son hurt himself at school", ["hurt myself"], False),
        ("Can I move my appointment?", ["hurt myself", "no food"], False),
        ("STRASSE", ["straße"], True),  # casefold, not lower: ß folds to ss
        ("no food", [], False),
        ("no food", ["", "   "], False),  # a blank phrase matches nothing
        (None, ["no food"], False),
        ("", ["no food"], False),
    ],
)
def test_screening_examples(body: str | None, phrases: list[str], expected: bool) -> None:
    assert screened(body, phrases) is expected


WORDS = st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1, max_size=8)
GAP = st.text(alphabet=" \t\r\n\u00a0", min_size=1, max_size=3)


@st.composite
def phrase_in_a_text(draw: st.DrawFn) -> tuple[str, str]:
    """A phrase of words, and a text with those words in it: any case, spaced any way."""
    words = draw(st.lists(WORDS, min_size=1, max_size=4))
    phrase = " ".join(words)
    gaps = [draw(GAP) for _ in words[1:]]
    spaced = "".join(w + g for w, g in zip(words, [*gaps, ""], strict=True))
    flips = draw(st.lists(st.booleans(), min_size=len(spaced), max_size=len(spaced)))
    cased = "".join(c.upper() if f and c.isascii() else c for c, f in zip(spaced, flips, strict=True))
    return phrase, draw(st.text(max_size=20)) + " " + cased + " " + draw(st.text(max_size=20))


@given(phrase_in_a_text(), st.lists(st.text(max_size=10), max_size=3))
def test_a_phrase_in_the_text_raises_safety_whatever_its_case_and_spacing(
    case: tuple[str, str], others: list[str]
) -> None:
    phrase, body = case
    assert screened(body, [*others, phrase])


@given(st.text(), st.lists(st.text(max_size=12), max_size=4))
def test_screened_is_a_substring_test_of_the_folded_words(body: str, phrases: list[str]) -> None:
    """Adding phrases never un-screens a text, and no phrases screen nothing; otherwise it is
    exactly: some non-blank phrase's folded words occur in the body's folded words."""
    folded = " ".join(body.casefold().split())
    expected = any(
        " ".join(p.casefold().split()) and " ".join(p.casefold().split()) in folded for p in phrases
    )
    assert screened(body, phrases) is expected
    assert not screened(body, [])
    if expected:
        assert screened(body, [*phrases, "another phrase"])
