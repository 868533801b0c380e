"""Running artifacts on other machines through TVM RPC.

- ``server.py``: an RPC server with safe defaults (``edgec rpc-server``; a standalone script on boards);
- ``tracker.py``: TVM's tracker on a thread (``edgec tracker``);
- ``client.py``: connect (directly or through a tracker) with timeouts and one-line errors, upload an
  artifact and run or time it on the remote device (``edgec bench --rpc/--tracker``).
"""
