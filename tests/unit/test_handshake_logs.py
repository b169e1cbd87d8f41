"""Handshake lines and plugin log lines, parsed as go-plugin hosts do."""

from __future__ import annotations

import logging

import pytest

from plugin_host.errors import ProtocolError
from plugin_host.handshake import (
    Handshake,
    format_handshake,
    loopback_tcp_address,
    negotiate_version,
    parse_handshake,
)
from plugin_host.logs import PluginLogLine, StderrClassifier, parse_log_line
from plugin_host.server import HclogFormatter

pytestmark = pytest.mark.unit


def test_parses_go_plugin_line() -> None:
    handshake = parse_handshake("1|1|unix|/tmp/plugin4027817908|netrpc|\n")
    assert handshake == Handshake(1, 1, "unix", "/tmp/plugin4027817908", "netrpc", "")


def test_protocol_defaults_to_netrpc_and_roundtrips() -> None:
    handshake = parse_handshake("1|1|unix|/tmp/p")
    assert handshake.protocol == "netrpc"
    assert parse_handshake(format_handshake(handshake)) == handshake


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hello world", "unrecognized remote plugin message"),
        ("x|1|unix|/p|netrpc|", "unrecognized remote plugin message"),
        ("2|1|unix|/p|netrpc|", "incompatible core API version"),
        ("1|7|unix|/p|netrpc|", "incompatible API version"),
        ("1|1|udp|/p|netrpc|", "unknown address type"),
        ("1|1|unix||netrpc|", "empty address"),
        ("1|1|unix|/p|grpc|", "only netrpc is supported"),
    ],
)
def test_bad_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_handshake(line)


def test_version_negotiation_picks_highest_common() -> None:
    assert negotiate_version("1,2,3", (1, 2)) == 2
    assert negotiate_version("", (1,)) is None
    assert negotiate_version("5", (1,)) is None


def test_hclog_json_line() -> None:
    parsed = parse_log_line(
        '{"@level":"warn","@message":"slow","@timestamp":"2026-11-28T03:59:08.071025Z",'
        '"@module":"hardcoded","unit":"42"}'
    )
    # As go-plugin's host: every other key is a field, and the timestamp is kept as one.
    assert parsed == PluginLogLine(
        logging.WARNING,
        "slow",
        {"@module": "hardcoded", "unit": "42", "timestamp": "2026-11-28T03:59:08.071025Z"},
    )


def test_json_with_bad_timestamp_is_plain_text() -> None:
    line = '{"@level":"error","@message":"x","@timestamp":"2026-11-28T03:59:08Z"}'
    assert parse_log_line(line).level == logging.DEBUG
    assert parse_log_line(line).message == line


def test_unknown_level_keeps_whole_line_at_debug() -> None:
    line = '{"@level":"loud","@message":"x","@timestamp":"2026-11-28T03:59:08.071025+05:30"}'
    assert parse_log_line(line) == PluginLogLine(logging.DEBUG, line, {})


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        ("[ERROR] broken", logging.ERROR, "broken"),
        ("[WARN] careful", logging.WARNING, "careful"),
        ("[INFO] fyi", logging.INFO, "fyi"),
        (
            "2026/11/28 04:00:00 [ERR] plugin: x",
            logging.DEBUG,
            "2026/11/28 04:00:00 [ERR] plugin: x",
        ),
        ("panic: boom", logging.DEBUG, "panic: boom"),
    ],
)
def test_plain_lines(line: str, level: int, message: str) -> None:
    parsed = parse_log_line(line)
    assert (parsed.level, parsed.message) == (level, message)


def test_python_plugin_logs_are_what_go_hosts_parse() -> None:
    record = logging.LogRecord("hardcoded", logging.ERROR, __file__, 1, "bad unit %s", ("x",), None)
    record.unit = "x"
    parsed = parse_log_line(HclogFormatter().format(record))
    assert parsed.level == logging.ERROR
    assert parsed.message == "bad unit x"
    assert parsed.fields["unit"] == "x" and parsed.fields["@module"] == "hardcoded"


