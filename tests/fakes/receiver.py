"""A webhook receiver: a real HTTP server on 127.0.0.1 in a background thread.

It records every request (headers, raw body, when it arrived) and answers with the next
scripted status (200 once the script runs out); ``hold`` makes it sit on a request, as a slow
receiver does; ``trickle_seconds`` makes it send its answer one byte at a time, that many
seconds apart, as a receiver does that keeps a connection alive without ever answering in time
(a client's read timeout, reset by each byte, never fires).
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[int] = []   # statuses to answer, in order; then 200
        self.hold_seconds = 0.0        # how long to sit on each request before answering
        self.trickle_seconds = 0.0     # when set: the answer goes out a byte at a time
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    request = {"path": self.path, "headers": dict(self.headers), "body": body,
                               "at": time.monotonic(), "answered": False}
                    receiver.requests.append(request)
                    status = receiver.script.pop(0) if receiver.script else 200
                    hold, trickle = receiver.hold_seconds, receiver.trickle_seconds
                receiver.arrived.set()
                time.sleep(hold)
                if trickle:
                    answer = f"HTTP/1.1 {status} OK\r\nContent-Length: 2\r\n\r\nok".encode()
                    try:
                        for i in range(len(answer)):
                            self.wfile.write(answer[i:i + 1])
                            time.sleep(trickle)
                    except OSError:  # the client gave up and closed the connection
                        self.close_connection = True
                        return
                    request["answered"] = True
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                request["answered"] = True

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
