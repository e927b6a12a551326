"""Root conftest of this repository.

Deliberately empty of plugin wiring: pytester is enabled from pytest.ini (``-p pytester``),
and the gate-only decision lives in the plugin (``gate/options.py``, ``run_gate_only``), so
a gate run works the same when pytest roots it elsewhere (``pytest --checkpoint
/data/best.pth`` roots it at ``/data`` and reads neither this file nor pytest.ini).
"""
