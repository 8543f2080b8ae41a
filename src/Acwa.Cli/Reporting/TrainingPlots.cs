using ScottPlot;
using Acwa.Onnx.IO;

namespace Acwa.Cli.Reporting;

/// <summary>PNG plots of a training run (ScottPlot; text needs a font such as Debian's fonts-dejavu-core).</summary>
internal static class TrainingPlots
{
    private const int Width = 1000, Height = 620;

    /// <summary>One line per class over epochs (per-class F1, class weights, ...). values[epoch][class].</summary>
    public static void PerClassLines(string path, string title, string yLabel, IReadOnlyList<double[]> values, IReadOnlyList<string> classNames)
    {
        var plt = NewPlot(title, "epoch", yLabel);
        int epochs = values.Count;
        var xs = Enumerable.Range(1, epochs).Select(e => (double)e).ToArray();
        var palette = new ScottPlot.Palettes.Category10();
        for (int c = 0; c < classNames.Count; c++)
        {
            var ys = values.Select(v => v[c]).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = classNames[c];
            line.LineWidth = 2;
            line.MarkerSize = epochs <= 40 ? 5 : 0;
            line.Color = palette.GetColor(c);
            if (c >= 10) line.LinePattern = LinePattern.Dashed;
        }
        plt.ShowLegend(Alignment.UpperLeft);
        plt.Legend.Orientation = Orientation.Vertical;
        plt.Axes.Margins(0.02, 0.08);
        plt.ShowLegend(Edge.Right);
        SavePng(plt, path, Width, Height);
    }

    /// <summary>Confusion-matrix heatmap, rows = true class, columns = predicted, with counts written in the cells.</summary>
    public static void ConfusionHeatmap(string path, string title, long[,] counts, IReadOnlyList<string> classNames)
    {
        int c = counts.GetLength(0);
        // Colour by row-normalised recall so minority classes are as visible as majority ones; text shows counts.
        var norm = new double[c, c];
        for (int i = 0; i < c; i++)
        {
            long row = 0;
            for (int j = 0; j < c; j++) row += counts[i, j];
            for (int j = 0; j < c; j++) norm[i, j] = row == 0 ? 0 : (double)counts[i, j] / row;
        }
        var plt = NewPlot(title, "predicted class", "true class");
        var hm = plt.Add.Heatmap(norm);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.ManualRange = new ScottPlot.Range(0, 1); // recall: the same colours in every run
        var cb = plt.Add.ColorBar(hm);
        cb.Label = "row-normalised (recall)";
        // Fixed ticks: the colour bar sizes its panel from ticks generated for a guessed height, and with automatic ticks the
        // labels it then draws can be wider than measured, so its title lands over them.
        double[] bar = [0, 0.2, 0.4, 0.6, 0.8, 1];
        cb.Axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(bar, bar.Select(v => v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        if (c <= 20)
        {
            for (int i = 0; i < c; i++)
                for (int j = 0; j < c; j++)
                {
                    var t = plt.Add.Text(counts[i, j].ToString(System.Globalization.CultureInfo.InvariantCulture), j, c - 1 - i);
                    t.Alignment = Alignment.MiddleCenter;
                    t.LabelFontSize = c <= 10 ? 13 : 9;
                    t.LabelFontColor = norm[i, j] > 0.5 ? Colors.Black : Colors.White;
                }
        }
        var pos = Enumerable.Range(0, c).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(pos, classNames.ToArray());
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(pos, classNames.Reverse().ToArray());
        // Slanted up to the right and anchored at their upper-right end, so each class name ends at its own column's tick.
        plt.Axes.Bottom.TickLabelStyle.Rotation = -40;
        plt.Axes.Bottom.MinimumSize = 110;
        plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.UpperRight;
        plt.Axes.SetLimits(-0.5, c - 0.5, -0.5, c - 0.5);
        SavePng(plt, path, 900, 800);
    }

    /// <summary>Renders <paramref name="plt"/> and writes it as a PNG atomically (temp file + rename, as every file acwa writes).</summary>
    internal static void SavePng(Plot plt, string path, int width, int height)
    {
        using var image = plt.GetImage(width, height);
        Acwa.Onnx.IO.AtomicFile.WriteAllBytes(path, image.GetImageBytes(ImageFormat.Png));
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plt = new Plot();
        plt.Font.Set("DejaVu Sans");
        plt.Title(title);
        plt.XLabel(x);
        plt.YLabel(y);
        return plt;
    }
}
