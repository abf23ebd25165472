"""`rl-rerank demo`: train (SFT, then GRPO with the ERank reward) and evaluate a reranker end to end."""

from __future__ import annotations

from pathlib import Path

from rl_rerank.argtypes import non_negative_int, positive_int

HELP = ("the main job: ranking SFT + GRPO of a pointwise reranker on TREC DL 2021 with the embedded SmolLM2, then "
        "rerank DL20 and SciFact (BM25 top-20) and report nDCG@10 with paired significance tests")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo-out", help="folder for every artefact (adapters, runs, report)")
    parser.add_argument("--model", default=None, help="base model (hub id or folder); default: embedded SmolLM2-135M")
    parser.add_argument("--recipe", default="smollm2-dl",
                        help="a packaged recipe (a folder name under configs/, e.g. erank-pointwise) or a folder "
                             "with sft.yaml and grpo.yaml")
    parser.add_argument("--train-data", default=None,
                        help="training source replacing the recipes' data.build.path (default: the recipe's own)")
    parser.add_argument("--benchmark", action="append", default=None, metavar="NAME",
                        help="evaluation set, repeatable (default: trec-dl-2020 and beir/scifact@50); any name "
                             "`rl-rerank eval` takes, e.g. bright:biology; NAME@N keeps its first N queries")
    parser.add_argument("--eval-queries", type=non_negative_int, default=0,
                        help="first N queries of every benchmark (0: all)")
    parser.add_argument("--top-k", type=positive_int, default=20, help="rerank the BM25 top-k")
    parser.add_argument("--engine", choices=("auto", "vllm", "transformers"), default="auto",
                        help="auto: transformers on CPU (shared-prefix scoring), vLLM on a GPU")
    parser.add_argument("--no-dev-curve", action="store_true",
                        help="skip scoring the dev queries at every GRPO checkpoint")
    parser.add_argument("--skip-grpo", action="store_true", help="stop after stage 1")
    parser.add_argument("--set-sft", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the SFT recipe, e.g. trl.max_steps=5")
    parser.add_argument("--set-grpo", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the GRPO recipe")
    parser.add_argument("--force", action="store_true", help="redo finished stages instead of reusing them")


def run(args) -> int:
    from rl_rerank.eval.demo import DemoSettings, run_demo

    settings = DemoSettings(out=Path(args.out), model=args.model, recipe=args.recipe, train_data=args.train_data,
                            benchmarks=args.benchmark or ["trec-dl-2020", "beir/scifact@50"],
                            eval_queries=args.eval_queries or None, top_k=args.top_k, engine=args.engine,
                            force=args.force, sft_overrides=args.set_sft, grpo_overrides=args.set_grpo,
                            skip_grpo=args.skip_grpo, dev_curve=not args.no_dev_curve)
    results = run_demo(settings)
    from rl_rerank.eval.demo import markdown

    print(markdown(results["rows"], results["meta"]).split("\n\n![demo]")[0])
    print(f"\n[demo] wrote {settings.out / 'report.md'}, {settings.out / 'demo.png'}, results.json, runs/, sft/, grpo/")
    return 0
