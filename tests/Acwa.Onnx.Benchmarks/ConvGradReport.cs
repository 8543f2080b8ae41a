using System.Globalization;

namespace Acwa.Onnx.Benchmarks;

/// <summary>Prints a markdown table: median ms (min-max) per conv shape and gradient decomposition.</summary>
internal static class ConvGradReport
{
    public static int Run(string[] args)
    {
        bool cuda = args.Length > 0 && args[0].StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        int reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
        var filter = args.Length > 2 ? args[2] : null;
        Console.WriteLine($"device {(cuda ? "cuda" : "cpu")}, {reps} runs each after 3 warm-ups, median ms (min-max)");
        Console.WriteLine("| shape | " + string.Join(" | ", ConvGradTimer.Pieces.Select(p => p.Label)) + " |");
        Console.WriteLine("|---|" + string.Concat(ConvGradTimer.Pieces.Select(_ => "---|")));
        foreach (var s in ConvGradTimer.Shapes)
        {
            if (filter is not null && !s.Name.Contains(filter, StringComparison.Ordinal)) continue;
            var cells = new List<string>();
            foreach (var (label, wrt, options) in ConvGradTimer.Pieces)
            {
                var model = ConvGradTimer.Build(s, wrt, options);
                var (med, min, max) = ConvGradTimer.Time(model, s, cuda, reps);
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{med:F3} ({min:F2}-{max:F2})"));
            }
            Console.WriteLine($"| {s.Name} | " + string.Join(" | ", cells) + " |");
        }
        return 0;
    }
}
