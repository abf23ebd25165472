"""`rl-rerank export`: a clean adapter folder (+ merged model) with a model card."""

from __future__ import annotations

HELP = "export a trained adapter: clean folder, optional merged safetensors model, model card"


def add_arguments(parser) -> None:
    parser.add_argument("--adapter", required=True, help="trained LoRA adapter folder (e.g. an sft/rl output_dir)")
    parser.add_argument("--out", required=True, help="folder to write: new or empty (see --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty OUT: replace the files export writes, keep every other file")
    parser.add_argument("--model", default=None, help="base model (default: the one named in adapter_config.json)")
    parser.add_argument("--merge", action="store_true", help="also write OUT/merged: LoRA merged into the base")
    parser.add_argument("--report", default=None, help="report.json from `rl-rerank eval` for the model card")


def run(args) -> int:
    from rl_rerank.models.export import export

    written = export(args.adapter, args.out, base=args.model, merge=args.merge, report=args.report,
                     overwrite=args.overwrite)
    print("export: " + ", ".join(f"{k} -> {v}" for k, v in written.items()))
    return 0
