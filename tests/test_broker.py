"""Broker config generation, authentication, and `plantwatch broker` (real Mosquitto/amqtt)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from plant.broker import embedded
from plant.broker.exposure import BrokerAuth, BrokerSecurityError, is_loopback
from plant.broker.mosquitto import (
    MosquittoBroker,
    MosquittoSettings,
    add_password,
    render_config,
)
from plant.config import BrokerConfig
from tests.fixtures.brokers import free_port, wait_port

REPO = Path(__file__).resolve().parent.parent


def _conf(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")


def test_loopback_config_is_anonymous_and_sized_from_broker_config(tmp_path: Path) -> None:
    broker = BrokerConfig(max_queued_messages=250_000)
    settings = MosquittoSettings.from_config(
        broker, port=18830, bind="127.0.0.1", data_dir=tmp_path, auth=BrokerAuth()
    )
    conf = _conf(render_config(settings))
    assert conf["listener"] == "18830 127.0.0.1"
    assert conf["allow_anonymous"] == "true"
    assert conf["max_queued_messages"] == "250000"
    assert conf["max_queued_bytes"] == "0"  # no byte cap: the message cap is the only limit
    assert int(conf["max_inflight_messages"]) >= 100
    assert conf["persistence"] == "true"
    assert conf["persistence_location"] == f"{tmp_path.resolve()}/"
    assert "password_file" not in conf
    assert ("user" in conf) == (os.geteuid() == 0)


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "::"])
def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path, bind: str) -> None:
    settings = MosquittoSettings(1883, bind, tmp_path)
    with pytest.raises(BrokerSecurityError, match="without authentication"):
        render_config(settings)
    with pytest.raises(BrokerSecurityError, match="without authentication"):
        embedded.broker_config(bind, 1883)


def test_non_loopback_with_passwords_acl_and_tls_writes_them(tmp_path: Path) -> None:
    files = {n: tmp_path / n for n in ("passwd", "acl", "cert.pem", "key.pem", "ca.pem")}
    for f in files.values():
        f.write_text("x")
    auth = BrokerAuth(*files.values())
    conf = _conf(render_config(MosquittoSettings(8883, "0.0.0.0", tmp_path, auth=auth)))
    assert conf["allow_anonymous"] == "false"
    assert conf["password_file"] == str(files["passwd"].resolve())
    assert conf["acl_file"] == str(files["acl"].resolve())
    assert conf["certfile"] == str(files["cert.pem"].resolve())
    assert conf["keyfile"] == str(files["key.pem"].resolve())
    assert conf["require_certificate"] == "true"


def test_missing_auth_files_are_named(tmp_path: Path) -> None:
    auth = BrokerAuth(password_file=tmp_path / "nope")
    with pytest.raises(BrokerSecurityError, match="nope"):
        render_config(MosquittoSettings(8883, "0.0.0.0", tmp_path, auth=auth))
    with pytest.raises(BrokerSecurityError, match="both"):
        BrokerAuth(certfile=tmp_path / "c").check_files()


def test_embedded_config_loopback_keeps_sessions_elsewhere_needs_password(tmp_path: Path) -> None:
    local = embedded.broker_config("127.0.0.1", 1999)
    assert local["listeners"]["default"]["bind"] == "127.0.0.1:1999"
    assert list(local["plugins"]) == ["plant.broker.embedded.LoopbackAuthPlugin"]
    pw = tmp_path / "users"
    pw.write_text("")
    public = embedded.broker_config("0.0.0.0", 1999, BrokerAuth(password_file=pw))
    assert public["plugins"] == {
        "amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(pw)}
    }


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def _try_connect(port: int, username: str | None, password: str | None) -> bool:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username:
        c.username_pw_set(username, password)
    result: list[bool] = []
    c.on_connect = lambda _c, _u, _f, rc, _p=None: result.append(not rc.is_failure)
    c.connect("127.0.0.1", port)
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        if c.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:  # the broker closed the connection
            break
    c.disconnect()
    return bool(result and result[0])


def test_mosquitto_with_password_file_refuses_anonymous_and_wrong_password(tmp_path: Path) -> None:
    pw = tmp_path / "passwd"
    add_password(pw, "sim", "s3cret")
    auth = BrokerAuth(password_file=pw)
    broker = MosquittoBroker(MosquittoSettings(free_port(), "127.0.0.1", tmp_path / "b", auth=auth))
    broker.start()
    try:
        port = broker.settings.port
        assert _try_connect(port, "sim", "s3cret")
        assert not _try_connect(port, "sim", "wrong")
        assert not _try_connect(port, None, None)
    finally:
        assert broker.stop() == 0


def test_embedded_broker_keeps_a_persistent_session_on_loopback(embedded_broker) -> None:
    port = embedded_broker.port
    got: list[bytes] = []
    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="keeper", protocol=mqtt.MQTTv311, clean_session=False
    )
    sub.on_message = lambda _c, _u, m: got.append(m.payload)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe("t/#", qos=1)
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    pub.publish("t/x", b"while-away", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    sub.reconnect()
    sub.loop_start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.disconnect()
    sub.loop_stop()
    assert got == [b"while-away"]


def _start_cli(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "plant.cli", "broker", *args],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_log(log: Path, pattern: str, timeout_s: float = 15.0) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in {log}:\n{log.read_text()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_command_runs_mosquitto_until_signal(tmp_path: Path, sig: int) -> None:
    port = free_port()
    log = tmp_path / "broker.log"
    proc = _start_cli(["--port", str(port), "--data-dir", str(tmp_path / "d")], log)
    try:
        wait_port(port)
        assert _try_connect(port, None, None)
        _wait_log(log, rf"broker: mosquitto \(PID \d+\) on mqtt://127.0.0.1:{port}")
        child = int(_wait_log(log, r"mosquitto started, PID (\d+)").group(1))
        assert _alive(child)
        proc.send_signal(sig)
        assert proc.wait(15) == 0
        assert not _alive(child), "mosquitto left running after plantwatch broker exited"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_broker_command_embedded_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "broker.log"
    proc = _start_cli(["--embedded", "--port", str(port)], log)
    try:
        wait_port(port, 30)
        assert _try_connect(port, None, None)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        _wait_log(log, rf"broker: embedded \(amqtt\) on mqtt://127.0.0.1:{port}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_broker_command_refuses_public_bind_without_auth(tmp_path: Path) -> None:
    for extra in ([], ["--embedded"]):
        proc = subprocess.run(
            [sys.executable, "-m", "plant.cli", "broker", "--bind", "0.0.0.0", *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2, proc.stderr
        assert "without authentication" in proc.stderr


def test_mosquitto_with_tls_and_password_serves_tls_only(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    pw = tmp_path / "passwd"
    add_password(pw, "gw", "pw1")
    auth = BrokerAuth(password_file=pw, certfile=cert, keyfile=key)
    broker = MosquittoBroker(MosquittoSettings(free_port(), "127.0.0.1", tmp_path / "b", auth=auth))
    broker.start()
    try:
        port = broker.settings.port
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.tls_set(ca_certs=str(cert))
        c.tls_insecure_set(True)  # the test certificate names localhost, we dial 127.0.0.1
        c.username_pw_set("gw", "pw1")
        result: list[bool] = []
        c.on_connect = lambda _c, _u, _f, rc, _p=None: result.append(not rc.is_failure)
        c.connect("127.0.0.1", port)
        deadline = time.monotonic() + 5
        while not result and time.monotonic() < deadline:
            c.loop(0.1)
        c.disconnect()
        assert result == [True]
        assert not _try_connect(port, "gw", "pw1")  # plain MQTT on the TLS port: no CONNACK
    finally:
        broker.stop()
