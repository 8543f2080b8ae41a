namespace Acwa.Onnx.Data;

/// <summary>Which imbalance profile an <see cref="ImbalanceProtocol"/> applies.</summary>
public enum ImbalanceKind
{
    /// <summary>Keep every image.</summary>
    None,

    /// <summary>Minority classes keep a fixed fraction, the others keep everything (the paper's protocol).</summary>
    Step,

    /// <summary>Exponential long tail: class c keeps <c>n_max * rho^(-c/(C-1))</c> images.</summary>
    LongTail,
}
