"""How close the guide's hidden phrasings come to the held-out questions, and recall without them.

The sections' phrasings (docs/.guide/aliases.yaml) were written by the same people as the
held-out sets `fresh2` and `fresh3`, after reading them; a phrasing that restates a held-out
question would flatter its figures. This lists every phrasing whose cosine to a held-out
question of a section it answers reaches the threshold, then scores the held-out sets with
every phrasing that close to any of their questions removed: a conservative estimate.

    python bench/guide_leak.py              # threshold 0.7
    python bench/guide_leak.py --threshold 0.6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/guide_leak.py` puts bench/, not the root, first
    sys.path.insert(0, str(ROOT))

from bench.guide_recall import load_questions, score  # noqa: E402
from cape.kb import HybridIndex, get_index  # noqa: E402
from cape.kb.aliases import load_aliases  # noqa: E402
from cape.kb.bm25 import default_docs_dir  # noqa: E402
from cape.kb.dense import load_encoder  # noqa: E402

HELD_OUT = ("fresh2", "fresh3", "fresh4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args()
    encoder = load_encoder()
    if encoder is None:
        raise SystemExit("the embedding model is not installed (make install)")
    aliases = load_aliases(default_docs_dir())
    pairs = [(key, text) for key, texts in aliases.items() for text in texts]
    phrasings = encoder.encode([text for _, text in pairs])
    near: set[tuple[str, str]] = set()
    for part in HELD_OUT:
        questions = load_questions(part=part)
        similarity = encoder.encode([q.q for q in questions]) @ phrasings.T
        for i, question in enumerate(questions):
            for j, (key, text) in enumerate(pairs):
                if similarity[i, j] >= args.threshold:
                    near.add((key, text))
                    if key in question.expect:
                        print(f"{part} {similarity[i, j]:.2f} {question.q!r} ~ {key}: {text!r}")
    kept = {k: tuple(t for t in ts if (k, t) not in near) for k, ts in aliases.items()}
    print(f"{len(near)} of {len(pairs)} phrasings within {args.threshold} of a held-out question")
    strict = HybridIndex(get_index().passages, aliases=kept)
    for part in HELD_OUT:
        print(f"{part} without them:", score(load_questions(part=part), strict.search).line())


if __name__ == "__main__":
    main()
