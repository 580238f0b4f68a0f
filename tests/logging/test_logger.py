"""Logger format, print_log routing, log-file attachment."""

import logging
import re

from kiln.logging import close_log_file, get_logger, log_file_path, print_log

LINE = re.compile(r"^\d\d/\d\d \d\d:\d\d:\d\d - kiln - INFO - hello$")


def test_console_line_format(capsys):
    get_logger()
    print_log("hello", logger="current")
    out = capsys.readouterr().out.strip().splitlines()
    assert LINE.match(out[-1]), out


def test_print_log_none_prints_and_silent_drops(capsys):
    print_log("plain")
    print_log("hidden", logger="silent")
    out = capsys.readouterr().out
    assert out == "plain\n"


def test_levels_filter(capsys):
    logger = get_logger(log_level="WARNING")
    try:
        print_log("info", logger="current")
        print_log("warn", logger="current", level=logging.WARNING)
        out = capsys.readouterr().out
        assert "info" not in out and " - kiln - WARNING - warn" in out
    finally:
        logger.setLevel(logging.INFO)
        get_logger(log_level="INFO")


def test_log_file_gets_full_date_and_is_replaced(tmp_path, capsys):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    try:
        get_logger(log_file=first)
        print_log("one", logger="current")
        assert log_file_path() == str(first)
        get_logger(log_file=second)
        print_log("two", logger="current")
        assert log_file_path() == str(second)
    finally:
        close_log_file()
    assert log_file_path() is None
    text_a, text_b = first.read_text(), second.read_text()
    assert re.search(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d - kiln - INFO - one$", text_a, re.M)
    assert "two" not in text_a and "two" in text_b


def test_error_records_say_where(capsys):
    get_logger().error("boom")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert " - ERROR - " in line and "test_logger.py - test_error_records_say_where - " in line
