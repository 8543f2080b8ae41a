namespace Acwa.Onnx.Training.Compiler;

/// <summary>The optimizer compiled into the training graph (PyTorch semantics; formulas in docs/training-graphs.md).</summary>
public enum OptimizerKind
{
    /// <summary>SGD with optional momentum, dampening, Nesterov and L2 weight decay.</summary>
    Sgd,
    /// <summary>Adam with L2 weight decay added to the gradient.</summary>
    Adam,
    /// <summary>AdamW: decoupled weight decay.</summary>
    AdamW,
}
