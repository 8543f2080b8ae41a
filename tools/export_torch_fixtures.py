#!/usr/bin/python3
"""Regenerates the PyTorch reference fixtures in tests/Acwa.Onnx.Tests/Fixtures/torch/.

Run from the repository root with the system Python that has torch 1.13 and onnx 1.12:

    /usr/bin/python3 tools/export_torch_fixtures.py

It writes two kinds of fixtures:

1. Tiny forward models exported with torch.onnx (opset 17, eval mode, no constant folding, dynamic batch),
   each with PyTorch reference values for one training step: a fixed batch x (N=8), labels y, class weights w;
   logits and the weighted cross-entropy loss (PyTorch's mean convention) in eval and train mode; the gradient
   of every parameter (train mode, batch-norm with batch statistics); the batch-norm running statistics after
   that one training forward; and the parameters after one step of SGD, Adam and AdamW from those gradients.
   References are computed in float64 from the float32 parameters and stored as float32 .npy files.
   <model>/index.json lists every file and the scalars.

   The float64 scalars in index.json (losses) may change in their last digit with the BLAS libblas.so.3 points at
   (Debian's reference BLAS made the committed files; OpenBLAS sums in another order); the .npy references do not.

2. bn_drop/: a CNN with batch norm and dropout exported in training mode and in eval mode, with PyTorch's eval-mode
   logits and the state after several training steps (export_mode_fixtures). `--only bn_drop` writes just these.

3. builtin/: checks for our own model builders (src/Acwa.Onnx/Models): parameter counts of the PyTorch
   equivalents; logits of ResNet-20 (shortcut A and B) and the small CNN on a fixed input; and one training-mode
   forward / backward of ResNet-8 (shortcuts A and B) on 3x8x8 input (loss, gradients, running statistics). Every
   parameter and buffer is filled by the deterministic "pattern" below, which the C# test reproduces exactly.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "Acwa.Onnx.Tests", "Fixtures", "torch")

SGD = dict(lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False)
ADAM = dict(lr=1e-3)
ADAMW = dict(lr=1e-3, weight_decay=1e-2)


# ----------------------------------------------------------------------------------------------------------
# Tiny models for the import / training-step fixtures
# ----------------------------------------------------------------------------------------------------------
class TinyMlp(nn.Module):
    """20-16-5 MLP on [N, 20]."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class TinyCnn(nn.Module):
    """[N, 1, 8, 8] -> conv 4ch 3x3 pad 1 (no bias) -> BN -> relu -> maxpool 2 -> fc 3.

    No conv bias: before a training-mode BN its gradient is exactly zero, and Adam would turn the float rounding
    noise of that zero (g / (|g| + eps) with |g| below eps) into an arbitrary step that no tolerance can compare."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


class TinyResNet(nn.Module):
    """[N, 2, 6, 6] -> conv 4ch (no bias) -> BN -> relu -> one basic block (identity shortcut) -> mean over H, W
    (exported as ReduceMean with an axes attribute, which the opset upgrade moves to an input) -> fc 3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.block = BasicBlock(4, 4, 1, "A")
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.block(x)
        return self.fc(x.mean(dim=(2, 3)))


