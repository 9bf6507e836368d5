"""A static file server on 127.0.0.1 that answers HTTP Range requests and counts the bytes it
sends, for the remote-raster tests (Python's ``http.server`` ignores ``Range`` and always sends
the whole file, which would hide a reader that fetches too much).

    with RangeServer(folder) as server:
        url = server.url('scene.tif')      # http://127.0.0.1:PORT/scene.tif
        ...
        server.bytes_sent                  # body bytes sent since start (or reset())

The server runs in a child process (this file run as a script): some GDAL calls hold Python's
GIL while they wait for an answer, which a server thread of the same process could then never
send. ``/__stats__`` answers its counts as JSON and ``/__reset__`` clears them (neither is
counted). A path under ``/status/CODE/`` answers with that HTTP status (``/status/503/x.tif``).
"""

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, as a real server (GDAL reuses connections)

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def _resolve(self) -> Path | None:
        rel = self.path.split('?', 1)[0].lstrip('/')
        path = (self.server.root / rel).resolve()
        if self.server.root not in path.parents or not path.is_file():
            return None
        return path

    def _send_status(self, code: int) -> None:
        body = f'{code}\n'.encode()
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _control(self) -> bool:
        if self.path == '/__reset__':
            self.server.reset()
        elif self.path != '/__stats__':
            return False
        srv = self.server
        with srv._lock:
            stats = dict(bytes_sent=srv.bytes_sent, bytes_by_file=srv.bytes_by_file,
                         requests=srv.requests)  # fmt: skip
            body = json.dumps(stats).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def _serve(self) -> None:
        if self._control():
            return None
        self.server.count_request(self.path, self.headers.get('Range'))
        status = re.match(r'^/status/(\d{3})/', self.path)
        if status:
            return self._send_status(int(status.group(1)))
        path = self._resolve()
        if path is None:
            return self._send_status(404)
        size = path.stat().st_size
        start, end, code = 0, size - 1, 200
        spec = self.headers.get('Range')
        if spec:
            m = _RANGE.match(spec.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return self._send_status(416)
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # bytes=-N: the last N bytes
                start = max(0, size - int(m.group(2)))
            if start >= size or end < start:
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{size}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return None
            code = 206
        length = end - start + 1
        self.send_response(code)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('Content-Length', str(length))
        if code == 206:
            self.send_header('Content-Range', f'bytes {start}-{end}/{size}')
        self.end_headers()
        if self.command == 'HEAD':
            return None
        with open(path, 'rb') as f:
            f.seek(start)
            self.wfile.write(f.read(length))
        self.server.count_bytes(path, length)
        return None

    do_GET = _serve
    do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    """Serves ``root`` on 127.0.0.1 (a free port); counts body bytes."""

    daemon_threads = True

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the counts so far."""
        with self._lock:
            self.bytes_sent = 0
            self.bytes_by_file: dict[str, int] = {}
            self.requests: list[tuple[str, str | None]] = []

    def count_request(self, path: str, range_header: str | None) -> None:
        with self._lock:
            self.requests.append((path, range_header))

    def count_bytes(self, path: Path, n: int) -> None:
        with self._lock:
            self.bytes_sent += n
            self.bytes_by_file[path.name] = self.bytes_by_file.get(path.name, 0) + n


class RangeServer:
    """``_Server`` on ``root`` in a child process; ``bytes_sent``, ``bytes_by_file`` and
    ``requests`` are its counts since start or ``reset()``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = str(root)
        self._proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> 'RangeServer':
        self._proc = subprocess.Popen(
            [sys.executable, __file__, self.root], stdout=subprocess.PIPE, text=True
        )
        self.port = int(self._proc.stdout.readline())
        return self

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._proc.stdout.close()

    def url(self, rel: str) -> str:
        return f'http://127.0.0.1:{self.port}/{rel}'

    def _get(self, what: str) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only
        with opener.open(self.url(what), timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        """Forget the counts so far."""
        self._get('__reset__')

    @property
    def bytes_sent(self) -> int:
        return self._get('__stats__')['bytes_sent']

    @property
    def bytes_by_file(self) -> dict[str, int]:
        return self._get('__stats__')['bytes_by_file']

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return [tuple(r) for r in self._get('__stats__')['requests']]


def _main() -> None:
    server = _Server(sys.argv[1])
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == '__main__':
    _main()
