"""A full queue (LMDB map full) is a temporary condition: ncsendmail answers
75 while pickup has marked the queue full, every message accepted before
stays safe in the queue or the maildrop, and all of them are delivered
exactly once after the map is made larger."""

import os
import re

from instance import wait_for
from msgs import message, new_token, token_counts


def test_map_full_defers_submission_and_loses_nothing(instances, sinks):
    sink = sinks(up=False)
    inst = instances(smart_host=[sink], queue_map_size="1M").start()
    flag = os.path.join(inst.queue, "flags", "full")
    filler = b"".join(b"%06d fill line for a large message\n" % n
                      for n in range(1800))  # about 64 KB
    accepted, refused = [], []
    for i in range(200):
        tok = new_token()
        data, _ = message(tok, "big%d@full.example" % i, i,
                          body=tok.encode() + b"\n" + filler)
        p = inst.submit(["big%d@full.example" % i], data,
                        sender="s@test.example", check=False)
        if p.returncode == 0:
            accepted.append(tok)
        else:
            assert p.returncode == 75, p.stderr
            assert b"full" in p.stderr.lower(), p.stderr
            refused.append(tok)
            if len(refused) == 3:
                break
    print("accepted %d, refused %d" % (len(accepted), len(refused)))
    assert refused, "a 1 MB queue never reported itself full"
    assert os.path.exists(flag)
    assert len(accepted) > 5
    # Nothing accepted is lost: it is queued or still waiting in maildrop.
    queued = len(inst.qshow_json())
    assert queued + len(inst.maildrop_files()) == len(accepted)
    assert re.search(r"cannot queue \d+ message\(s\): queue is full",
                     inst.log()), "the full queue was not logged"

    inst.stop()
    inst.configure(queue_map_size="64M")
    inst.start()
    sink.start()
    inst.ctl("flush", check=True)
    assert sink.wait_count(len(accepted), 60), \
        "only %d of %d delivered" % (sink.count(), len(accepted))
    wait_for(lambda: inst.qshow_json() == [] and not inst.maildrop_files(),
             30, "an empty queue and maildrop")
    counts = token_counts(sink.snapshot())
    assert set(counts) == set(accepted)
    assert all(n == 1 for n in counts.values()), counts
    wait_for(lambda: not os.path.exists(flag), 10, "the full flag cleared")
    # and submission works again
    tok = new_token()
    data, _ = message(tok, "after@full.example")
    inst.submit(["after@full.example"], data, sender="s@test.example")
    assert sink.wait_count(len(accepted) + 1, 20)