class TinyBnDrop(nn.Module):
    """The shape of a typical user CNN, shrunk: [N, 1, 8, 8] -> conv 4ch (no bias) -> BN -> relu -> maxpool 2 ->
    a residual block (conv - BN - relu - conv - BN, identity shortcut, relu) -> strided conv 8ch (no bias) -> BN ->
    relu -> mean over H, W -> dropout p -> fc 3. Exported in training mode (torch.onnx TrainingMode.TRAINING: batch
    norm with training_mode = 1, Dropout with a constant training_mode input) and in eval mode (batch norm folded)."""

    def __init__(self, p=0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(4)
        self.conv4 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.bn4 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(p)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(x + self.bn3(self.conv3(F.relu(self.bn2(self.conv2(x))))))
        x = F.relu(self.bn4(self.conv4(x)))
        return self.fc(self.drop(x.mean(dim=(2, 3))))


# ----------------------------------------------------------------------------------------------------------
# PyTorch equivalents of our builders (src/Acwa.Onnx/Models)
# ----------------------------------------------------------------------------------------------------------
class TinyMobileNet(nn.Module):
    """MobileNetV3-style: conv 3->8 s2 -> BN -> HardSwish -> depthwise 3x3 -> BN -> squeeze-excite (avg pool, 1x1 conv,
    ReLU, 1x1 conv, Hardsigmoid, Mul) -> 1x1 conv 8->6 -> BN -> PReLU (per channel) -> spatial max + mean -> fc 3
    (the mean keeps the PReLU slopes' gradients non-zero: the maxima alone are positive values).
    Ops: Conv (groups), BatchNormalization, HardSwish, GlobalAveragePool, Relu, HardSigmoid, Mul, PRelu, ReduceMax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.se1 = nn.Conv2d(8, 4, 1)
        self.se2 = nn.Conv2d(4, 8, 1)
        self.pw = nn.Conv2d(8, 6, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(6)
        self.act = nn.PReLU(6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = F.hardswish(self.bn1(self.conv1(x)))
        x = F.hardswish(self.bn2(self.dw(x)))
        s = F.hardsigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(x, 1)))))
        x = self.act(self.bn3(self.pw(x * s)))
        return self.fc(torch.amax(x, dim=(2, 3)) + x.mean(dim=(2, 3)))


class TinyVit(nn.Module):
    """A one-block vision transformer: 4x4 patches of 2x8x8 -> 4 tokens of width 8, a class token, position
    embeddings, pre-LayerNorm single-head attention and a GELU MLP with residuals, final LayerNorm, x[:, 0] -> fc 3.
    Ops: Conv, Reshape/Transpose, Concat/Expand, Add, LayerNormalization, MatMul, Softmax, Div, Erf (exact GELU),
    Gather (class token). No qkv bias: the key bias's gradient is exactly zero (softmax is invariant to it), and
    Adam's first step turns the float32 rounding noise of a zero gradient into a full step, so it cannot be compared."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(2, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 5, 8) * 0.5)
        self.ln1 = nn.LayerNorm(8)
        self.qkv = nn.Linear(8, 24, bias=False)
        self.proj = nn.Linear(8, 8)
        self.ln2 = nn.LayerNorm(8)
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 8)
        self.ln3 = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        q, k, v = self.qkv(self.ln1(t)).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1)
        t = t + self.proj(a @ v)
        t = t + self.fc2(F.gelu(self.fc1(self.ln2(t))))
        return self.head(self.ln3(t)[:, 0])


