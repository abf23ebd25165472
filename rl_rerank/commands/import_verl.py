"""`rl-rerank import-verl`: verl's trained LoRA (merged with verl's model_merger) as one of our adapter folders."""

from __future__ import annotations

from rl_rerank.argtypes import non_negative_float

HELP = "turn verl's merged actor output (MERGED/lora_adapter) into an adapter folder rerank/eval/export take"


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="verl.model_merger's --target_dir (holds lora_adapter/) or a lora_adapter folder")
    parser.add_argument("--out", required=True, help="adapter folder to write (replaced atomically)")
    parser.add_argument("--base", default=None,
                        help="base model of the adapter (verl's actor_rollout_ref.model.path; default: the "
                             "checkpoint folder, where the merger writes those base weights)")
    parser.add_argument("--lora-alpha", type=non_negative_float, default=None,
                        help="LoRA alpha when verl recorded none (its adapter_config then says 0)")


def run(args) -> int:
    from rl_rerank.data.outputs import check_outputs
    from rl_rerank.models.verl_import import import_verl

    check_outputs(folders=[args.out], inputs=[args.checkpoint, args.base])
    got = import_verl(args.checkpoint, args.out, base=args.base, lora_alpha=args.lora_alpha)
    print(f"import-verl: {got['lora_tensors']} LoRA tensors on base {got['base']} -> {got['adapter']}")
    return 0
