"""The release gate: property tests run by ``pytest`` with the ``signbart_parity`` plugin.

Run at this repo's root with ``pytest``, or from any repo with the package installed:
``pytest --pyargs signbart_parity.gate --checkpoint best.pth --config config.yaml``.
"""
