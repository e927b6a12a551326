"""The sentences every view says about the gate's counterexample corpus (the report's
``corpus`` entry, built by ``checks/corpus.py``)."""

from __future__ import annotations

from signbart_parity.targets import Target


def corpus_headline(corpus: dict) -> str:
    """``counterexamples: replayed 3, 1 still fail; 2 new saved; 7 stored in DIR``."""
    replayed, failing = corpus.get("replayed", 0), corpus.get("still_failing", 0)
    text = f"counterexamples: replayed {replayed} counterexamples, {failing} still fail"
    if corpus.get("new"):
        text += f"; {corpus['new']} new saved"
    return text + f"; {corpus.get('stored', 0)} stored in {corpus.get('folder')}"


def corpus_lines(corpus: dict) -> list[str]:
    """One line per stored counterexample: file, check, target, status; then unreadable ones."""
    lines = []
    for entry in corpus.get("entries", []):
        target = Target.from_dict(entry["target"]) if entry.get("target") else "no target"
        lines.append(f"{entry['file']}: {entry['check']} on {target}: {entry['status']}")
    return lines + [f"unreadable: {line}" for line in corpus.get("unreadable", [])]
