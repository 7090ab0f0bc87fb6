"""The one structured dtype for camera events, used by every reader, writer, filter and node."""

import numpy as np

#: x, y in pixels; t in microseconds since the recording's origin; p polarity (1 = ON, 0 = OFF).
EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
