#!/usr/bin/python3
"""Exports forward models of the kind users fine-tune, for `acwa bench step|train --model FILE.onnx` (not test fixtures).

    /usr/bin/python3 tools/export_bench_models.py OUT_DIR [--side 64] [--classes 10]

Writes OUT_DIR/mobilenetv2.onnx: a MobileNetV2-style network (inverted residual blocks: 1x1 expansion, 3x3 depthwise,
1x1 projection, batch norm, ReLU6, i.e. Clip) with width 1.0 and the first five stages (16-24-32-64-96 channels),
then a 1x1 convolution to 320 channels, global average pooling and a linear classifier; and OUT_DIR/mobilenetv3.onnx:
MobileNetV3-Small's block table (3x3/5x5 depthwise, squeeze-excite with HardSigmoid, HardSwish and ReLU, exported as
the ONNX ops HardSwish and HardSigmoid); and OUT_DIR/vit.onnx: a small vision transformer (8x8 patches, width 192,
4 pre-LayerNorm blocks with 3-head attention and a GELU MLP of 768, class token); and OUT_DIR/text.onnx: a small
text classifier on int64 token ids [N, 64] (vocabulary 8000, width 128, 2 nn.TransformerEncoderLayer blocks with 4 heads,
GELU feed-forward 512, key padding mask for id 0, masked mean pooling, linear head); and OUT_DIR/seq_lstm.onnx: a
sequence classifier on [N, 100, 12] features (2-layer bidirectional nn.LSTM of width 64, mean over time, linear head);
and OUT_DIR/seq_gru.onnx: the same with nn.GRU.
Random weights (seed 0), exported like the fixtures (opset 17, eval mode, batch norm kept, dynamic batch) with input
[N, 3, side, side] (text: [N, 64]; seq_lstm: [N, 100, 12]).
Needs torch (Debian's python3-torch 1.13 works) and nothing else.
"""
import argparse
import math
import os

import torch
import torch.nn as nn


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


def mobilenetv2(classes):
    # (expansion, channels, blocks, first stride) as in MobileNetV2's table, first five stages.
    stages = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2), (6, 96, 1, 1)]
    layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    cin = 32
    for expand, cout, blocks, stride in stages:
        for i in range(blocks):
            layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [nn.Conv2d(cin, 320, 1, bias=False), nn.BatchNorm2d(320), nn.ReLU6(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(320, classes)]
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, ch):
        super().__init__()
        squeeze = max(8, ch // 4)
        self.fc1 = nn.Conv2d(ch, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, ch, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(s))))


class V3Block(nn.Module):
    def __init__(self, cin, k, hidden, cout, se, hs, stride):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.residual = stride == 1 and cin == cout
        layers = []
        if hidden != cin:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


def mobilenetv3_small(classes):
    # (kernel, expanded, out, squeeze-excite, hardswish, stride): MobileNetV3-Small's table.
    table = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
             (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
             (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
             (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1)]
    layers = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish()]
    cin = 16
    for k, hidden, cout, se, hs, stride in table:
        layers.append(V3Block(cin, k, hidden, cout, se, hs, stride))
        cin = cout
    layers += [nn.Conv2d(cin, 576, 1, bias=False), nn.BatchNorm2d(576), nn.Hardswish(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(576, 1024), nn.Hardswish(), nn.Linear(1024, classes)]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, t):
        n, length, dim = t.shape
        d = dim // self.heads
        qkv = self.qkv(self.ln1(t)).reshape(n, length, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
        t = t + self.proj((a @ v).transpose(1, 2).reshape(n, length, dim))
        return t + self.fc2(nn.functional.gelu(self.fc1(self.ln2(t))))


class Vit(nn.Module):
    def __init__(self, side, classes, patch=8, dim=192, depth=4, heads=3, hidden=768):
        super().__init__()
        tokens = (side // patch) ** 2
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        return self.head(self.ln(self.blocks(t))[:, 0])


class TextClassifier(nn.Module):
    def __init__(self, classes, vocab=8000, length=64, dim=128, depth=2, heads=4, hidden=512):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, hidden, dropout=0.1, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, depth)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids):
        pad = ids == 0
        h = self.enc(self.emb(ids) + self.pos, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1))


class SeqLstm(nn.Module):
    def __init__(self, classes, features=12, width=64, cell=nn.LSTM):
        super().__init__()
        self.lstm = cell(features, width, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.head(self.lstm(x)[0].mean(1))


def export(model, path, side):
    # eval + PRESERVE: inference-mode BatchNormalization, as acwa imports it
    torch.onnx.export(model.eval(), torch.randn(2, 3, side, side), path, opset_version=17,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    print(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    export(mobilenetv2(a.classes), os.path.join(a.out, "mobilenetv2.onnx"), a.side)
    torch.manual_seed(0)
    export(mobilenetv3_small(a.classes), os.path.join(a.out, "mobilenetv3.onnx"), a.side)
    torch.manual_seed(0)
    export(Vit(a.side, a.classes), os.path.join(a.out, "vit.onnx"), a.side)
    torch.manual_seed(0)
    text = TextClassifier(a.classes).eval()
    ids = torch.randint(1, 8000, (2, 64))
    ids[1, 40:] = 0
    torch.onnx.export(text, (ids,), os.path.join(a.out, "text.onnx"), opset_version=17, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "N"}, "logits": {0: "N"}})
    print(os.path.join(a.out, "text.onnx"))
    torch.manual_seed(0)
    torch.onnx.export(SeqLstm(a.classes).eval(), torch.randn(2, 100, 12), os.path.join(a.out, "seq_lstm.onnx"),
                      opset_version=17, do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    print(os.path.join(a.out, "seq_lstm.onnx"))
    torch.manual_seed(0)
    torch.onnx.export(SeqLstm(a.classes, cell=nn.GRU).eval(), torch.randn(2, 100, 12), os.path.join(a.out, "seq_gru.onnx"),
                      opset_version=17, do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    print(os.path.join(a.out, "seq_gru.onnx"))


if __name__ == "__main__":
    main()
