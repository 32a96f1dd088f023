"""Email addresses, URLs and IP addresses, through Presidio's own recognizers.

Presidio's ``EmailRecognizer`` validates matches with ``tldextract.extract``, whose default
extractor downloads the public suffix list on first use. We subclass it to use an extractor
built with ``suffix_list_urls=()`` and no cache directory, so it reads only the snapshot
bundled in the tldextract wheel and never touches the network.
"""

from __future__ import annotations

from functools import lru_cache

import tldextract
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IpRecognizer,
    UrlRecognizer,
)

from securetune.scrub.recognizers.base import register_family


@lru_cache(maxsize=1)
def offline_extractor() -> tldextract.TLDExtract:
    """A tldextract instance that uses only its bundled suffix-list snapshot."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with an offline suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return offline_extractor()(pattern_text).fqdn != ""


def build(_dictionaries) -> list[EntityRecognizer]:
    """Factory for the ``contact`` family."""
    return [OfflineEmailRecognizer(), UrlRecognizer(), IpRecognizer()]


register_family("contact", build, builtin=True)
