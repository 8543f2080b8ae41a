#!/usr/bin/python3
"""One-step PyTorch references for torchvision classifiers, to audit the compiler on real architectures.

Needs Debian's python3-torch, python3-onnx and python3-torchvision (0.14). Not used by the tests (the fixtures are
hundreds of MB): run it by hand, then compare with acwa's compiled step as docs/autodiff.md ("torchvision audit")
describes.

    /usr/bin/python3 tools/torchvision_parity.py OUT_DIR [model ...]

Each model (random weights, 10 classes, dropout and stochastic depth set to 0 so that both sides compute the same
function, batch-norm running statistics randomised) is exported like the test fixtures (opset 17, PRESERVE, no
constant folding) with `export_training_fixture` from tools/export_torch_fixtures.py, which writes the batch, the
float64 loss, logits, every parameter's gradient and one SGD/Adam/AdamW step in the fixtures' layout.
"""
import os
import sys

import torch
import torch.nn as nn
import torchvision.models as M
from torchvision.ops import StochasticDepth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torch_fixtures as F  # noqa: E402

SPECS = {
    "tv_resnet18": (lambda: M.resnet18(num_classes=10), 64),
    "tv_mobilenet_v2": (lambda: M.mobilenet_v2(num_classes=10), 64),
    "tv_mobilenet_v3_small": (lambda: M.mobilenet_v3_small(num_classes=10), 64),
    "tv_efficientnet_b0": (lambda: M.efficientnet_b0(num_classes=10), 64),
    "tv_regnet_y_400mf": (lambda: M.regnet_y_400mf(num_classes=10), 64),
    "tv_densenet121": (lambda: M.densenet121(num_classes=10), 64),
    "tv_shufflenet_v2_x0_5": (lambda: M.shufflenet_v2_x0_5(num_classes=10), 64),
    "tv_squeezenet1_0": (lambda: M.squeezenet1_0(num_classes=10), 64),
    "tv_googlenet": (lambda: M.googlenet(num_classes=10, aux_logits=False, init_weights=True), 64),
    "tv_mnasnet0_5": (lambda: M.mnasnet0_5(num_classes=10), 64),
    "tv_convnext_tiny": (lambda: M.convnext_tiny(num_classes=10), 64),
    "tv_swin_t": (lambda: M.swin_t(num_classes=10), 224),
}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    F.OUT = sys.argv[1]
    os.makedirs(F.OUT, exist_ok=True)
    for name in sys.argv[2:] or SPECS:
        make, side = SPECS[name]
        torch.manual_seed(0)
        model = make()
        for mod in model.modules():
            if isinstance(mod, (nn.Dropout, StochasticDepth)):
                mod.p = 0.0
        bns = [mod for mod in model.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
        if bns:
            F.randomize_batchnorm(bns)
        F.export_training_fixture(name, model, torch.randn(4, 3, side, side), torch.tensor([0, 3, 7, 3]),
                                  torch.linspace(0.5, 2.0, 10))
        print(name, "written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
