"""What an inbound contact from the phone system means (docs/channels.md).

Pure rules, no clock and no I/O (``phonenumbers`` is imported lazily, like ``holidays`` in
``domain.models``, and nothing here is called from workflow code):

- **Opt-out keywords.** A text whose whole body, trimmed and in any case, is one of the carrier
  keywords changes the member's text consent and opens no case (``keyword_of``).
- **Voice.** Which webhook request of a call is a missed call, which a voicemail, and which
  nothing (``voice_contact``).
- **Numbers.** Phone numbers are compared in E.164 (``e164``).
- **Screening.** A text containing one of the team's ``screening`` phrases raises the ``safety``
  flag on its case (``screened``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal, get_args

Keyword = Literal["opt_out", "opt_in", "help"]
KEYWORD_KINDS: tuple[Keyword, ...] = get_args(Keyword)

# The carrier keywords (CTIA; what Twilio's Advanced Opt-Out answers by itself).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
KEYWORDS: Mapping[str, Keyword] = MappingProxyType(
    {
        **{k: "opt_out" for k in OPT_OUT_KEYWORDS},
        **{k: "opt_in" for k in OPT_IN_KEYWORDS},
        **{k: "help" for k in HELP_KEYWORDS},
    }
)

# A call the team did not answer: Twilio's CallStatus / DialCallStatus values.
MISSED_CALL_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled"})


def keyword_of(body: str | None) -> tuple[Keyword, str] | None:
    """The keyword a text is, and which one (upper case); None for any other text.

    Only the whole body counts, trimmed of white space, in any case; anything more is words,
    not a keyword:

    >>> keyword_of("STOP")
    ('opt_out', 'STOP')
    >>> keyword_of("  stop\\n")
    ('opt_out', 'STOP')
    >>> keyword_of("Unsubscribe")
    ('opt_out', 'UNSUBSCRIBE')
    >>> keyword_of("unstop")
    ('opt_in', 'UNSTOP')
    >>> keyword_of("Info")
    ('help', 'INFO')
    >>> keyword_of("please stop texting me") is None
    True
    >>> keyword_of("STOP.") is None  # punctuation makes it words (flagged for review: issue 21)
    True
    >>> keyword_of("") is None
    True

    Case is folded (``casefold``), never upper-cased, so a look-alike such as the Turkish
    dotless ``qu\\u0131t`` is not ``QUIT``.
    """
    if body is None:
        return None
    folded = body.strip().casefold()
    for word, kind in KEYWORDS.items():
        if folded == word.casefold():
            return kind, word
    return None


def _folded_words(text: str) -> str:
    """``text`` case-folded, its runs of white space (line breaks too) one space, trimmed."""
    return " ".join(text.casefold().split())


def screened(body: str | None, phrases: Sequence[str]) -> bool:
    """Whether a text contains one of the team's screening phrases (team config ``screening``).

    A phrase matches anywhere in the body, in any case (``casefold``), however the words are
    spaced or broken over lines; it is matched as written, so a phrase should be words that
    mean the same anywhere (``hurt myself``, not ``hurt``). A blank phrase matches nothing.

    >>> screened("I want to HURT MYSELF tonight", ["hurt myself"])
    True
    >>> screened("i might hurt\\n  myself", ["Hurt Myself"])
    True
    >>> screened("my son hurt himself at school", ["hurt myself"])
    False
    >>> screened("Can I move my appointment?", ["hurt myself", "no food"])
    False
    >>> screened("we have NO FOOD since monday", ["hurt myself", "no food"])
    True
    >>> screened(None, ["no food"]) or screened("no food", []) or screened("no food", ["  "])
    False
    """
    if not body or not phrases:
        return False
    text = _folded_words(body)
    return any(p and p in text for p in map(_folded_words, phrases))


def voice_contact(
    *,
    call_status: str | None,
    dial_call_status: str | None,
    recording_url: str | None,
    recording_duration: str | None,
) -> Literal["call", "voicemail"] | None:
    """What one voice webhook request reports: a ``voicemail``, a missed ``call``, or nothing.

    - A request that carries a recording (``RecordingUrl`` and ``RecordingDuration`` > 0) is a
      voicemail.
    - A call the team did not answer (``CallStatus`` or ``DialCallStatus`` ``no-answer``,
      ``busy``, ``failed`` or ``canceled``) is a missed call; so is a recording of nothing
      (``RecordingDuration`` 0: the caller reached the voicemail prompt and hung up).
    - Anything else (ringing, in progress, an answered call completing) is nothing.

    >>> voice_contact(call_status="completed", dial_call_status="no-answer",
    ...               recording_url=None, recording_duration=None)
    'call'
    >>> voice_contact(call_status="in-progress", dial_call_status=None,
    ...               recording_url="https://api.twilio.com/r/RE1", recording_duration="14")
    'voicemail'
    >>> voice_contact(call_status="completed", dial_call_status="completed",
    ...               recording_url=None, recording_duration=None) is None
    True
    """
    seconds = _seconds(recording_duration)
    if recording_url and seconds is not None and seconds > 0:
        return "voicemail"
    if call_status in MISSED_CALL_STATUSES or dial_call_status in MISSED_CALL_STATUSES:
        return "call"
    if recording_url and seconds == 0:
        return "call"
    return None


def _seconds(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


def e164(number: str) -> str | None:
    """``number`` as E.164 (``+13035550123``) when it is a valid phone number written with its
    country code, else None (a withheld caller id such as ``anonymous``, or a short code).

    >>> e164("+1 (303) 555-0123")
    '+13035550123'
    >>> e164("anonymous") is None
    True
    """
    import phonenumbers  # lazy: see the module docstring

    if not number or not number.strip().startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
