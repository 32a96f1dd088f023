"""Email addresses, URLs and IP addresses, through Presidio's own recognizers.

Presidio's ``UrlRecognizer`` also matches any ``word.word`` pair, and nursing notes often
drop the space after a full stop ("secretions.lu", "shift.pr"). Our URL recognizer keeps
Presidio's machinery but asks for a scheme, ``www.``, or a common top-level domain.

Presidio's ``EmailRecognizer`` validates matches with ``tldextract.extract``, whose default
extractor downloads the public suffix list on first use. We subclass it to use an extractor
built with ``suffix_list_urls=()`` and no cache directory, so it reads only the snapshot
bundled in the tldextract wheel and never touches the network.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer

from securetune.scrub.recognizers.base import register_family


@lru_cache(maxsize=1)
def offline_extractor() -> tldextract.TLDExtract:
    """A tldextract instance that uses only its bundled suffix-list snapshot."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with an offline suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return offline_extractor()(pattern_text).fqdn != ""


_TLDS = "com|org|net|edu|gov|mil|us|uk|ca|de|fr|io|info|biz|health|care"


class ClinicalUrlRecognizer(PatternRecognizer):
    """URLs with a scheme or ``www.``, or a host under a common top-level domain."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("url_scheme", r"\b(?:https?|ftp)://[^\s<>\"')]+", 0.85),
        Pattern("url_www", r"\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s<>\"')]*)?", 0.85),
        Pattern(
            "url_host",
            rf"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:{_TLDS})\b(?:/[^\s<>\"')]*)?(?!\.\w)",
            0.6,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="URL",
            patterns=self.PATTERNS,
            context=["url", "website", "site", "link", "web"],
            name="ClinicalUrlRecognizer",
        )


#: An IPv4 address has digit.digit.digit, an IPv6 one hex:hex or "::".
_MAYBE_IP = re.compile(r"\d\.\d{1,3}\.\d|::|[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:")


class PrefilteredIpRecognizer(IpRecognizer):
    """Presidio's IP recognizer, skipped on texts with nothing shaped like an address: its
    IPv6 pattern costs as much per note as our phone rules."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        if _MAYBE_IP.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


def build(_dictionaries) -> list[EntityRecognizer]:
    """Factory for the ``contact`` family."""
    return [OfflineEmailRecognizer(), ClinicalUrlRecognizer(), PrefilteredIpRecognizer()]


register_family("contact", build, builtin=True)
