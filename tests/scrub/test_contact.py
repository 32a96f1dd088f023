"""Emails, URLs and IPs, and the proof that email validation never reaches the network."""

from __future__ import annotations

import socket

import pytest
import requests
from pytest_socket import SocketBlockedError

from securetune.scrub.recognizers import contact

from .conftest import spans

TEXT = "email jane.doe@example.com, see https://www.example.org/x and www.cdc.gov; ip 10.0.0.12."


def test_contact_details_found_with_exact_offsets(detector) -> None:
    assert spans(detector, TEXT) == [
        (6, 26, "EMAIL_ADDRESS"),
        (32, 57, "URL"),
        (62, 73, "URL"),
        (78, 87, "IP_ADDRESS"),
    ]


def test_missing_spaces_after_full_stops_are_not_urls(detector) -> None:
    assert spans(detector, "secretions.lu shift.pr agitated..otherwise..cooperative") == []


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_email_validation_uses_the_bundled_suffix_list_only(detector, monkeypatch) -> None:
    fetches: list[object] = []

    def no_fetch(self: requests.Session, request: requests.PreparedRequest, **kw: object):
        fetches.append(request.url)
        raise AssertionError("tldextract tried to fetch the public suffix list")

    # Every HTTP request tldextract could make goes through Session.send.
    monkeypatch.setattr(requests.Session, "send", no_fetch)
    contact.offline_extractor.cache_clear()  # force a fresh extractor inside this test
    with pytest.raises(SocketBlockedError):  # the socket guard is on for this test too
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert spans(detector, "mail a.b@example.co.uk now") == [(5, 22, "EMAIL_ADDRESS")]
    assert fetches == []
    assert contact.offline_extractor().suffix_list_urls == ()
