"""Suite-wide safety: no test can reach an AWS account; ``--process-clock`` moves the process clock."""

import pytest

AWS_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(autouse=True)
def _no_aws_credentials(monkeypatch, tmp_path_factory):
    for name in AWS_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def pytest_addoption(parser):
    parser.addoption(
        "--process-clock",
        metavar="ISO-8601",
        help="move this process's clock (time-machine, ticking) to this UTC moment for the whole session, "
        "e.g. 2027-01-31T23:59:30Z; make test runs the tests marked `clock` at three such moments",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "clock: date-sensitive; run again by make test at boundary moments")
    moment = config.getoption("--process-clock")
    if moment:
        import time_machine

        from tests.fixtures.clock import parse_moment

        traveller = time_machine.travel(parse_moment(moment), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


@pytest.fixture(autouse=True)
def _isolated_regiongate_logging():
    """``logs.configure`` turns off propagation of the ``regiongate`` logger (JSON lines to stdout, as in Lambda):
    restore the logger after every test, so no test's log capture depends on which test ran before it."""
    import logging

    from regiongate.common import logs

    logger = logging.getLogger("regiongate")
    saved = (logger.propagate, list(logger.handlers), logger.level, logs._configured, logs._handler)
    yield
    logger.propagate, logger.level = saved[0], saved[2]
    logger.handlers[:] = saved[1]
    logs._configured, logs._handler = saved[3], saved[4]
