"""An encrypted pipeline: nodes talk over CURVE, and a listener without the pipeline's client key hears nothing."""

import subprocess
import sys

import zmq
from runtime_helpers import ep, wait_for

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import pipeline

PY = sys.executable


def test_curve_pipeline_encrypts_and_admits_only_its_clients(tmp_path):
    keys = tmp_path / "keys"
    assert subprocess.call([PY, "-m", "spikestream", "keys", str(keys)], timeout=60) == 0
    curve = transport.load_curve_keys(keys)
    src, out, ctl = ep(), ep(), ep()
    p = tmp_path / "p.toml"
    p.write_text(f"""
[pipeline]
name = "secret"
curve_keys = "keys"
[nodes.src]
kind = "ramp_source"
outputs = {{ out = "{src}" }}
params = {{ rate_hz = 200 }}
start_wait_s = 0
[nodes.relay]
kind = "relay"
inputs = {{ in = "src.out" }}
outputs = {{ out = "{out}" }}
control = "{ctl}"
start_wait_s = 0
""")
    assert pipeline.load(p).curve_keys == str(keys.resolve())
    ctx = zmq.Context()
    auth = transport.start_authenticator(ctx, curve)  # our own CURVE server sockets (none here) would need it
    member = transport.sub(ctx, [out], transport.SocketOptions(curve=curve))
    plain = transport.sub(ctx, [out])
    stranger_pub, stranger_sec = zmq.curve_keypair()
    stranger = transport.sub(ctx, [out], transport.SocketOptions(curve=transport.Curve(
        curve.server_public, b"", stranger_pub, stranger_sec, curve.authorized)))
    proc = subprocess.Popen([PY, "-m", "spikestream", "run", str(p)])
    try:
        msg = wait_for(lambda: member.poll(100) and P.unpack(member.recv()), timeout=30.0)
        assert msg.kind == "samples"
        got = [m for m in range(20) if member.poll(50) and member.recv()]
        assert got  # the member keeps receiving...
        assert not plain.poll(500) and not stranger.poll(500)  # ...the others never do
        # the control channel is encrypted too: with the keys it answers, without them it does not
        frame = P.pack(P.Message(P.Command("ping")))
        assert P.unpack(transport.request(ctx, ctl, frame, 5.0, curve)).body.result == "pong"
        try:
            transport.request(ctx, ctl, frame, 0.5)
            raise AssertionError("a plain request was answered")
        except TimeoutError:
            pass
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for s in (member, plain, stranger):
            s.close(0)
        auth.stop()
        ctx.term()


def test_missing_curve_keys_are_a_clear_pipeline_error(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(f'[pipeline]\ncurve_keys = "nope"\n[nodes.a]\nkind = "ramp_source"\noutputs = {{ out = "{ep()}" }}\n')
    try:
        pipeline.load(p)
    except pipeline.PipelineError as e:
        assert "curve_keys" in str(e) and "nope" in str(e)
    else:
        raise AssertionError("no error")
