#!/usr/bin/env python3
"""Count the words of a text and print the most frequent ones.

Input: optional JSON on stdin, {"text": "...", "top": 3}.
"""
import json
import re
import sys
import time
from collections import Counter
from typing import NoReturn

DEFAULT_TEXT = (
    "A function runs as a job. The job reads its input from stdin, "
    "writes its result to stdout and its log to stderr."
)
DEFAULT_TOP = 3


def fail(message: str) -> NoReturn:
    """Print an input error to stderr and exit with status 2, like the other examples."""
    print(f"invalid input: {message}", file=sys.stderr)
    sys.exit(2)


def read_input() -> dict:
    raw = sys.stdin.read().strip()
    if not raw:
        return {}
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        fail(f"not valid JSON: {error}")
    if not isinstance(payload, dict):
        fail('expected a JSON object like {"text": "..."}')
    return payload


def main() -> None:
    started = time.perf_counter()
    payload = read_input()
    text = payload.get("text", DEFAULT_TEXT)
    top = payload.get("top", DEFAULT_TOP)
    if not isinstance(text, str):
        fail('"text" must be a string')
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        fail('"top" must be a positive integer')

    words = re.findall(r"[\w']+", text.lower())
    counts = Counter(words)
    print(f"{len(words)} words, {len(counts)} distinct, {len(text)} characters")
    ranking = ", ".join(f"{word} ({count})" for word, count in counts.most_common(top))
    print(f"Most frequent: {ranking or 'none'}")

    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"word count finished in {elapsed_ms:.2f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
