"""Logger format, print_log routing, log-file attachment; MMLogger over the same pipeline."""

import logging
import re

import pytest

from kiln.logging import MMLogger, close_log_file, get_logger, log_file_path, print_log

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


# -- MMLogger ---------------------------------------------------------------------------------
def test_mmlogger_is_a_logger_feeding_the_one_pipeline(tmp_path, capsys):
    run_log = tmp_path / "run.log"
    try:
        get_logger(log_file=run_log)
        logger = MMLogger.get_instance("mm-pipeline", logger_name="det")
        assert isinstance(logger, logging.Logger)
        logger.info("from det")
        print_log("by name", logger="mm-pipeline")
    finally:
        close_log_file()
    out = capsys.readouterr().out
    assert re.search(r"^\d\d/\d\d \d\d:\d\d:\d\d - det - INFO - from det$", out, re.M), out
    assert " - det - INFO - by name" in out
    assert out.count("from det") == 1  # one console handler, not one per logger
    text = run_log.read_text()  # the run's file gets MMLogger records too
    assert " - det - INFO - from det" in text and "by name" in text


def test_mmlogger_instances_and_current():
    a = MMLogger.get_instance("mm-a")
    b = MMLogger.get_instance("mm-b", log_level="WARNING")
    assert MMLogger.get_instance("mm-a") is a
    assert MMLogger.get_current_instance() is b  # the latest created, not the latest fetched
    assert a.instance_name == "mm-a" and MMLogger.check_instance_created("mm-b")
    assert b.level == logging.WARNING and not b.isEnabledFor(logging.INFO)
    with pytest.warns(UserWarning, match="should not accept any other arguments"):
        MMLogger.get_instance("mm-a", log_level="DEBUG")


def test_mmlogger_own_log_file_modes_and_levels(tmp_path, capsys):
    path = tmp_path / "sub" / "own.log"
    path.parent.mkdir()
    path.write_text("old line\n")
    logger = MMLogger.get_instance("mm-file", log_file=path, log_level="DEBUG")  # file_mode 'w' truncates
    try:
        assert logger.log_file == str(path)
        logger.debug("debug line")
        logger.info("info line")
    finally:
        logger.close()
    text = path.read_text()
    assert "old line" not in text and "debug line" in text and "info line" in text
    assert re.search(r"^\d{4}/\d\d/\d\d .* - kiln - DEBUG - debug line$", text, re.M)
    # the console keeps the pipeline's level (INFO): the debug record went to the file only
    out = capsys.readouterr().out
    assert "info line" in out and "debug line" not in out


def test_mmlogger_without_file_reports_the_run_log_file(tmp_path):
    logger = MMLogger.get_instance("mm-nofile")
    assert logger.log_file is None
    try:
        get_logger(log_file=tmp_path / "r.log")
        assert logger.log_file == str(tmp_path / "r.log")
    finally:
        close_log_file()


def test_mmlogger_drops_repeated_warnings(capsys):
    logger = MMLogger.get_instance("mm-dup")
    for _ in range(3):
        logger.warning("same warning")
    logger.warning("other warning")
    out = capsys.readouterr().out
    assert out.count("same warning") == 1 and out.count("other warning") == 1


def test_print_log_routes(capsys):
    named = MMLogger.get_instance("mm-route", logger_name="routed")
    print_log("to current")  # None: plain print
    print_log("to named", logger="mm-route")
    print_log("to object", logger=named, level=logging.WARNING)
    out = capsys.readouterr().out
    assert "to current\n" in out and " - routed - INFO - to named" in out
    assert " - routed - WARNING - to object" in out
    with pytest.raises(ValueError, match="'never-made' has not been created"):
        print_log("x", logger="never-made")
    with pytest.raises(TypeError, match="logger should be"):
        print_log("x", logger=3)


def test_default_current_instance_follows_the_kiln_level(capsys):
    """Without any MMLogger, 'current' is an auto-created one with no level of its own."""
    saved = dict(MMLogger._instance_dict)
    MMLogger._instance_dict.clear()
    try:
        current = MMLogger.get_current_instance()
        assert current.instance_name == "kiln" and current.level == logging.NOTSET
        get_logger(log_level="DEBUG")
        print_log("debug shown", logger="current", level=logging.DEBUG)
        get_logger(log_level="INFO")
        print_log("debug hidden", logger="current", level=logging.DEBUG)
    finally:
        get_logger(log_level="INFO")
        MMLogger._instance_dict.clear()
        MMLogger._instance_dict.update(saved)
    out = capsys.readouterr().out
    assert " - kiln - DEBUG - debug shown" in out and "debug hidden" not in out


def test_rotating_file_handler_cfg_and_bad_type(tmp_path):
    logger = MMLogger.get_instance("mm-rot", log_file=tmp_path / "rot.log",
                                   file_handler_cfg=dict(type="RotatingFileHandler", maxBytes=200, backupCount=1))
    try:
        for i in range(20):
            logger.info(f"line {i:02d} with some padding to fill the file")
    finally:
        logger.close()
    assert (tmp_path / "rot.log.1").exists()
    with pytest.raises(ValueError, match="file_handler_cfg.type"):
        MMLogger("mm-bad", log_file=tmp_path / "bad.log", file_handler_cfg=dict(type="StreamHandler"))


@pytest.fixture
def buffered_log(tmp_path, monkeypatch):
    """``open(flush_seconds)``: the run's log file at ``tmp_path/run.log`` with that flush delay
    (closed after the test); returns its path."""
    from kiln.logging import logger as logger_module

    def open_log(flush_seconds: float):
        monkeypatch.setattr(logger_module._LogFileHandler, "FLUSH_SECONDS", flush_seconds)
        get_logger(log_file=tmp_path / "run.log")
        return tmp_path / "run.log"

    yield open_log
    close_log_file()


def test_log_file_is_written_in_batches_but_warnings_and_flushes_reach_it_at_once(buffered_log):
    from kiln.logging.logger import flush_log_file

    path = buffered_log(3600.0)  # the timer never fires during the test
    print_log("info one", logger="current")
    assert "info one" not in path.read_text()  # buffered
    flush_log_file()  # the LoggerHook's epoch/run end
    assert "info one" in path.read_text()
    print_log("info two", logger="current")
    print_log("careful", logger="current", level=logging.WARNING)
    text = path.read_text()
    assert "info two" in text and "careful" in text  # a warning flushes what came before it
    print_log("info three", logger="current")
    close_log_file()
    assert "info three" in path.read_text()  # closing flushes


def test_log_file_flushes_every_record_with_zero_flush_seconds(buffered_log):
    path = buffered_log(0.0)
    print_log("at once", logger="current")
    assert "at once" in path.read_text()


def test_a_lone_log_line_reaches_the_file_without_another_record(buffered_log):
    import time

    path = buffered_log(0.05)
    print_log("the last line of a slow epoch", logger="current")
    deadline = time.monotonic() + 30  # liveness bound only; the timer fires after 0.05 s
    while "slow epoch" not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "the last line of a slow epoch" in path.read_text()
