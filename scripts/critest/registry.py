#!/usr/bin/env python3
"""A read-only image registry (the pull half of the OCI distribution API)
on 127.0.0.1, serving a store built by images.py. containerd is told (its
hosts.toml files, see run.sh) to fetch registry.k8s.io and gcr.io images
from here and from nowhere else, so critest's pulls never leave the machine.

usage: registry.py STORE PORT_FILE LOG_FILE

Listens on 127.0.0.1 on a port the kernel picks, writes that port to
PORT_FILE once it listens, and logs each request to LOG_FILE. Serves
GET and HEAD of /v2/, /v2/<name>/manifests/<tag or digest> and
/v2/<name>/blobs/<digest>; anything else is 404 (or 405 for writes).
Repository names are the same under every upstream host (the `ns` query
parameter containerd adds is ignored): the images' paths do not overlap.
"""
import http.server
import json
import os
import re
import sys
import urllib.parse

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
ROUTE = re.compile(r"^/v2/(?P<name>[a-z0-9._/-]+)/(?P<kind>manifests|blobs)/(?P<ref>[A-Za-z0-9._:-]+)$")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store = ""
    log = None

    def log_message(self, fmt, *args):
        self.log.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
        self.log.flush()

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def not_found(self, code, message):
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.send(404, body, {"Content-Type": "application/json"})

    def blob(self, digest):
        if not DIGEST.match(digest):
            return None
        path = os.path.join(self.store, "blobs", "sha256", digest.split(":", 1)[1])
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/v2", "/v2/"):
            return self.send(200, b"{}", {"Content-Type": "application/json"})
        m = ROUTE.match(path)
        if not m or ".." in m["name"].split("/"):
            return self.not_found("NAME_UNKNOWN", "no such repository")
        name, kind, ref = m["name"], m["kind"], m["ref"]
        if kind == "blobs":
            data = self.blob(ref)
            if data is None:
                return self.not_found("BLOB_UNKNOWN", "no such blob")
            return self.send(200, data, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": ref})
        digest = ref
        if not DIGEST.match(ref):
            try:
                with open(os.path.join(self.store, "tags", name, ref)) as f:
                    digest = f.read().strip()
            except (FileNotFoundError, NotADirectoryError):
                return self.not_found("MANIFEST_UNKNOWN", "no such tag")
        data = self.blob(digest)
        if data is None:
            return self.not_found("MANIFEST_UNKNOWN", "no such manifest")
        try:
            media_type = json.loads(data)["mediaType"]
        except (ValueError, KeyError, TypeError):
            return self.not_found("MANIFEST_UNKNOWN", "not a manifest")
        self.send(200, data, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    do_HEAD = do_GET

    def refuse(self):
        self.send(405, b"read-only registry\n", {"Content-Type": "text/plain"})

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: registry.py STORE PORT_FILE LOG_FILE")
    store, port_file, log_file = sys.argv[1:]
    Handler.store = os.path.abspath(store)
    Handler.log = open(log_file, "a")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
