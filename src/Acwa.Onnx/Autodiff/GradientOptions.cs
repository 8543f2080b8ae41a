namespace Acwa.Onnx.Autodiff;

/// <summary>Choices for <see cref="ReverseMode.Differentiate"/>: which decompositions the gradient rules emit.</summary>
public sealed record GradientOptions
{
    /// <summary>Decomposition of the convolution weight gradient; <see cref="ConvWeightGradMethod.Auto"/> picks per device.</summary>
    public ConvWeightGradMethod ConvWeightGrad { get; init; } = ConvWeightGradMethod.Auto;

    /// <summary>Decomposition of the convolution input gradient; <see cref="ConvInputGradMethod.Auto"/> picks per device.</summary>
    public ConvInputGradMethod ConvInputGrad { get; init; } = ConvInputGradMethod.Auto;

    /// <summary>Decomposition of the MaxPool input gradient; <see cref="MaxPoolGradMethod.Auto"/> picks per device.</summary>
    public MaxPoolGradMethod MaxPoolGrad { get; init; } = MaxPoolGradMethod.Auto;

    /// <summary>The device the graph will run on: <c>"cpu"</c> or <c>"cuda"</c> (decompositions may differ per device).</summary>
    public string Device { get; init; } = "cpu";
}
