# Hostile: connect to a TCP listener on 127.0.0.1:<port from stdin> and send a message.
import socket
import sys

port = int(sys.stdin.read())
with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
    s.sendall(b"ESCAPED")
print("CONNECTED")
