"""A map worker that speaks version 2 of the worker protocol (doc/map.md)
and breaks it in one way, given as its argument, at the item of key k5:
upper-cases every value, as the C example does, but

  twice    replies to k5's item twice
  skip     sends no reply to k5's item
  unknown  replies to k5's item with an id it was never sent
  reorder  replies to the item after k5's before k5's
  short    promises 1 MiB for k5's value, sends 10 bytes and no more
  huge     promises 4 GiB - 1 for k5's value, then answers the next items
           as if nothing happened (their replies become that value's
           bytes), then waits for more
  every5   as huge, with a 1 MiB value, at the 5th item each process gets
           (issue 67): every worker started again breaks again
  drip     sends k5's reply a byte every half second
  mute     never says hello: sleeps until it is killed
  mute-again DIR N  the first N started (counted by the files DIR/N
           they make) answer every item, but the first of them to meet
           k5 exits; the ones started after them are mute
  early    sends a well-formed reply before its hello
  v1       says hello as version 1

for tests/map-protocol.sh."""

import os
import struct
import sys
import time

MODE = sys.argv[1]
HELLO = struct.Struct("<4sII")
ITEM = struct.Struct("<III")
REPLY = struct.Struct("<IIII")
VALUE = 3


def read_exact(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


def reply(iid, value):
    return REPLY.pack(iid, VALUE, 0, len(value)) + value


_, _, n = HELLO.unpack(read_exact(HELLO.size))
read_exact(n)
if MODE == "mute-again":
    started = 1
    while True:
        try:
            os.close(os.open(os.path.join(sys.argv[2], str(started)),
                             os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            started += 1
    if started > int(sys.argv[3]):
        MODE = "mute"
if MODE == "mute":
    sys.stderr.write("mute: no hello from me\n")
    sys.stderr.flush()
    while True:
        time.sleep(3600)
if MODE == "early":
    os.write(1, reply(0, b"X"))
os.write(1, HELLO.pack(b"BLTW", 1 if MODE == "v1" else 2, 6) + b"broken")
held = None
n = 0
while True:
    iid, klen, vlen = ITEM.unpack(read_exact(ITEM.size))
    key = read_exact(klen)
    out = reply(iid, read_exact(vlen).upper())
    n += 1
    if MODE == "every5" and n == 5:
        out = REPLY.pack(iid, VALUE, 0, 1 << 20) + b"x" * 10
    elif MODE == "drip" and key == b"k5":
        for i in range(len(out)):
            os.write(1, out[i:i + 1])
            time.sleep(0.5)
        out = b""
    elif key == b"k5":
        if MODE == "mute-again":
            try:
                os.close(os.open(os.path.join(sys.argv[2], "exited"),
                                 os.O_CREAT | os.O_EXCL))
                os._exit(1)
            except FileExistsError:
                pass
        if MODE == "twice":
            out += out
        elif MODE == "skip":
            out = b""
        elif MODE == "unknown":
            out = reply(iid + 100000, b"X")
        elif MODE == "reorder":
            held, out = out, b""
        elif MODE == "short":
            out = REPLY.pack(iid, VALUE, 0, 1 << 20) + b"0123456789"
        elif MODE == "huge":
            out = REPLY.pack(iid, VALUE, 0, (1 << 32) - 1)
    elif held is not None:
        out, held = out + held, None
    os.write(1, out)
