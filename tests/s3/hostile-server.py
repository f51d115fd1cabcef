#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A hostile S3-protocol endpoint for tests/s3/test_store_hostile.

Listens on 127.0.0.1 only, on a free port it prints as "port <n>" on
stdout, and answers every request by the last path component of the
object key (the bucket and prefix are ignored); signatures are not
checked:

  huge          200 OK, Content-Length 2 GiB, then endless bytes
  endless       200 OK, chunked, endless bytes (no length known ahead)
  truncated     200 OK, Content-Length 100000, 1000 bytes, then close
  overlong      200 OK, Content-Length 10, 100000 bytes, then close
  manifest      a valid-looking small body ("dm-row-export 2 ...")
  anything else 404 NoSuchKey

A ListObjectsV2 request (?list-type=2) answers with keys under the
prefix asked for and keys outside it (other prefixes, "..", a key
shorter than the prefix, the bucket prefix itself), unless the prefix
contains "endless": then an endless listing.
"""
import socketserver
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler

BLOCK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_bytes_forever(self, chunked):
        try:
            while True:
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n")
                else:
                    self.wfile.write(BLOCK)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def head(self, status, length, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def listing(self, prefix):
        if "endless" in prefix:
            self.head(200, None, [("Transfer-Encoding", "chunked")])
            self.wfile.write(b"a\r\n<ListBucke\r\n")
            self.send_bytes_forever(True)
            return
        keys = [prefix + "ok-1.manifest", "elsewhere/x.manifest", "../../etc/passwd",
                prefix[:3], prefix + "ok-2.manifest", "exports", prefix + "../up.manifest"]
        body = "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>"
        for k in keys:
            body += "<Contents><Key>%s</Key><Size>10</Size></Contents>" % k
        body += "</ListBucketResult>"
        data = body.encode()
        self.head(200, len(data), [("Content-Type", "application/xml")])
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if "list-type" in query:
            self.listing(query.get("prefix", [""])[0])
            return
        name = url.path.rsplit("/", 1)[-1]
        if name == "huge":
            self.head(200, 2 << 30)
            self.send_bytes_forever(False)
        elif name == "endless":
            self.head(200, None, [("Transfer-Encoding", "chunked")])
            self.send_bytes_forever(True)
        elif name == "truncated":
            self.head(200, 100000, [("Connection", "close")])
            self.wfile.write(b"y" * 1000)
            self.close_connection = True
        elif name == "overlong":
            # closed after: the excess must not be read as the next answer
            self.head(200, 10, [("Connection", "close")])
            try:
                self.wfile.write(b"z" * 100000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif name == "manifest":
            data = b"dm-row-export 2\nname=x\nend\n"
            self.head(200, len(data))
            self.wfile.write(data)
        else:
            data = b"<Error><Code>NoSuchKey</Code></Error>"
            self.head(404, len(data), [("Content-Type", "application/xml")])
            self.wfile.write(data)

    def do_HEAD(self):
        self.head(404, 0)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print("port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
