#!/usr/bin/env python3
"""Drives a program's console like a person at a terminal, for the tests.

    console-session.py LOG TIMEOUT STEP... -- COMMAND...

Runs COMMAND with a pipe for its standard input and its output (stdout and
stderr) copied to LOG, and carries out each STEP in order:
    expect:REGEX   wait until the output (carriage returns dropped) matches
                   REGEX, searching from where the last match ended
    send:TEXT      write TEXT and a newline to its input
    sendraw:HEX    write the bytes HEX spells (two hex digits a byte, e.g. 1d32
                   for Ctrl-] 2), and nothing else, to its input
    connect:PORT:REGEX
                   connect to 127.0.0.1:PORT and read until the other end
                   closes (5 s at most), again and again until what it sent
                   matches REGEX; prints what it sent
Then it waits for COMMAND to end. The whole run has TIMEOUT seconds. Exits 0
when every step was done and COMMAND exited with 0; otherwise prints which
step failed (or COMMAND's exit status) and exits 1, killing COMMAND if it
still runs.
"""
import os
import re
import select
import socket
import subprocess
import sys
import time


def fetch(port):
    """What 127.0.0.1:PORT sends until it closes (within 5 s); b"" if it cannot be reached."""
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            while chunk := s.recv(4096):
                got += chunk
    except OSError:
        pass
    return got


def main():
    if "--" not in sys.argv or len(sys.argv) < 5:
        sys.exit(__doc__)
    split = sys.argv.index("--")
    log_path, timeout = sys.argv[1], float(sys.argv[2])
    steps, command = sys.argv[3:split], sys.argv[split + 1:]
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, seen = b"", 0
    with open(log_path, "wb") as log:

        def read_some():
            nonlocal out
            wait = deadline - time.monotonic()
            if wait <= 0:
                return False
            ready, _, _ = select.select([proc.stdout], [], [], min(wait, 1.0))
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    proc.wait()
                    return False
                log.write(chunk)
                log.flush()
                out += chunk.replace(b"\r", b"")
            return True

        def give_up(why):
            proc.kill()
            proc.wait()
            print(f"console-session: {why}")
            sys.exit(1)

        for n, step in enumerate(steps, 1):
            kind, _, arg = step.partition(":")
            if kind == "expect":
                pattern = re.compile(arg.encode())
                while not (m := pattern.search(out, seen)):
                    if not read_some():
                        ended = proc.poll()
                        why = "ran out of time" if ended is None else f"ended with status {ended}"
                        give_up(f"step {n}: no output matching /{arg}/ (the program {why})")
                seen = m.end()
            elif kind in ("send", "sendraw"):
                try:
                    data = arg.encode() + b"\n" if kind == "send" else bytes.fromhex(arg)
                except ValueError:
                    give_up(f"step {n}: {arg!r} is not bytes in hex")
                try:
                    proc.stdin.write(data)
                    proc.stdin.flush()
                except BrokenPipeError:
                    give_up(f"step {n}: the program ended before it could be sent {arg!r}")
            elif kind == "connect":
                port, _, want = arg.partition(":")
                pattern = re.compile(want.encode())
                while not pattern.search(got := fetch(int(port))):
                    # Reading the program's output also paces the attempts (1 s at most).
                    if not read_some():
                        give_up(f"step {n}: nothing matching /{want}/ from 127.0.0.1:{port} (last: {got!r})")
                print(f"console-session: 127.0.0.1:{port} sent {got.decode(errors='replace').strip()}")
            else:
                give_up(f"step {n}: unknown step {step!r}")
        while proc.poll() is None:
            if not read_some() and proc.poll() is None:
                give_up("the program did not end in time after the last step")
        rest = proc.stdout.read()
        log.write(rest)
    if proc.returncode != 0:
        print(f"console-session: the program exited with {proc.returncode}")
        sys.exit(1)


if __name__ == "__main__":
    main()
