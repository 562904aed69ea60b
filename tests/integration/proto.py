"""IPC message numbers for the tests' hand-made frames, read from
common/proto.h (enum nc_msgtype) rather than copied, so that a renumbered
message cannot turn a hostile frame into a mere "unknown type" unnoticed.
test_ipc.py checks this reading against the C compiler's."""

import os
import re

PROTO_H = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "..", "common", "proto.h")


def message_types(path=PROTO_H):
    """{name: number} of every M_* in enum nc_msgtype, numbered as C does
    (an explicit "= N", else one more than the one before)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"enum\s+nc_msgtype\s*\{(.*?)\};", text, re.S)
    if body is None:
        raise ValueError("%s: no enum nc_msgtype" % path)
    src = re.sub(r"/\*.*?\*/", " ", body.group(1), flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    out, value = {}, -1
    for item in src.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"(M_[A-Z0-9_]+)\s*(?:=\s*(\d+))?", item)
        if m is None:
            raise ValueError("%s: cannot read %r in enum nc_msgtype"
                             % (path, item))
        value = int(m.group(2)) if m.group(2) is not None else value + 1
        out[m.group(1)] = value
    return out


TYPES = message_types()
globals().update(TYPES)
__all__ = sorted(TYPES) + ["TYPES", "message_types"]


def script(text):
    """A Python program run as another user (who cannot import this
    module from the tree) with every M_* name defined at its top."""
    return "".join("%s = %d\n" % kv for kv in sorted(TYPES.items())) + text
