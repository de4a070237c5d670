"""The suggestion ranker on simulated people: top-3 acceptance per round, ranker vs. the transparent score.

    .venv/bin/python -m bench.ranker                      # 1,000 people, 5 rounds, seeds 0-2
    .venv/bin/python -m bench.ranker --people 300 --seeds 5
    .venv/bin/python -m bench.ranker --candidates personas   # real suggestions of synthetic personas

Both arms face the same people (``serving.simulate``: hidden preferences, fixed random draws, candidates arriving
over the rounds), so they differ only in what they show. Acceptance is pooled over the seeds (accepted / shown);
"ratio" is ranker / transparent in that round, "cumulative" the same over the rounds so far. The ranker is
retrained after every round on its arm's feedback and serves once it beats the transparent score on held-out
later answers (the job's rule); "served" counts the seeds where it did. "oracle" orders by the hidden utility
itself (it is no ceiling per round: it takes the best suggestions sooner and has fewer left). Also: the training
time the ranker adds per round, the cost of one ``rank()`` call and training on 10,000 people's answers.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from serving.simulate import Candidates, PersonaSuggestions, Population, Round, plausible_suggestions, run_arm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--candidates", choices=("plausible", "personas"), default="plausible",
        help="made-up suggestions, or the real ones the refresh builds from features.synth personas",
    )  # fmt: skip
    parser.add_argument("--scale", type=int, default=10000, help="people for the training-time point (0: skip)")
    args = parser.parse_args()

    candidates: Candidates = plausible_suggestions if args.candidates == "plausible" else PersonaSuggestions()
    arms: dict[str, list[list[Round]]] = {"transparent": [], "ranker": [], "oracle": []}
    feedback: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        for arm in arms:
            rounds, rows = run_arm(Population.make(args.people, seed, candidates), arm, args.rounds)
            arms[arm].append(rounds)
            if arm == "ranker" and seed == 0:
                feedback = rows
    print(f"{args.people} simulated people x {args.seeds} seeds, top 3 per round, {args.candidates} candidates")
    print(
        "| round | transparent | ranker | ratio | cumulative ratio | same lists | served by ranker | ranker training (s) "
        "| oracle |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in range(args.rounds):
        t = [s[r] for s in arms["transparent"]]
        k = [s[r] for s in arms["ranker"]]
        ta = sum(x.accepted for x in t) / sum(x.shown for x in t)
        ka = sum(x.accepted for x in k) / sum(x.shown for x in k)
        used = sum(x.used_ranker for x in k)
        same = sum(x.accepted for x in k) / max(sum(x.same_lists_transparent for x in k), 1)
        cum_t = sum(x.accepted for s in arms["transparent"] for x in s[: r + 1])
        cum_k = sum(x.accepted for s in arms["ranker"] for x in s[: r + 1])
        train = f"{sum(x.train_seconds for x in k) / len(k):.2f}" if r + 1 < args.rounds else "-"
        o = [s[r] for s in arms["oracle"]]
        oa = sum(x.accepted for x in o) / sum(x.shown for x in o)
        print(
            f"| {r + 1} | {ta:.3f} | {ka:.3f} | {ka / ta:.2f}x | {cum_k / cum_t:.2f}x | {same:.2f}x | {used}/{len(k)} | {train} "
            f"| {oa:.3f} |"
        )
    if args.rounds >= 3:
        third = [(t[2], k[2]) for t, k in zip(arms["transparent"], arms["ranker"], strict=True)]
        print("round 3 ratio per seed: " + ", ".join(f"{k.acceptance / t.acceptance:.2f}" for t, k in third))
        print(
            "round 3 same-lists ratio per seed: "
            + ", ".join(f"{k.accepted / max(k.same_lists_transparent, 1):.2f}" for _, k in third)
        )
    _rank_speed(feedback)
    if args.scale:
        _train_at_scale(args.scale)


def _train_at_scale(people: int) -> None:
    """The training the job adds: ``train_from_feedback`` on 3 rounds of answers of ``people`` people."""
    from serving.ranker import train_from_feedback

    _, rows = run_arm(Population.make(people, 0), "transparent", 3)
    started = time.perf_counter()
    summary = train_from_feedback(rows, register=False)
    seconds = time.perf_counter() - started
    print(
        f"training at scale: {len(rows):,} answers of {people:,} people: {seconds:.1f} s "
        f"(pair_auc {summary.get('pair_auc', float('nan')):.3f} vs transparent "
        f"{summary.get('transparent_pair_auc', float('nan')):.3f})"
    )


def _rank_speed(feedback: list[dict[str, Any]]) -> None:
    """Microseconds per ``rank()`` for 5, 20 and 50 suggestions and a history of 30 answers."""
    import random

    from serving.ranker import train_from_feedback

    summary = train_from_feedback(feedback, register=False)
    ranker = summary.get("ranker")
    if ranker is None:
        print("no ranker trained: rank() not timed")
        return
    suggestions = plausible_suggestions(random.Random(1), 0, 50)
    when = max(r["created_at"] for r in feedback) + timedelta(days=1)
    history = [r for r in feedback if r["user_id"] == 0][:30]
    history = (history * 30)[:30]
    for n in (5, 20, 50):
        calls = 2000
        started = time.perf_counter()
        for _ in range(calls):
            ranker.rank(suggestions[:n], history, when)
        per = (time.perf_counter() - started) / calls * 1e6
        print(f"rank(): {n} suggestions, {len(history)} past answers: {per:.0f} us per call")


if __name__ == "__main__":
    main()
