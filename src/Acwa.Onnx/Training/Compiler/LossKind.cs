namespace Acwa.Onnx.Training.Compiler;

/// <summary>The loss appended to a model's logits by the training-graph compiler (formulas in docs/training-graphs.md).</summary>
public enum LossKind
{
    /// <summary>Class-weighted cross-entropy, PyTorch's weighted mean: sum_i w[y_i] l_i / sum_i w[y_i].</summary>
    CrossEntropy,
    /// <summary>Focal loss: mean_i alpha[y_i] (1 - p_t)^gamma (-log p_t); the class weights input acts as alpha.</summary>
    Focal,
    /// <summary>LDAM: the true-class logit minus a per-class margin, everything scaled by s, then weighted cross-entropy.</summary>
    Ldam,
    /// <summary>Logit adjustment / balanced softmax: tau * log prior added to the logits during training, then weighted cross-entropy.</summary>
    LogitAdjusted,
}
