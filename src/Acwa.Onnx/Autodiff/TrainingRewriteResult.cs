namespace Acwa.Onnx.Autodiff;

/// <summary>What <see cref="TrainingRewrite.Rewrite"/> changed.</summary>
/// <param name="RunningStatistics">Per running mean/var value (a buffer initializer): the name of its updated value.</param>
/// <param name="DropoutMasks">The mask graph inputs added for Dropout nodes (empty with <see cref="DropoutMaskSource.InGraph"/>).</param>
internal sealed record TrainingRewriteResult(IReadOnlyDictionary<string, string> RunningStatistics, IReadOnlyList<DropoutMaskInput> DropoutMasks);