def test_lines_after_a_go_panic_are_errors() -> None:
    classifier = StderrClassifier()
    assert classifier.classify("starting").level == logging.DEBUG
    assert classifier.classify("panic: runtime error: index out of range").level == logging.ERROR
    assert classifier.classify("goroutine 1 [running]:").level == logging.ERROR
    hclog = '{"@level":"info","@message":"x","@timestamp":"2026-11-28T03:59:08.071025Z"}'
    assert classifier.classify(hclog).level == logging.INFO  # leveled lines keep their level


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:10000", ("127.0.0.1", 10000)),
        ("[::1]:25000", ("::1", 25000)),
        ("127.8.9.1:1", ("127.8.9.1", 1)),
    ],
)
def test_loopback_tcp_addresses_are_accepted(address: str, expected: tuple[str, int]) -> None:
    assert loopback_tcp_address(address) == expected


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1:80", "example.com:80", "0.0.0.0:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:x"],
)
def test_other_tcp_addresses_are_refused(address: str) -> None:
    with pytest.raises(ProtocolError):
        loopback_tcp_address(address)


def test_only_the_line_ending_is_stripped() -> None:
    assert parse_log_line("plain text\r\n") == PluginLogLine(logging.DEBUG, "plain text")
    assert parse_log_line("[INFO] spaced  \n") == PluginLogLine(logging.INFO, "spaced  ")
    assert parse_log_line("\n  box X\n") == PluginLogLine(logging.DEBUG, "\n  box X")


def test_json_line_without_a_message_has_an_empty_one() -> None:
    line = '{"@level":"info","@timestamp":"2026-11-28T03:59:08.071025Z"}'
    assert parse_log_line(line) == PluginLogLine(
        logging.INFO, "", {"timestamp": "2026-11-28T03:59:08.071025Z"}
    )


def test_lines_after_a_go_fatal_error_are_errors_with_their_text() -> None:
    classifier = StderrClassifier()
    fatal = "fatal error: all goroutines are asleep - deadlock!"
    assert classifier.classify(fatal) == PluginLogLine(logging.ERROR, fatal)
    assert classifier.classify("goroutine 1 [chan receive]:") == PluginLogLine(
        logging.ERROR, "goroutine 1 [chan receive]:"
    )
    assert StderrClassifier().classify("Fatal Error: not Go's") == PluginLogLine(
        logging.DEBUG, "Fatal Error: not Go's"
    )


def protocol_error(call: object, *args: str) -> str:
    assert callable(call)
    with pytest.raises(ProtocolError) as caught:
        call(*args)
    return str(caught.value)


def test_handshake_error_texts() -> None:
    assert protocol_error(parse_handshake, "hello") == "unrecognized remote plugin message: 'hello'"
    exactly_200 = "x" * 200
    assert protocol_error(parse_handshake, exactly_200) == (
        f"unrecognized remote plugin message: {exactly_200!r}"
    )
    assert protocol_error(parse_handshake, "y" * 199 + "zz") == (
        f"unrecognized remote plugin message: {'y' * 199 + 'z' + '...'!r}"
    )
    assert protocol_error(parse_handshake, "1|1|unix||netrpc|") == (
        "empty address in plugin handshake"
    )
    assert protocol_error(parse_handshake, "1|1|udp|/p|netrpc|") == (
        "unknown address type 'udp' in plugin handshake"
    )
    assert protocol_error(parse_handshake, "1|1|unix|/p|grpc") == (
        "plugin speaks 'grpc'; only netrpc is supported"
    )


def test_handshake_fields_four_five_and_six() -> None:
    assert parse_handshake("1|1|tcp|127.0.0.1:1234|netrpc|") == Handshake(
        1, 1, "tcp", "127.0.0.1:1234", "netrpc", ""
    )
    assert parse_handshake("1|1|unix|/p|netrpc") == Handshake(1, 1, "unix", "/p", "netrpc", "")
    assert parse_handshake("1|1|unix|/p||CERT") == Handshake(1, 1, "unix", "/p", "netrpc", "CERT")


def test_tcp_address_error_texts_and_port_range() -> None:
    assert loopback_tcp_address("127.0.0.1:65535") == ("127.0.0.1", 65535)
    assert protocol_error(loopback_tcp_address, "127.0.0.1:65536") == (
        "bad tcp address '127.0.0.1:65536' in plugin handshake"
    )
    assert protocol_error(loopback_tcp_address, "10.0.0.1:80") == (
        "plugin handshake names '10.0.0.1:80'; only loopback addresses are dialed"
    )
    assert protocol_error(loopback_tcp_address, "localhost:80") == (
        "plugin handshake names 'localhost:80'; only loopback addresses are dialed"
    )
