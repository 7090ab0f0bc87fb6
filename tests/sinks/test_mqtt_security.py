"""MQTT sink security against a real Mosquitto (issue 11 item 5): the CA is validated unless tls_verify =
false is asked for (tls_insecure / tls_check_hostname relax only the name check), refused connections are
logged, and the password can come from the environment or a file instead of the pipeline file."""

import logging
import os
import shutil
import subprocess

import pytest
import sinks_mqtt_helpers as mh

from spikestream.sinks.mqtt import MqttSink

wait_for = mh.wait_for
TOPIC = "arm/cmd"


def _ca(d, name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                    f"{name}.crt", "-days", "2", "-subj", f"/CN={name}"], check=True, capture_output=True, cwd=d)
    return d / f"{name}.crt"


def _server_cert(d, ca, san):
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)

    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=broker")
    (d / "san.ext").write_text(f"subjectAltName={san}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial", "-out",
        "server.crt", "-days", "2", "-extfile", "san.ext")
    return d / "server.crt", d / "server.key"


@pytest.fixture
def tls_broker(tmp_path):
    mh.need_mosquitto()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    ca = _ca(tmp_path, "ca")
    other = _ca(tmp_path, "unrelated")
    crt, key = _server_cert(tmp_path, "ca", "DNS:broker.example")  # does not name 127.0.0.1
    b = mh.Broker(tmp_path, extra_conf=f"allow_anonymous true\ncafile {ca}\ncertfile {crt}\nkeyfile {key}").start()
    yield b, ca, other
    b.stop()


def test_tls_validates_the_ca_even_with_tls_insecure(tls_broker, caplog):
    """Today tls_insecure accepted a broker whose certificate an unrelated CA signed."""
    b, ca, other = tls_broker
    caplog.set_level(logging.WARNING, "spikestream.sink.mqtt")
    relaxed = dict(host="127.0.0.1", port=b.port, topic=TOPIC, tls=True, backoff_max_s=0.2)
    wrong_ca = MqttSink(**relaxed, ca_certs=str(other), tls_insecure=True)
    wrong_ca2 = MqttSink(**relaxed, ca_certs=str(other), tls_check_hostname=False)
    name_only = MqttSink(**relaxed, ca_certs=str(ca), tls_check_hostname=False)  # right CA, name not checked
    strict = MqttSink(**relaxed, ca_certs=str(ca))  # right CA, but the certificate names broker.example
    unverified = MqttSink(**relaxed, ca_certs=str(other), tls_verify=False)  # explicitly asked for
    try:
        wait_for(name_only.connected.is_set, 10, "the hostname-relaxed sink (right CA) to connect")
        wait_for(unverified.connected.is_set, 10, "the tls_verify = false sink to connect")
        wait_for(lambda: all(s.stats()["connect_errors"] >= 2 for s in (wrong_ca, wrong_ca2, strict)), 10,
                 "the refused sinks to fail twice")
        for s in (wrong_ca, wrong_ca2, strict):
            assert s.stats()["connects"] == 0 and "certificate verify failed" in s.stats()["last_error"].lower()
        assert "hostname" in strict.stats()["last_error"].lower() or "ip address" in strict.stats()["last_error"].lower()
        assert any("certificate verify failed" in r.getMessage().lower() for r in caplog.records)
        assert any("tls_verify = false" in r.getMessage() for r in caplog.records)
    finally:
        for s in (wrong_ca, wrong_ca2, name_only, strict, unverified):
            s.close()


@pytest.fixture
def pw_broker(tmp_path):
    b = mh.password_broker(tmp_path)
    yield b
    b.stop()


def test_wrong_password_is_logged_not_swallowed(pw_broker, caplog):
    caplog.set_level(logging.WARNING, "spikestream.sink.mqtt")
    bad = MqttSink(port=pw_broker.port, topic=TOPIC, username="robot", password="Pa55-wr0ng-XYZ", backoff_max_s=0.2)
    try:
        wait_for(lambda: bad.stats()["connect_errors"] >= 3, 10, "three refused connections")
        assert bad.stats()["connects"] == 0
        err = bad.stats()["last_error"].lower()
        assert "not authorized" in err or "bad user name or password" in err, err
        msgs = [r.getMessage() for r in caplog.records]
        assert any("not authori" in m.lower() or "bad user name" in m.lower() for m in msgs), msgs
        assert len(msgs) <= 3  # 1st, 2nd, 4th: a refused broker cannot flood the log
        assert not any("Pa55-wr0ng-XYZ" in m for m in msgs)  # the password is never logged
    finally:
        bad.close()


def test_a_literal_password_is_warned_about(caplog):
    caplog.set_level(logging.WARNING, "spikestream.sink.mqtt")
    s = MqttSink(port=1, topic=TOPIC, username="u", password="Lit3ral-pw", backoff_min_s=5.0, backoff_max_s=5.0)
    s.close()
    msgs = [r.getMessage() for r in caplog.records]
    assert any("password_env" in m for m in msgs) and not any("Lit3ral-pw" in m for m in msgs)


def test_password_from_env_or_file(pw_broker, tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKESTREAM_TEST_MQTT_PW", "s3cret")
    f = tmp_path / "mqtt.pw"
    f.write_text("s3cret\n")
    os.chmod(f, 0o600)
    from_env = MqttSink(port=pw_broker.port, topic=TOPIC, username="robot", password_env="SPIKESTREAM_TEST_MQTT_PW")
    from_file = MqttSink(port=pw_broker.port, topic=TOPIC, username="robot", password_file=str(f))
    try:
        wait_for(lambda: from_env.connected.is_set() and from_file.connected.is_set(), 10, "both sinks to connect")
    finally:
        from_env.close()
        from_file.close()


@pytest.mark.parametrize("kw, msg", [
    ({"username": "u", "password_env": "SPIKESTREAM_NO_SUCH_VAR_42"}, "not set"),
    ({"username": "u", "password_file": "/nonexistent/pw"}, "password_file"),
    ({"username": "u", "password": "x", "password_env": "HOME"}, "only one"),
    ({"tls": True, "ca_certs": "/nonexistent/ca.crt"}, "TLS files"),
    ({"ca_certs": "/etc/ssl/certs/ca-certificates.crt"}, "tls is not true"),
    ({"tls": True, "tls_verify": "no"}, "tls_verify"),
])
def test_bad_security_params(kw, msg):
    with pytest.raises(ValueError, match=msg):
        MqttSink(**kw)
