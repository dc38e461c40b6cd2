"""What an inbound contact from the phone system means (docs/channels.md).

Pure rules, no clock and no I/O (``phonenumbers`` is imported lazily, like ``holidays`` in
``domain.models``, and nothing here is called from workflow code):

- **Opt-out keywords.** A text whose whole body, trimmed and in any case, is one of the carrier
  keywords changes the member's text consent and opens no case (``keyword_of``).
- **Voice.** Which webhook request of a call is a missed call, which a voicemail, and which
  nothing (``voice_contact``).
- **Numbers.** Phone numbers are compared in E.164 (``e164``).
- **Possible opt-outs.** A text that asks in other words for the texts to stop ("please stop
  texting me", "STOP.", "no me escribas") is flagged for the CHW to review; it changes nothing
  (``possible_opt_out``).
- **Screening.** A text containing one of the team's ``screening`` phrases raises the ``safety``
  flag on its case (``screened``).
"""

from __future__ import annotations

import unicodedata
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


# Words that ask for the texts (or calls) to stop, as people write them: a text containing one of
# these phrases, as whole words in this order, is a possible opt-out. Written as a person types
# them; compared folded (``_plain_words``: case, accents, apostrophes and punctuation do not
# count). Conservative: each says "stop contacting me" on its own, in English or Spanish; a lone
# "stop" among other words ("I'll stop by Monday") is not one.
OPT_OUT_PHRASES: tuple[str, ...] = (
    # English
    "stop texting", "stop text", "stop texts", "stop txting", "stop messaging", "stop sending",
    "stop contacting", "stop calling", "stop the texts", "stop these texts", "stop the messages",
    "don't text", "do not text", "don't message", "do not message", "don't contact",
    "do not contact", "don't call", "do not call",
    "no more texts", "no more text", "no more messages", "no more calls",
    "unsubscribe", "opt out", "opt me out", "remove me", "take me off", "leave me alone",
    # Spanish
    "no me escribas", "no me escriba", "no me escriban", "no me manden", "no me envíen",
    "no me contacten", "no me llamen", "no más mensajes", "no más textos",
    "deje de escribirme", "deja de escribirme", "dejen de escribirme", "dejen de enviarme",
    "dejen de mandarme", "darme de baja", "dar de baja",
)  # fmt: skip
# A text that is one stop word, written otherwise than a carrier keyword ("STOP.", "Stop please",
# "stop stop", "Alto") is a possible opt-out too: the keywords' words, and Spanish ones.
STOP_WORDS = frozenset(
    {*(k.casefold() for k in OPT_OUT_KEYWORDS), "alto", "basta", "parar", "baja", "cancelar"}
)
# Words said around a stop word that do not change what it asks.
COURTESY_WORDS = frozenset(
    {"please", "pls", "plz", "now", "it", "thanks", "thank", "you", "thx", "ok", "okay",
     "por", "favor", "gracias", "ya"}
)  # fmt: skip


def _plain_words(text: str) -> list[str]:
    """``text``'s words, case-folded, without accents or apostrophes, split at anything that is
    not a letter or a digit (``Don't TEXT!`` → ``dont``, ``text``; ``más`` → ``mas``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and c not in "'\u2019\u2018`")
    return "".join(c if c.isalnum() else " " for c in kept).split()


_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(_plain_words(p)) for p in OPT_OUT_PHRASES)


def possible_opt_out(body: str | None) -> bool:
    """Whether a text that is not a keyword reads as asking for the texts to stop, for the CHW to
    review (it changes nothing by itself: only a keyword does).

    >>> possible_opt_out("please stop texting me")
    True
    >>> possible_opt_out("STOP.")
    True
    >>> possible_opt_out("Don\u2019t TEXT me anymore")
    True
    >>> possible_opt_out("Por favor no me escriba más")
    True
    >>> possible_opt_out("STOP")  # a keyword: it is acted on, not flagged
    False
    >>> possible_opt_out("I'll stop by the clinic on Monday")
    False
    >>> possible_opt_out("Can you text me the address?")
    False
    """
    if not body or keyword_of(body) is not None:
        return False
    words = _plain_words(body)
    meant = {w for w in words if w not in COURTESY_WORDS}
    if len(meant) == 1 and meant <= STOP_WORDS:
        return True
    return any(
        words[i : i + len(phrase)] == list(phrase)
        for phrase in _PHRASES
        for i in range(len(words) - len(phrase) + 1)
    )


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
