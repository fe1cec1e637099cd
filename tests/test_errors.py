"""Every error a user can meet is one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kalipso.data.server import RedisServer, free_port


def run_kalipso(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kalipso", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kalipso: ")
    for needle in needles:
        assert needle in lines[0]


def test_no_redis_at_that_port():
    port = free_port()
    result = run_kalipso("export", "--port", str(port))
    assert_one_line_error(result, f"127.0.0.1:{port}", "No Redis server answers")


def test_not_a_slips_database(empty_redis):
    empty_redis.client(0).set("some", "thing")
    result = run_kalipso("export", "--port", str(empty_redis.port))
    assert_one_line_error(result, "holds no Slips analysis")


def test_wrong_password_and_missing_password(redis_binary, tmp_path):
    with RedisServer(redis_binary, extra=["--requirepass", "s3cret"]) as server:
        missing = run_kalipso("export", "--port", str(server.port))
        assert_one_line_error(missing, "needs a password", "KALIPSO_REDIS_PASSWORD")
        import os
        env = dict(os.environ, KALIPSO_REDIS_PASSWORD="wrong")
        wrong = run_kalipso("export", "--port", str(server.port), env=env)
        assert_one_line_error(wrong, "refused the password")
        env["KALIPSO_REDIS_PASSWORD"] = "s3cret"
        right = run_kalipso("export", "--port", str(server.port), env=env)
        assert_one_line_error(right, "holds no Slips analysis")  # authenticated, but empty


@pytest.mark.parametrize("args,needle", [
    (["--profile", "10.9.9.9", "--timewindow", "timewindow1"], "no profile 10.9.9.9"),
    (["--profile", "192.168.1.23", "--timewindow", "timewindow99"], "has no time window timewindow99"),
    (["--profile", "192.168.1.23"], "--profile and --timewindow go together"),
])
def test_unknown_profile_or_timewindow(redis_server, tmp_path, args, needle):
    from kalipso.demo.generator import Scenario, generate
    generate(redis_server.client(0), redis_server.client(1), str(tmp_path), Scenario(hosts=3, hours=1))
    result = run_kalipso("export", "--port", str(redis_server.port), *args)
    assert_one_line_error(result, needle)


def test_redis_going_away_is_a_clear_error(redis_binary, tmp_path):
    from kalipso.data import ConnectionLost, ConnectionSettings, open_slips
    from kalipso.demo.generator import Scenario, generate
    with RedisServer(redis_binary) as server:
        generate(server.client(0), server.client(1), str(tmp_path), Scenario(hosts=3, hours=1))
        data = open_slips(ConnectionSettings(port=server.port, timeout=1))
        assert data.profiles()
        server.stop()
        with pytest.raises(ConnectionLost, match="lost the connection"):
            data.profiles()


def test_a_server_that_cannot_start_leaves_nothing(tmp_path, monkeypatch, redis_binary):
    from kalipso.data import ConnectionFailed
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(ConnectionFailed, match="did not start"):
        RedisServer(redis_binary, extra=["--no-such-option", "1"]).start(timeout=5)
    assert list(tmp_path.iterdir()) == []
