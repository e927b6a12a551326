"""The sentences every view says about the gate's counterexample corpus (the report's
``corpus`` entry, built by ``checks/corpus.py``)."""

from __future__ import annotations

from signbart_parity.checks.corpus import NEW, PASSES_NOW, STILL_FAILS
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


def merge_corpus(parts: list[dict | None]) -> dict | None:
    """The corpus of shards merged (``report merge``): files are named by their content, so
    one name is one counterexample; a replayed status wins over "not replayed", and a
    still-failing one over every other."""
    parts = [part for part in parts if part]
    if not parts:
        return None
    entries: dict[str, dict] = {}
    for part in parts:
        for entry in part.get("entries", []):
            kept = entries.get(entry["file"])
            if (
                kept is None
                or kept["status"].startswith("not replayed")
                or entry["status"] == STILL_FAILS
            ):
                entries[entry["file"]] = entry
    statuses = [entry["status"] for entry in entries.values()]
    return {
        "folder": "; ".join(dict.fromkeys(str(part.get("folder")) for part in parts)),
        "stored": len(entries),
        "replayed": statuses.count(STILL_FAILS) + statuses.count(PASSES_NOW),
        "still_failing": statuses.count(STILL_FAILS),
        "new": statuses.count(NEW),
        "entries": [entries[name] for name in sorted(entries)],
        "unreadable": sorted({line for part in parts for line in part.get("unreadable", [])}),
    }
