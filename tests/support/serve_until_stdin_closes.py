"""The life cycle the C tests' helper servers share: serve on a thread,
print the port for the parent, and exit when the parent goes away (it holds
our stdin), so no server outlives the test that started it."""
import os
import sys
import threading


def serve_until_stdin_closes(srv):
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    os._exit(0)
