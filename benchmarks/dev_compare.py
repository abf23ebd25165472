"""Compare two training settings on the dev split, each trained with one or more seeds (run by hand).

On the 11 DL21 dev queries the data order alone moved the smollm2-dl stage 1 by 0.036 nDCG@10 (seed 42: 0.4952,
seed 43: 0.4591), more than most differences between settings. So a setting is scored as several seeds:
every seed's dev JSON (`benchmarks/dev_selection.py --json`) gives per-query nDCG@10, each query's value is
averaged over the setting's seeds, and the paired tests (t-test with 95% CI, sign-flip randomization) run over
the dev queries, as `rl-rerank eval --compare` does for two runs. Example:

    python benchmarks/dev_compare.py --a dev_t1_s42.json dev_t1_s43.json --b dev_t025_s42.json dev_t025_s43.json

A JSON holds one row per scored system; `--system` picks the row (default: the only non-BM25 row) and
`--score` which values: `alone` or `fused W` (the fusion weights the JSON was scored with).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class InputError(Exception):
    """A dev JSON that cannot be compared: the message names the file and what was expected."""


def seed_values(path: str, system: str | None, score: str) -> dict[str, float]:
    """Per-query nDCG@10 of one seed: row `system` of a dev_selection JSON, values `score`."""
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable dev_selection JSON ({e})") from None
    if not isinstance(rows, dict):
        raise InputError(f"{path}: expected an object of systems, as dev_selection.py --json writes")
    systems = [name for name in rows if name != "bm25"]
    if system is None:
        if len(systems) != 1:
            raise InputError(f"{path}: {len(systems)} systems ({', '.join(systems)}); pick one with --system")
        system = systems[0]
    row = rows.get(system)
    if not isinstance(row, dict) or not isinstance(row.get("per_query"), dict):
        raise InputError(f"{path}: no per-query values for system {system!r} (rescore with the current "
                         "dev_selection.py; systems here: " + ", ".join(systems) + ")")
    values = row["per_query"].get(score)
    if not isinstance(values, dict) or not values:
        raise InputError(f"{path}: system {system!r} has no {score!r} values (has: "
                         + ", ".join(row["per_query"]) + ")")
    return {str(q): float(v) for q, v in values.items()}


def check_distinct(paths: list[str]) -> None:
    """A seed's JSON listed twice would count as two seeds (or compare a seed with itself): refuse it."""
    seen: dict[Path, str] = {}
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            raise InputError(f"{p}: listed twice (also as {seen[key]}); each JSON is one seed of one setting")
        seen[key] = p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", nargs="+", required=True, metavar="JSON", help="setting A: one dev JSON per seed")
    ap.add_argument("--b", nargs="+", required=True, metavar="JSON", help="setting B: one dev JSON per seed")
    ap.add_argument("--system", default=None, help="which row of each JSON (default: its only non-BM25 row)")
    ap.add_argument("--score", default="alone", help="'alone' or 'fused W', e.g. 'fused 0.5'")
    args = ap.parse_args(argv)
    from rl_rerank.eval.significance import compare_settings
    from rl_rerank.tables import markdown_table

    try:
        check_distinct(args.a + args.b)
        a = [seed_values(p, args.system, args.score) for p in args.a]
        b = [seed_values(p, args.system, args.score) for p in args.b]
        r = compare_settings(a, b, measure="nDCG@10")
    except (InputError, ValueError) as e:
        print(f"dev_compare: {e}", file=sys.stderr)
        return 2
    seeds = lambda means: ", ".join(f"{m:.4f}" for m in means)  # noqa: E731
    print(f"dev queries: {r['n']}; nDCG@10 ({args.score}), each query averaged over its setting's seeds")
    print(markdown_table(
        ["setting", "seeds", "each seed", "seed-averaged", "A - B", "95% CI", "p (t / randomization)", "W / T / L"],
        [["A", r["seeds_a"], seeds(r["seed_means_a"]), f"{r['mean_a']:.4f}", f"{r['diff']:+.4f}",
          f"{r['ci_low']:+.3f}..{r['ci_high']:+.3f}", f"{r['p_t']:.3f} / {r['p_rand']:.3f}",
          f"{r['wins']} / {r['ties']} / {r['losses']}"],
         ["B", r["seeds_b"], seeds(r["seed_means_b"]), f"{r['mean_b']:.4f}", "", "", "", ""]]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
