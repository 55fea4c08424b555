"""Reading images: the silence around C libraries' messages holds across threads."""

import os
import threading

import cv2

from slamfeat.io.images import quiet_stderr


def test_overlapping_quiet_blocks_on_two_threads_restore_stderr_and_the_log_level():
    """Thread A enters, B enters, A leaves, B leaves: the order in which worker threads decoding
    images overlap. Afterwards file descriptor 2 is the original one again and OpenCV logs again
    (a save and restore per thread left both silenced for good: B saved A's silence)."""
    before = os.fstat(2)
    level = cv2.utils.logging.getLogLevel()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    silenced = []

    def a():
        with quiet_stderr():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with quiet_stderr():
            b_in.set()
            a_out.wait(5)
            st = os.fstat(2)
            silenced.append((st.st_dev, st.st_ino) != (before.st_dev, before.st_ino))

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    after = os.fstat(2)
    assert silenced == [True]  # still quiet while B decodes, after A has left
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert cv2.utils.logging.getLogLevel() == level
