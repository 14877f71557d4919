#!/usr/bin/env python3
"""Capture the first TLS record (the ClientHello) that real clients send,
as seeds for the engine harnesses.  Usage: capture-hello.py OUTDIR [NAME...]
where NAME picks clients from CLIENTS (default: all whose program exists).
The server side only listens: it reads one record and closes."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading

GNUTLS = ["gnutls-cli", "--insecure", "-p", "{port}", "127.0.0.1"]
SNI = "--sni-hostname=mail.example.org"
CLIENTS = {
    "gnutls-tls13": GNUTLS + [SNI],
    "gnutls-tls12": GNUTLS + ["--priority=NORMAL:-VERS-TLS1.3"],
    # clients that leave the engine its RSA or Ed25519 certificate
    "gnutls-rsa-pss": GNUTLS + [SNI, "--priority=NORMAL:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256"],
    "gnutls-tls12-rsa": GNUTLS + [SNI, "--priority=NORMAL:-VERS-TLS1.3:-SIGN-ALL:+SIGN-RSA-SHA256"],
    "gnutls-ed25519": GNUTLS + [SNI, "--priority=NORMAL:-SIGN-ALL:+SIGN-EDDSA-ED25519"],
    "openssl-tls13": ["openssl", "s_client", "-servername", "mail.example.org", "-connect", "127.0.0.1:{port}"],
    "openssl-tls12": ["openssl", "s_client", "-tls1_2", "-connect", "127.0.0.1:{port}"],
}


def read_record(conn):
    """The 5-byte record header, then as many bytes as it declares."""
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def python_client(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            ctx.wrap_socket(s, server_hostname="mail.example.org")
    except (OSError, ssl.SSLError):
        pass  # the server closes after the first record


def capture(name, outdir):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        if name == "python":
            client = threading.Thread(target=python_client, args=(port,))
            client.start()
        else:
            argv = [a.format(port=port) for a in CLIENTS[name]]
            client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        conn, _ = srv.accept()
        with conn:
            hello = read_record(conn)
        if name == "python":
            client.join()
        else:
            client.stdin.close()
            client.wait()
    with open(os.path.join(outdir, "hello-" + name), "wb") as f:
        f.write(hello)


def main():
    outdir = sys.argv[1]
    names = sys.argv[2:] or [n for n in CLIENTS if shutil.which(CLIENTS[n][0])] + ["python"]
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        capture(name, outdir)


if __name__ == "__main__":
    main()
