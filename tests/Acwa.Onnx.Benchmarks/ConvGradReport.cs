using System.Globalization;

namespace Acwa.Onnx.Benchmarks;

/// <summary>
/// `convgrad [cpu|cuda] [reps] [threads] [shape filter]`: prints a markdown table, per conv shape and gradient
/// decomposition, of the median ms and (in brackets) the median ratio to the forward conv of the same round.
/// </summary>
internal static class ConvGradReport
{
    public static int Run(string[] args)
    {
        bool cuda = args.Length > 0 && args[0].StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        int reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 9;
        int threads = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 0;
        var filter = args.Length > 3 ? args[3] : null;
        Console.WriteLine($"device {(cuda ? "cuda" : "cpu")}, intra-op threads {(threads > 0 ? threads.ToString(CultureInfo.InvariantCulture) : "default")}, {reps} interleaved rounds after 3 warm-up rounds; median ms (median ratio to the forward conv)");
        Console.WriteLine("| shape | " + string.Join(" | ", ConvGradTimer.Pieces.Select(p => p.Label)) + " |");
        Console.WriteLine("|---|" + string.Concat(ConvGradTimer.Pieces.Select(_ => "---|")));
        foreach (var s in ConvGradTimer.Shapes)
        {
            if (filter is not null && !s.Name.Contains(filter, StringComparison.Ordinal)) continue;
            var row = ConvGradTimer.TimeRow(s, cuda, reps, threads);
            Console.WriteLine($"| {s.Name} | " + string.Join(" | ", row.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.MedianMs:F2} ({c.MedianRatio:F2}x)"))) + " |");
        }
        return 0;
    }
}
