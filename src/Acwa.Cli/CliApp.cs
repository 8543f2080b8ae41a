using System.CommandLine;
using Acwa.Cli.Commands;

namespace Acwa.Cli;

/// <summary>Builds the <c>acwa</c> command tree.</summary>
internal static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand("acwa: train and evaluate classifiers on imbalanced data with adaptive class weights, on ONNX Runtime.");
        root.Add(TrainCommand.Create());
        root.Add(ReproduceCommand.Create());
        root.Add(MetricsCommand.Create());
        root.Add(EvalCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(ArtifactsCommand.Create());
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();
}
