"""`rl-rerank label`: a teacher model labels training pairs (pointwise scores) or windows (listwise lists)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from rl_rerank.argtypes import any_int, non_negative_float, positive_int, unit_float
from rl_rerank.keyvalue import parse_pairs
from rl_rerank.paradigms.base import DEFAULT_MAX_DOC_TOKENS, DEFAULT_MAX_PROMPT_TOKENS

HELP = "label training data with a teacher model (k sampled scores with consensus, or filtered permutations)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source (what to label)")
    src.add_argument("--source", required=True,
                     help="BEIR folder, TREC run, or rank_llm request file (candidates + texts)")
    src.add_argument("--kind", default="auto", help="auto | beir | trec | requests")
    src.add_argument("--split", default="train", help="BEIR qrels split (default train)")
    src.add_argument("--qrels", help="qrels file (TREC or BEIR TSV); BEIR folders use qrels/<split>.tsv")
    src.add_argument("--run", help="first-stage TREC run (BEIR: BM25 top-depth when omitted)")
    src.add_argument("--corpus", help="document texts for a TREC run (BEIR folder or corpus.jsonl)")
    src.add_argument("--topics", help="query texts for a TREC run (topics TSV or queries.jsonl)")
    src.add_argument("--depth", type=positive_int, default=100, help="first-stage candidates per query (default 100)")
    src.add_argument("--max-queries", type=positive_int, help="label only the first N labelled queries")
    src.add_argument("--build", action="append", metavar="KEY=VALUE", default=[],
                     help="a data builder setting (rl_rerank.datagen.examples.BuildSettings), e.g. "
                          "--build num_hard_negatives=5 --build window_size=20; repeatable")

    teacher = p.add_argument_group("teacher")
    teacher.add_argument("--model", help="teacher model: hub id or path (vllm, transformers) or served name "
                                         "(openai); default: the embedded SmolLM2")
    teacher.add_argument("--adapter", help="LoRA adapter on top of the teacher")
    teacher.add_argument("--engine", default="vllm", help="vllm (offline) | openai (OpenAI-compatible server, "
                                                           "e.g. `vllm serve`) | transformers (default vllm)")
    teacher.add_argument("--base-url", help="openai engine: server URL, e.g. http://localhost:8000/v1")
    teacher.add_argument("--engine-arg", action="append", metavar="KEY=VALUE", default=[],
                         help="extra engine keyword argument (e.g. max_model_len=8192); repeatable")

    lab = p.add_argument_group("labelling")
    lab.add_argument("--paradigm", default="pointwise", choices=labelled_paradigms(),
                     help="a paradigm a teacher can label: scores per document or lists per window")
    lab.add_argument("--reasoning", action=argparse.BooleanOptionalAction, default=True,
                     help="ask the teacher to reason first and keep its reasoning (default on)")
    lab.add_argument("--max-doc-tokens", type=positive_int, default=DEFAULT_MAX_DOC_TOKENS,
                     help="use the SFT recipe's paradigm_args.max_doc_tokens, so teacher and student see one prompt")
    lab.add_argument("--max-prompt-tokens", type=positive_int, default=DEFAULT_MAX_PROMPT_TOKENS,
                     help="use the SFT recipe's paradigm_args.max_prompt_tokens (same reason)")
    lab.add_argument("--samples", type=positive_int, default=3, help="samples per pair/window (default 3, ERank)")
    lab.add_argument("--temperature", type=non_negative_float, default=0.7)
    lab.add_argument("--max-new-tokens", type=positive_int, default=1024)
    lab.add_argument("--threshold", type=unit_float, default=0.4,
                     help="listwise: keep a permutation when its NDCG@10 against the qrels >= this (default 0.4)")
    lab.add_argument("--accept-repaired", action="store_true",
                     help="listwise: also keep permutations the parser had to repair (duplicates dropped, missing "
                          "ids appended); off by default, so teacher lists are complete as written")
    lab.add_argument("--batch-size", type=positive_int, default=16, help="items per engine call / journal flush")
    lab.add_argument("--seed", type=any_int, default=0)

    out = p.add_argument_group("output")
    out.add_argument("--output", required=True, help="teacher-labelled JSONL (a data source for the builders); "
                                                     "progress is journalled in OUTPUT.partial, rerun to resume")
    out.add_argument("--sft-output", help="also write SFT rows (prompt, completion) built from the labels")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")


def labelled_paradigms() -> list[str]:
    """Registered paradigms whose teacher output becomes labels (read when the parser is built)."""
    from rl_rerank.paradigms import PARADIGMS, paradigm_names

    return [name for name in paradigm_names() if PARADIGMS[name].teacher_labels is not None]


def run(args) -> int:
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.datagen.examples import BuildSettings, build_from_source, plan_items, teacher_labels_of, write_built
    from rl_rerank.datagen.label import LabelSettings, journal_path, label_items
    from rl_rerank.datagen.sources import DataSource, load_pools

    check_outputs(files=[args.output, journal_path(args.output), args.output + ".stats.json", args.sft_output],
                  inputs=[args.source, args.qrels, args.run, args.corpus, args.topics, args.model, args.adapter])
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = DataSource(path=args.source, kind=args.kind, split=args.split, qrels=args.qrels, run=args.run,
                        corpus=args.corpus, topics=args.topics, depth=args.depth, max_queries=args.max_queries)
    pairs = parse_pairs(args.build, "--build", "num_hard_negatives=5")
    build = {"seed": args.seed, **pairs, "paradigm": args.paradigm,
             "reasoning": args.reasoning, "max_doc_tokens": args.max_doc_tokens, "shuffle": False}
    settings = BuildSettings.from_dict(build)
    lab = LabelSettings(paradigm=args.paradigm, samples=args.samples, temperature=args.temperature,
                        max_new_tokens=args.max_new_tokens, threshold=args.threshold, batch_size=args.batch_size,
                        seed=args.seed, accept_repaired=args.accept_repaired,
                        model_name=args.model or "embedded:SmolLM2-135M-Instruct")
    # Everything that can fail on the data fails here, before the teacher is loaded.
    items, plan = plan_items(load_pools(source), settings)
    scores = teacher_labels_of(args.paradigm) == "scores"
    print(f"plan: {len(items)} {'pairs' if scores else 'windows'} from "
          f"{plan.queries_used}/{plan.queries_total} queries; {len(plan.no_positive_qids)} queries with no "
          f"positive skipped", file=sys.stderr)
    if not items:
        from rl_rerank.errors import UserError

        raise UserError("nothing to label: no query has a positive document with text")

    from rl_rerank.engines import make_engine
    from rl_rerank.models import load_tokenizer, resolve_model
    from rl_rerank.paradigms import get_paradigm

    paradigm = get_paradigm(args.paradigm, reasoning=args.reasoning, max_doc_tokens=args.max_doc_tokens,
                            max_prompt_tokens=args.max_prompt_tokens)
    engine_kwargs = parse_pairs(args.engine_arg, "--engine-arg", "max_num_seqs=64")
    if args.base_url:
        engine_kwargs["base_url"] = args.base_url
    model = args.model if args.engine == "openai" else resolve_model(args.model)
    tokenizer = None
    if args.engine != "openai":
        tokenizer = load_tokenizer(str(model))
    engine = make_engine(args.engine, str(model), args.adapter, **engine_kwargs)
    try:
        stats = label_items(items, engine, paradigm, lab, args.output, tokenizer, progress=not args.no_progress)
    finally:
        engine.close()
    print(f"label: {stats.kept} labelled {'pairs' if scores else 'lists'} -> {args.output} "
          f"(stats: {args.output}.stats.json)", file=sys.stderr)
    if args.sft_output and stats.kept == 0:
        from rl_rerank.errors import UserError

        raise UserError(f"the teacher's output was never kept ({stats.summary()}); no SFT rows for "
                        f"{args.sft_output}; see the failed_texts in {args.output}.partial")
    if args.sft_output:
        sft = dataclasses.replace(settings, mode="sft", shuffle=True)
        result = build_from_source(DataSource(args.output, kind="labelled"), sft, paradigm, tokenizer)
        n = write_built(args.sft_output, result.dataset)
        print(f"label: {n} SFT rows -> {args.sft_output}", file=sys.stderr)
    return 0
