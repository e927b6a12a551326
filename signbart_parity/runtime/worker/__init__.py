"""Worker IPC: a pinned runtime build run out of process. ``protocol.py`` is the one
protocol both sides speak; ``client.py`` the harness side; ``server.py`` the worker, which
imports only the standard library and numpy (and the runtime itself)."""
