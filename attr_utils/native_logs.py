"""Keep TensorFlow's native start-up lines (CUDA probing, oneDNN notices) off a command's stderr.

TensorFlow's C++ core writes lines such as::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796007825.513215    3666 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 00:00:1796007841.593183    3666 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...

straight to file descriptor 2 when it is imported and when it first looks
for devices, before absl logging is initialised, so neither
``TF_CPP_MIN_LOG_LEVEL`` nor ``CUDA_VISIBLE_DEVICES=""`` silences them
(measured with TensorFlow 2.19). On a machine without a GPU they are noise
in front of a command's real messages. :func:`filter_native_stderr` drops
exactly those lines (absl-formatted info and warning lines, and error lines
about CUDA) and passes everything else through; Python's own ``sys.stderr``
(progress bars, warnings, errors) bypasses the filter entirely.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

__all__ = ["NOISE", "filter_native_stderr", "is_noise"]

#: Lines dropped: absl's pre-initialisation notice, absl info/warning lines, absl error lines about CUDA.
NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] .*"
    rb"|E\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] .*(?:cuda|cuInit|CUDA).*)\r?$"
)


def is_noise(line: bytes) -> bool:
    """Whether one line (bytes, without or with its newline) is TensorFlow start-up noise."""
    return NOISE.match(line.rstrip(b"\n")) is not None


def _pump(read_fd: int, out_fd: int) -> None:
    buffered = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(out_fd, kept)
    if buffered and not is_noise(buffered):
        os.write(out_fd, buffered)


def _writes_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def filter_native_stderr():
    """While the block runs, drop TensorFlow's native start-up lines from file descriptor 2.

    File descriptor 2 is pointed at a pipe read by a thread that forwards every
    line except those :data:`NOISE` matches to the real stderr; ``sys.stderr``
    (when it writes to file descriptor 2) is rebound to the real stderr
    directly, so Python writes (tqdm's ``\\r`` updates included) are neither
    delayed nor filtered. Everything is restored
    on exit. Without a usable file descriptor 2 (some embedded interpreters)
    nothing is changed.
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    read_fd, write_fd = os.pipe()
    saved_stderr = sys.stderr
    direct = None
    if _writes_fd2(saved_stderr):  # else it is not fd 2 (a test's capture): leave it alone
        encoding = getattr(saved_stderr, "encoding", None) or "utf-8"
        direct = open(os.dup(real), "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, real), name="attr-utils-stderr-filter", daemon=True)
    pump.start()
    if direct is not None:
        sys.stderr = direct
    try:
        yield
    finally:
        if direct is not None:
            sys.stderr = saved_stderr
            direct.close()
        os.dup2(real, 2)  # closes the pipe's last write end here: the pump drains it and stops
        pump.join(timeout=2.0)  # a child process still holding the pipe keeps it alive: do not wait for it
        if not pump.is_alive():
            os.close(real)
