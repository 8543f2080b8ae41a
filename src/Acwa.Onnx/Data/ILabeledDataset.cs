namespace Acwa.Onnx.Data;

/// <summary>
/// What the data protocols (<see cref="ImbalanceProtocol"/>, <see cref="StratifiedSplit"/>) and the trainer need of a
/// labelled dataset, whatever its samples are: images (<see cref="ImageDataset"/>) or fixed-size float / token-id samples
/// (<see cref="SampleDataset"/>).
/// </summary>
public interface ILabeledDataset
{
    /// <summary>Number of samples N.</summary>
    int Count { get; }

    /// <summary>Number of classes (the length of <see cref="ClassNames"/>); classes without samples count too.</summary>
    int ClassCount { get; }

    /// <summary>Class names, index = label.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Where the data came from (file names, protocol applied); informative only.</summary>
    string Source { get; }

    /// <summary>Label of sample <paramref name="index"/>.</summary>
    int Label(int index);

    /// <summary>Number of samples per class (length <see cref="ClassCount"/>; zero for absent classes).</summary>
    int[] ClassCounts();

    /// <summary>Indices of the samples of each class, ascending: <c>result[c]</c> lists the samples labelled c.</summary>
    int[][] IndicesByClass();
}

/// <summary>A labelled dataset that can make subsets of its own kind.</summary>
/// <typeparam name="TSelf">The dataset type itself.</typeparam>
public interface ILabeledDataset<out TSelf> : ILabeledDataset where TSelf : ILabeledDataset<TSelf>
{
    /// <summary>
    /// A new dataset holding copies of the samples at <paramref name="indices"/>, in that order (duplicates allowed), with
    /// the same class names and sample shape; <see cref="ILabeledDataset.Source"/> becomes <paramref name="source"/> when given.
    /// </summary>
    TSelf Subset(ReadOnlySpan<int> indices, string? source = null);
}

/// <summary>Helpers shared by the dataset types.</summary>
internal static class LabeledDatasets
{
    /// <summary>Counts per class of <paramref name="labels"/>, each in [0, <paramref name="classes"/>).</summary>
    internal static int[] Counts(ReadOnlySpan<int> labels, int classes)
    {
        var counts = new int[classes];
        foreach (var l in labels) counts[l]++;
        return counts;
    }

    /// <summary>Indices of each class's samples, ascending.</summary>
    internal static int[][] ByClass(ReadOnlySpan<int> labels, int classes)
    {
        var counts = Counts(labels, classes);
        var result = new int[classes][];
        for (int c = 0; c < classes; c++) result[c] = new int[counts[c]];
        var fill = new int[classes];
        for (int i = 0; i < labels.Length; i++) result[labels[i]][fill[labels[i]]++] = i;
        return result;
    }
}
