"""A dv-processing NetworkWriter in its own process, for tests/sources/test_dv_camera.py (run as a script).

    python dv_writer.py PORT MODE [FILE]

Serves on 127.0.0.1:PORT and prints "listening". MODE:
  file     wait for a client, stream every event batch of FILE (an AEDAT 4 recording) as written, wait until
           the writer's queue is sent, print "sent", then exit (the stream ends) when a line comes on stdin:
           the test says when its reader has everything (a writer that exits while its client is still
           reading loses what TCP had not yet taken from it: seen with 2 M events and a busy reader)
  stall    the same, then keep the connection open without sending anything until killed
  half     stream the first half of FILE's batches, print "half", then wait to be killed (SIGKILL: dies mid-stream)
  second   stream the second half of FILE's batches, print "sent", then wait to be killed
  frames   serve a frame stream (not events) until killed
A writer process exits with os._exit: dv-processing 2.0.4's NetworkWriter destructor hangs while a client
is connected (seen here), and a writer that vanishes is what these tests need anyway.
"""

import os
import sys
import time

import dv_processing as dv

port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "frames":
    w = dv.io.NetworkWriter("127.0.0.1", port, dv.io.Stream.FrameStream(0, "frames", "TEST_CAM", (64, 48)))
    print("listening", flush=True)
    while True:
        time.sleep(1)
rec = dv.io.MonoCameraRecording(sys.argv[3])
batches = []
while (b := rec.getNextEventBatch()) is not None:
    batches.append(b)
w = dv.io.NetworkWriter("127.0.0.1", port,
                        dv.io.Stream.EventStream(0, "events", rec.getCameraName(), rec.getEventResolution()))
print("listening", flush=True)
while w.getClientCount() == 0:
    time.sleep(0.005)
part = {"half": batches[:len(batches) // 2], "second": batches[len(batches) // 2:]}.get(mode, batches)
for b in part:
    w.writeEvents(b)
while w.getQueuedPacketCount() > 0:
    time.sleep(0.005)
time.sleep(0.2)  # out of the queue is not yet on the wire
print("half" if mode == "half" else "sent", flush=True)
if mode == "file":
    sys.stdin.readline()
    os._exit(0)
while True:
    time.sleep(1)
