#!/usr/bin/env python3
"""Export BiomedCLIP's text tower to ONNX for `tak-wgpu knowledge embed --encoder onnx:...`.

Needs Python with torch and open_clip_torch (and transformers), and network access to the
Hugging Face hub the first time (the model is about 0.8 GB for both towers). tak-wgpu itself
never needs Python; this is only for users who want BiomedCLIP embeddings instead of the offline
default encoder.

    python3 tools/export_biomedclip_text.py OUT_DIR
    tak-wgpu knowledge embed --dataset amos --encoder onnx:OUT_DIR/biomedclip_text.onnx

OUT_DIR receives biomedclip_text.onnx plus the tokenizer (vocab.txt, tokenizer.json,
tokenizer_config.json); tak-wgpu finds the tokenizer beside the model.

What is exported (docs/knowledge.md; facts from BiomedCLIP's open_clip_config.json):
  input_ids, attention_mask: int64 [B, L], L <= 256 (tak-wgpu pads to 256 as open_clip does)
  -> BiomedBERT (12 layers, hidden 768) -> last_hidden_state[:, 0] ([CLS] pooling)
  -> proj: Linear(768->640, no bias) -> GELU -> Linear(640->512, no bias)
  -> text_embeds: float32 [B, 512], NOT L2-normalised (TAK's cached tensor is raw encode_text output).
"""
import argparse
import os
import sys

MODEL_ID = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
CONTEXT_LENGTH = 256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="folder for biomedclip_text.onnx and the tokenizer files")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args()

    try:
        import torch
        import open_clip
    except ImportError as error:
        print(f"export_biomedclip_text: {error}; install torch and open_clip_torch first (pip install torch open_clip_torch transformers)", file=sys.stderr)
        return 1

    os.makedirs(args.out_dir, exist_ok=True)
    model, _ = open_clip.create_model_from_pretrained(MODEL_ID)
    tokenizer = open_clip.get_tokenizer(MODEL_ID)
    text = model.text.eval()  # open_clip HFTextEncoder

    class TextTower(torch.nn.Module):
        """[CLS] pooling + projection, as HFTextEncoder.forward with cls_last_hidden_state_pooler."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.encoder.proj(hidden[:, 0])

    tower = TextTower(text).eval()
    sample = ["A computerized tomography scan of the human abdomen includes the liver.", "The spleen lies in the left upper quadrant."]
    ids = tokenizer(sample, context_length=CONTEXT_LENGTH)
    # HFTextEncoder builds the mask this way: every non-[PAD] token attends.
    mask = (ids != text.config.pad_token_id).long()

    onnx_path = os.path.join(args.out_dir, "biomedclip_text.onnx")
    torch.onnx.export(
        tower, (ids, mask), onnx_path, opset_version=args.opset,
        input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
        dynamic_axes={"input_ids": {0: "B", 1: "L"}, "attention_mask": {0: "B", 1: "L"}, "text_embeds": {0: "B"}},
    )
    tokenizer.tokenizer.save_pretrained(args.out_dir)  # vocab.txt, tokenizer.json, tokenizer_config.json

    with torch.no_grad():
        reference = model.encode_text(ids).numpy()
    try:
        import onnxruntime
    except ImportError:
        print(f"wrote {onnx_path}; onnxruntime is not installed, so the export was not compared with PyTorch")
        return 0
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    exported = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    diff = float(abs(exported - reference).max())
    print(f"wrote {onnx_path}; max |onnx - encode_text| = {diff:.2e} on {len(sample)} sample texts")
    return 0 if diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
