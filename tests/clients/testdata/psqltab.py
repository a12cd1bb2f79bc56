"""Types into an interactive psql through a pseudo-terminal and presses
Tab, so psql's own tab completion queries run against the server.
Usage: psqltab.py <psql> <host> <port> <user> <db>; prints the screen."""
import os
import pty
import select
import sys
import time

psql, host, port, user, db = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.environ["PGAPPNAME"] = "psql-tab"
    os.environ["PAGER"] = "cat"
    os.execv(psql, [psql, "-X", "-h", host, "-p", port, "-U", user, db])

buf = b""


def drain(wait):
    global buf
    end = time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk


drain(2)
# Each line ends with Tab Tab (list completions), then Ctrl-U clears it.
for typed in [b"SELECT * FROM dataf", b"SELECT * FROM dataflow.", b"SELECT * FROM dataflow.au",
              b"\\d dataflow.ru", b"\\dn ", b"SELECT * FROM pg_catalog.pg_cl", b"SET search_p",
              b"SELECT * FROM information_schema.ta", b"\\c ", b"SHOW time"]:
    os.write(fd, typed + b"\t\t")
    drain(1.5)
    os.write(fd, b"\x15")
    drain(0.3)
os.write(fd, b"\\q\n")
drain(1)
sys.stdout.write(buf.decode("utf-8", "replace"))