class TinyConv1d(nn.Module):
    """A 1-D CNN for sequences [N, 2, 16] (audio, sensor and time-series classifiers): conv 2->6 k5 pad 2 (no bias) ->
    BN -> relu -> max-pool k3 s2 pad 1 -> grouped conv 6->6 k3 s2 pad 1 (groups 3) -> relu -> dilated conv 6->4 k3
    dilation 2 pad 2 -> average-pool 2 -> flatten -> fc 3.
    Ops: Conv, BatchNormalization, MaxPool and AveragePool on [N, C, L], Relu, Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(2, 6, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(6)
        self.conv2 = nn.Conv1d(6, 6, 3, stride=2, padding=1, groups=3)
        self.conv3 = nn.Conv1d(6, 4, 3, dilation=2, padding=2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        x = F.avg_pool1d(self.conv3(F.relu(self.conv2(x))), 2)
        return self.fc(x.flatten(1))


class TinyNormed(nn.Module):
    """GroupNorm, InstanceNorm and a cosine classifier (LDAM's NormedLinear) on [N, 2, 6, 6]: conv 2->8 (no bias) ->
    GroupNorm(2 groups) -> relu -> conv 8->6 s2 (no bias) -> InstanceNorm(affine) -> relu -> spatial mean f [N, 6];
    logits = 8 cos(f, W) + 0.1 logsumexp(f) - 0.05 |f|_1.
    Ops: InstanceNormalization (torch exports GroupNorm as Reshape + InstanceNormalization + Reshape + Mul + Add),
    ReduceL2 + Clip + Expand + Div (F.normalize), ReduceLogSumExp, ReduceL1, ReduceMean, MatMul."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(2, 8)
        self.conv2 = nn.Conv2d(8, 6, 3, stride=2, padding=1, bias=False)  # a bias before a norm has a zero gradient
        self.inorm = nn.InstanceNorm2d(6, affine=True)
        self.weight = nn.Parameter(torch.randn(6, 3))

    def forward(self, x):
        x = F.relu(self.gn(self.conv1(x)))
        f = F.relu(self.inorm(self.conv2(x))).mean(dim=(2, 3))
        cos = F.normalize(f, dim=1) @ F.normalize(self.weight, dim=0)
        return 8 * cos + 0.1 * torch.logsumexp(f, dim=1, keepdim=True) - 0.05 * torch.norm(f, p=1, dim=1, keepdim=True)


class TinyText(nn.Module):
    """A text classifier on token ids [N, 6] (int64, 0 = padding): embedding 30x16 + learned positions -> one
    Transformer encoder layer (2 heads, GELU feed-forward 32, post-norm, key padding mask, dropout 0) -> LayerNorm ->
    mean over the real tokens -> fc 3.
    Ops: Gather on the embedding table with batch-shaped int64 indices, Equal / Not / Cast / Where (masks), attention
    (MatMul, Softmax, Transpose, Reshape, Split/Slice), Erf (GELU), LayerNormalization, ReduceSum, Clip, Div."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 16)
        self.pos = nn.Parameter(torch.randn(1, 6, 16) * 0.1)
        self.enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="gelu", batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids):
        pad = ids == 0
        h = self.enc(self.emb(ids) + self.pos, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.fc((self.norm(h) * keep).sum(1) / keep.sum(1).clamp(min=1))


class TinyLstm(nn.Module):
    """A bidirectional LSTM classifier on sequences [N, 5, 3] (batch_first): LSTM(3 -> 4 per direction) ->
    cat(mean of the outputs over time, the final hidden states of both directions) -> fc 3.
    Ops: LSTM (bidirectional, torch's gate reordering as Slice/Concat of the weights, zero initial states from
    ConstantOfShape), Transpose, Reshape, ReduceMean, Concat, Gemm."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        y, (h, _) = self.rnn(x)
        return self.fc(torch.cat([y.mean(1), h.transpose(0, 1).flatten(1)], 1))


class TinyGru(nn.Module):
    """A two-layer GRU classifier on sequences [N, 5, 3] (batch_first): GRU(3 -> 6, 2 layers) -> last step's output ->
    fc 3. Ops: GRU (linear_before_reset 1, as torch exports it), one node per layer, Gather of the last step, Gemm."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 6, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class TinyRnn(nn.Module):
    """A bidirectional Elman RNN (ReLU) on sequences [N, 5, 3] (batch_first): RNN(3 -> 5 per direction,
    nonlinearity relu) -> maximum over time -> fc 3. Ops: RNN (activations Relu), ReduceMax, Gemm."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 5, nonlinearity="relu", batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y.amax(1))


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block as in the LDAM-DRW code (resnet_cifar.py)."""

    def __init__(self, in_planes, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.option = option
        self.project = None
        if stride != 1 or in_planes != planes:
            if option == "A":
                self.pad = planes // 4
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(planes))
                self.project = True

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.project:
            sc = self.shortcut(x)
        elif hasattr(self, "pad"):
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)
        else:
            sc = x
        return F.relu(out + sc)


class ResNetCifar(nn.Module):
    def __init__(self, depth, classes=10, option="A"):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes_in = 16
        for stage, planes in enumerate([16, 32, 64], start=1):
            blocks = []
            for i in range(n):
                stride = 2 if (stage > 1 and i == 0) else 1
                blocks.append(BasicBlock(planes_in, planes, stride, option))
                planes_in = planes
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SmallCnn(nn.Module):
    def __init__(self, channels=1, size=28, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        s = size // 2 // 2
        self.fc1 = nn.Linear(64 * s * s, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class Mlp(nn.Module):
    def __init__(self, inputs=784, hidden=(256,), classes=10):
        super().__init__()
        sizes = [inputs, *hidden, classes]
        for i in range(len(sizes) - 1):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))
        self.layers = len(sizes) - 1

    def forward(self, x):
        x = torch.flatten(x, 1)
        for i in range(1, self.layers + 1):
            x = getattr(self, f"fc{i}")(x)
            if i < self.layers:
                x = F.relu(x)
        return x


def param_count(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------------------
# Deterministic "pattern" values (reproduced bit-exactly by the C# test PatternWeights)
# ----------------------------------------------------------------------------------------------------------
def fnv1a32(name):
    h = 2166136261
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def pattern(name, shape):
    """u_i = ((i * 2654435761 + fnv1a32(name)) mod 2^32) / 2^32 in [0, 1), then by role:
    running_var and 1-D '.weight' (batch-norm gamma): 0.5 + u; other 1-D tensors (bias, beta, running_mean):
    0.2 (2u - 1); tensors of rank >= 2: (2u - 1) * sqrt(3 / fan_in), fan_in = numel / shape[0].
    Computed in float64, rounded once to float32."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    v = (i * np.uint64(2654435761) + np.uint64(fnv1a32(name))) % np.uint64(2 ** 32)
    u = v.astype(np.float64) / 4294967296.0
    if name.endswith("running_var") or (len(shape) == 1 and name.endswith(".weight")):
        out = 0.5 + u
    elif len(shape) == 1:
        out = 0.2 * (2.0 * u - 1.0)
    else:
        out = (2.0 * u - 1.0) * math.sqrt(3.0 / (n // shape[0]))
    return out.astype(np.float32).reshape(shape)


def fill_pattern(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                t.copy_(torch.from_numpy(pattern(name, tuple(t.shape))))


# ----------------------------------------------------------------------------------------------------------
def save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(array))


def weighted_ce(logits, y, w):
    return F.cross_entropy(logits, y, weight=w)  # PyTorch mean: sum w[y_i] l_i / sum w[y_i]


def export_training_fixture(name, model, x, y, w):
    folder = os.path.join(OUT, name)
    # The model is in eval mode, so PRESERVE exports inference-mode BatchNormalization. TrainingMode.EVAL would
    # run torch's eval peephole pass, which folds BatchNormalization into the preceding Conv (even with
    # do_constant_folding=False) and drops the batch-norm parameters and their names.
    model.eval()
    torch.onnx.export(model, x, os.path.join(OUT, f"{name}.onnx"), opset_version=17,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE,
                      keep_initializers_as_inputs=False, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    files = {}

    def put(key, array):
        rel = f"{name}/{key}.npy"
        save(os.path.join(OUT, rel), array.astype(np.float32) if array.dtype.kind == "f" else array)
        files[key] = rel

    put("x", x.numpy())
    put("y", y.numpy())
    put("w", w.numpy())

    ref = model
    import copy
    m64 = copy.deepcopy(ref).double()
    x64, w64 = (x.double() if x.is_floating_point() else x), w.double()  # token ids stay int64
    params = [n for n, _ in m64.named_parameters()]
    buffers = [n for n, t in m64.named_buffers() if t.dtype.is_floating_point]

    m64.eval()
    with torch.no_grad():
        logits_eval = m64(x64)
        loss_eval = weighted_ce(logits_eval, y, w64).item()
    put("logits_eval", logits_eval.numpy())

    m64.train()
    m64.zero_grad()
    logits_train = m64(x64)
    loss_train = weighted_ce(logits_train, y, w64)
    loss_train.backward()
    put("logits_train", logits_train.detach().numpy())
    grads = {n: p.grad.detach().clone() for n, p in m64.named_parameters()}
    for n in params:
        put(f"grad/{n}", grads[n].numpy())
    state = m64.state_dict()
    for n in buffers:
        put(f"running/{n}", state[n].numpy())

    steps = {"sgd": (torch.optim.SGD, SGD), "adam": (torch.optim.Adam, ADAM), "adamw": (torch.optim.AdamW, ADAMW)}
    for key, (cls, kwargs) in steps.items():
        m = copy.deepcopy(ref).double()
        opt = cls(m.parameters(), **kwargs)
        for n, p in m.named_parameters():
            p.grad = grads[n].clone()
        opt.step()
        for n, p in m.named_parameters():
            put(f"{key}/{n}", p.detach().numpy())

    # Frozen batch norm (fine-tuning a frozen backbone): BatchNorm modules in eval mode with their scale and bias frozen,
    # everything else trains; references for acwa's ArtifactOptions.FrozenBatchNorm.
    bn_params = {f"{mn}.{pn}" for mn, mod in m64.named_modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)
                 for pn, _ in mod.named_parameters(recurse=False)}
    frozen_bn = None
    if bn_params:
        mf = copy.deepcopy(ref).double().train()
        for mod in mf.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.eval()
        for n, p in mf.named_parameters():
            p.requires_grad_(n not in bn_params)
        logits_f = mf(x64)
        loss_f = weighted_ce(logits_f, y, w64)
        loss_f.backward()
        put("frozen_bn/logits", logits_f.detach().numpy())
        trained = [n for n in params if n not in bn_params]
        for n, p in mf.named_parameters():
            if n not in bn_params:
                put(f"frozen_bn/grad/{n}", p.grad.detach().numpy())
        frozen_bn = {"loss": loss_f.item(), "parameters": trained, "frozen": sorted(bn_params),
                     "description": "BatchNorm modules in eval mode (running statistics), their weight and bias frozen"}

    index = {
        "model": f"{name}.onnx",
        "opset": 17,
        "input": "x", "output": "logits",
        "parameters": params,
        "buffers": buffers,
        "loss": "weighted cross-entropy, PyTorch mean convention: sum_i w[y_i] l_i / sum_i w[y_i]",
        "loss_eval": loss_eval,
        "loss_train": loss_train.item(),
        "batchnorm": "train mode uses batch statistics; running stats after one training forward with PyTorch "
                     "momentum 0.1 (ONNX 0.9), running_var updated with the unbiased batch variance",
        "sgd": SGD, "adam": {**ADAM, "betas": [0.9, 0.999], "eps": 1e-8},
        "adamw": {**ADAMW, "betas": [0.9, 0.999], "eps": 1e-8},
        "precision": "references computed in float64 from the float32 parameters, stored as float32",
        "files": files,
    }
    if frozen_bn is not None:
        index["frozen_bn"] = frozen_bn
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)


def resnet_training_reference(folder, option):
    """One training-mode forward / backward of ResNet-8 (shortcut A or B) on [4, 3, 8, 8] with pattern weights:
    the weighted-CE loss, every parameter's gradient and the running statistics after the step (float64)."""
    model = ResNetCifar(8, 10, option)
    fill_pattern(model)
    model = model.double().train()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    y = torch.tensor([3, 0, 7, 3])
    w = torch.linspace(0.5, 2.0, 10)
    loss = weighted_ce(model(x.double()), y, w.double())
    loss.backward()
    sub = os.path.join(folder, f"resnet8_{option}")
    save(os.path.join(sub, "x.npy"), x.numpy())
    save(os.path.join(sub, "y.npy"), y.numpy())
    save(os.path.join(sub, "w.npy"), w.numpy())
    params = []
    for n, p in model.named_parameters():
        save(os.path.join(sub, "grad", f"{n}.npy"), p.grad.numpy().astype(np.float32))
        params.append(n)
    buffers = []
    for n, t in model.named_buffers():
        if t.dtype.is_floating_point:
            save(os.path.join(sub, "running", f"{n}.npy"), t.numpy().astype(np.float32))
            buffers.append(n)
    return {"folder": f"builtin/resnet8_{option}", "input_shape": [3, 8, 8], "loss_train": loss.item(),
            "parameters": params, "buffers": buffers}


def builtin_fixtures():
    folder = os.path.join(OUT, "builtin")
    counts = {
        "mlp_784_256_10": param_count(Mlp()),
        "cnn_1x28x28_10": param_count(SmallCnn(1, 28, 10)),
        "cnn_3x32x32_10": param_count(SmallCnn(3, 32, 10)),
        "resnet20_A_10": param_count(ResNetCifar(20, 10, "A")),
        "resnet32_A_10": param_count(ResNetCifar(32, 10, "A")),
        "resnet20_B_10": param_count(ResNetCifar(20, 10, "B")),
        "resnet32_B_10": param_count(ResNetCifar(32, 10, "B")),
    }
    g = torch.Generator().manual_seed(1)
    x_res = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    x_cnn = torch.rand(3, 1, 28, 28, generator=g)
    save(os.path.join(folder, "x_resnet.npy"), x_res.numpy())
    save(os.path.join(folder, "x_cnn.npy"), x_cnn.numpy())
    outputs = {}
    for key, model, x in [("resnet20_A", ResNetCifar(20, 10, "A"), x_res),
                          ("resnet20_B", ResNetCifar(20, 10, "B"), x_res),
                          ("cnn_1x28x28", SmallCnn(1, 28, 10), x_cnn)]:
        fill_pattern(model)
        model = model.double().eval()
        with torch.no_grad():
            logits = model(x.double()).numpy()
        save(os.path.join(folder, f"logits_{key}.npy"), logits.astype(np.float32))
        outputs[key] = f"builtin/logits_{key}.npy"
    train_a = resnet_training_reference(folder, "A")
    train_b = resnet_training_reference(folder, "B")
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump({"parameter_counts": counts, "resnet8_A_train": train_a, "resnet8_B_train": train_b, "inputs": {"resnet": "builtin/x_resnet.npy", "cnn": "builtin/x_cnn.npy"},
                   "logits": outputs,
                   "weights": "pattern(name, shape) in tools/export_torch_fixtures.py; eval mode; float64 reference"},
                  f, indent=1, sort_keys=True)
    return counts


def randomize_batchnorm(layers):
    """Distinct batch-norm values: running statistics so that eval and train mode differ, and gamma / beta so
    that torch.onnx does not merge equal-valued initializers of different layers into one (it replaces the
    duplicates by Identity nodes, which would tie parameters that are separate in PyTorch)."""
    with torch.no_grad():
        for bn in layers:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)


def export_mode_fixtures():
    """bn_drop/: TinyBnDrop exported as a user would export it for training, and references for the inference-mode
    checks (tests: ImportedTrainingModeTests):
    - train.onnx: TrainingMode.TRAINING, dropout 0.2; eval.onnx: TrainingMode.EVAL (torch folds batch norm into the
      convolutions); train_nodrop.onnx: TrainingMode.TRAINING of the same weights with dropout 0, for the multi-step
      reference (acwa's dropout masks cannot match PyTorch's).
    - x64.npy [64, 1, 8, 8] with logits_eval.npy: PyTorch's eval-mode logits of the exported (initial) weights.
    - steps: batches xs.npy [S, 16, 1, 8, 8], ys.npy [S, 16], class weights w.npy; after S steps of SGD (lr 0.1,
      momentum 0.9, weight decay 1e-4) on the weighted cross-entropy in train mode (dropout 0): every parameter
      (after/NAME.npy), every running statistic (after/NAME.npy) and the eval-mode logits of x64 (after/logits_eval.npy).
    References in float64 from the float32 weights, stored as float32."""
    import copy
    folder = os.path.join(OUT, "bn_drop")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(11)
    model = TinyBnDrop(0.2)
    randomize_batchnorm([model.bn1, model.bn2, model.bn3, model.bn4])
    nodrop = TinyBnDrop(0.0)
    nodrop.load_state_dict(model.state_dict())
    x64 = torch.randn(64, 1, 8, 8)
    common = dict(opset_version=17, do_constant_folding=False, keep_initializers_as_inputs=False,
                  input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    for name, m, mode in [("train", model, torch.onnx.TrainingMode.TRAINING), ("eval", model, torch.onnx.TrainingMode.EVAL),
                          ("train_nodrop", nodrop, torch.onnx.TrainingMode.TRAINING)]:
        m.train(mode == torch.onnx.TrainingMode.TRAINING)
        torch.onnx.export(m, x64[:2], os.path.join(folder, f"{name}.onnx"), training=mode, **common)
    save(os.path.join(folder, "x64.npy"), x64.numpy())
    m64 = copy.deepcopy(nodrop).double().eval()
    with torch.no_grad():
        save(os.path.join(folder, "logits_eval.npy"), m64(x64.double()).numpy().astype(np.float32))

    steps = 5
    g = torch.Generator().manual_seed(12)
    xs = torch.randn(steps, 16, 1, 8, 8, generator=g) * 1.5 + 0.3  # batch statistics far from the running ones
    ys = torch.randint(0, 3, (steps, 16), generator=g)
    w = torch.tensor([1.0, 2.5, 0.5])
    save(os.path.join(folder, "xs.npy"), xs.numpy())
    save(os.path.join(folder, "ys.npy"), ys.numpy())
    save(os.path.join(folder, "w.npy"), w.numpy())
    m64 = copy.deepcopy(nodrop).double().train()
    opt = torch.optim.SGD(m64.parameters(), **SGD)
    losses = []
    for k in range(steps):
        opt.zero_grad()
        loss = weighted_ce(m64(xs[k].double()), ys[k], w.double())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    state = m64.state_dict()
    names = [n for n, t in state.items() if t.dtype.is_floating_point]
    for n in names:
        save(os.path.join(folder, "after", f"{n}.npy"), state[n].numpy().astype(np.float32))
    m64.eval()
    with torch.no_grad():
        save(os.path.join(folder, "after", "logits_eval.npy"), m64(x64.double()).numpy().astype(np.float32))
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump({"steps": steps, "sgd": SGD, "losses": losses, "state": names,
                   "parameters": [n for n, _ in m64.named_parameters()],
                   "buffers": [n for n, t in m64.named_buffers() if t.dtype.is_floating_point],
                   "batchnorm": "PyTorch momentum 0.1 (ONNX 0.9); running_var from the unbiased batch variance",
                   "precision": "float64 references from the float32 weights, stored as float32"}, f, indent=1, sort_keys=True)


def main():
    if sys.argv[1:] == ["--only", "bn_drop"]:  # just the training-mode export fixtures (leaves the others as they are)
        export_mode_fixtures()
        return 0
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    w3 = torch.tensor([1.0, 2.5, 0.5])
    y8 = torch.tensor([0, 1, 2, 1, 0, 2, 1, 1])

    torch.manual_seed(0)
    mlp = TinyMlp()
    export_training_fixture("tiny_mlp", mlp, torch.randn(8, 20), torch.tensor([0, 1, 2, 3, 4, 1, 3, 2]),
                            torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0]))
    torch.manual_seed(1)
    cnn = TinyCnn()
    randomize_batchnorm([cnn.bn])
    export_training_fixture("tiny_cnn", cnn, torch.randn(8, 1, 8, 8), y8, w3)
    torch.manual_seed(2)
    res = TinyResNet()
    randomize_batchnorm([res.bn1, res.block.bn1, res.block.bn2])
    export_training_fixture("tiny_resnet", res, torch.randn(8, 2, 6, 6), y8, w3)
    # The same net with its batch norms as initialised (scale ones, bias zeros, mean zeros, var ones): torch.onnx's
    # eval-mode export merges equal initializers into Identity nodes, which acwa must undo (InitializerUntying).
    torch.manual_seed(2)
    fresh = TinyResNet()
    export_training_fixture("tiny_resnet_fresh", fresh, torch.randn(8, 2, 6, 6), y8, w3)

    torch.manual_seed(3)
    mob = TinyMobileNet()
    randomize_batchnorm([mob.bn1, mob.bn2, mob.bn3])
    with torch.no_grad():
        mob.act.weight.uniform_(0.1, 0.4)
    export_training_fixture("tiny_mobilenet", mob, torch.randn(8, 3, 8, 8), y8, w3)
    torch.manual_seed(4)
    vit = TinyVit()
    with torch.no_grad():  # distinct LayerNorm parameters (torch.onnx would merge equal initializers)
        for ln in [vit.ln1, vit.ln2, vit.ln3]:
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.2, 0.2)
    export_training_fixture("tiny_vit", vit, torch.randn(8, 2, 8, 8), y8, w3)
    torch.manual_seed(5)
    c1d = TinyConv1d()
    randomize_batchnorm([c1d.bn1])
    export_training_fixture("tiny_conv1d", c1d, torch.randn(8, 2, 16), y8, w3)
    torch.manual_seed(6)
    normed = TinyNormed()
    with torch.no_grad():  # distinct norm parameters (torch.onnx would merge equal initializers)
        for m in [normed.gn, normed.inorm]:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
    export_training_fixture("tiny_normed", normed, torch.randn(8, 2, 6, 6), y8, w3)
    torch.manual_seed(7)
    text = TinyText()
    with torch.no_grad():  # distinct LayerNorm parameters (torch.onnx would merge equal initializers)
        for ln in [text.enc.norm1, text.enc.norm2, text.norm]:
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.2, 0.2)
    ids = torch.randint(1, 30, (8, 6))
    for i, length in enumerate([6, 4, 2, 6, 5, 1, 3, 6]):  # padded tails of several lengths
        ids[i, length:] = 0
    export_training_fixture("tiny_text", text, ids, y8, w3)
    torch.manual_seed(8)
    export_training_fixture("tiny_lstm", TinyLstm(), torch.randn(8, 5, 3), y8, w3)
    torch.manual_seed(9)
    export_training_fixture("tiny_gru", TinyGru(), torch.randn(8, 5, 3), y8, w3)
    torch.manual_seed(10)
    export_training_fixture("tiny_rnn", TinyRnn(), torch.randn(8, 5, 3), y8, w3)

    export_mode_fixtures()
    counts = builtin_fixtures()
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    sys.exit(main())
