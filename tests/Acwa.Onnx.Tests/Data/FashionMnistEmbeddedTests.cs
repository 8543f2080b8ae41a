using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Acwa.Onnx.Data;
using Acwa.Onnx.Tests.Cli;
using Acwa.Onnx.Tests.Models;
using Xunit.Abstractions;

namespace Acwa.Onnx.Tests.Data;

/// <summary>
/// The Fashion-MNIST subset embedded in Acwa.Onnx and the fallback to it when Debian's dataset-fashion-mnist is missing
/// (src/Acwa.Onnx/Data/Embedded/fashion-mnist, made by tools/make_fashion_mnist_subset.py; docs/data.md).
/// </summary>
public class FashionMnistEmbeddedTests(ITestOutputHelper output)
{
    private static string EmbeddedDir => Path.Combine(ModelTestUtil.RepoRoot(), "src", "Acwa.Onnx", "Data", "Embedded", "fashion-mnist");

    private static JsonElement Provenance() => JsonDocument.Parse(File.ReadAllText(Path.Combine(EmbeddedDir, "provenance.json"))).RootElement;

    private static int[] Indices(JsonElement split) => split.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static byte[] ReadAll(Stream s)
    {
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    [Theory]
    [InlineData(true, 1000)]
    [InlineData(false, 200)]
    public void EmbeddedSubsetIsStratifiedAsDocumented(bool train, int perClass)
    {
        Assert.Equal(perClass, train ? FashionMnist.EmbeddedTrainPerClass : FashionMnist.EmbeddedTestPerClass);
        var ds = FashionMnist.LoadEmbedded(train);
        Assert.Equal(10 * perClass, ds.Count);
        Assert.Equal((1, 28, 28), (ds.Channels, ds.Height, ds.Width));
        Assert.Equal(FashionMnist.ClassNames, ds.ClassNames);
        Assert.All(ds.ClassCounts(), c => Assert.Equal(perClass, c));
        Assert.Equal($"Fashion-MNIST {(train ? "train" : "test")} (embedded subset, {perClass:N0} per class)", ds.Source);

        var split = Provenance().GetProperty("splits").GetProperty(train ? "train" : "test");
        Assert.Equal(perClass, split.GetProperty("per_class").GetInt32());
        Assert.Equal(ds.Count, split.GetProperty("count").GetInt32());
        Assert.Equal(ds.ClassCounts(), split.GetProperty("class_counts").EnumerateArray().Select(e => e.GetInt32()));
        var indices = Indices(split);
        Assert.Equal(ds.Count, indices.Length);
        Assert.All(indices.Zip(indices.Skip(1)), p => Assert.True(p.First < p.Second, $"indices not ascending at {p.First}, {p.Second}"));
        Assert.InRange(indices[0], 0, indices[^1]);
        Assert.InRange(indices[^1], 0, split.GetProperty("source_count").GetInt32() - 1);

        // Real images, not blanks or copies: the pixel statistics are Fashion-MNIST's own (mean 0.2860, std 0.3530 on all 60,000).
        var stats = Normalization.Compute(ds);
        Assert.Equal(Normalization.FashionMnist.Mean[0], stats.Mean[0], 5e-3f);
        Assert.Equal(Normalization.FashionMnist.Std[0], stats.Std[0], 5e-3f);
        Assert.Equal(ds.Count, Enumerable.Range(0, ds.Count).Select(i => Convert.ToHexString(ds.Image(i))).Distinct().Count());
    }

    [Fact]
    public void EmbeddedFilesMatchTheirProvenanceSha256()
    {
        var outputs = Provenance().GetProperty("outputs").EnumerateArray().ToList();
        Assert.Equal(
            new[] { FashionMnist.TrainFiles.Images, FashionMnist.TrainFiles.Labels, FashionMnist.TestFiles.Images, FashionMnist.TestFiles.Labels }.Order(),
            outputs.Select(o => o.GetProperty("file").GetString()).Order());
        foreach (var o in outputs)
        {
            var name = o.GetProperty("file").GetString()!;
            byte[] embedded;
            using (var s = FashionMnist.OpenEmbedded(name)) embedded = ReadAll(s);
            Assert.Equal(o.GetProperty("bytes").GetInt64(), embedded.Length);
            Assert.Equal(o.GetProperty("sha256").GetString(), Sha256(embedded));
            Assert.Equal(embedded, File.ReadAllBytes(Path.Combine(EmbeddedDir, name)));   // the library carries the committed file
            byte[] idx;
            using (var gz = new GZipStream(new MemoryStream(embedded), CompressionMode.Decompress)) idx = ReadAll(gz);
            Assert.Equal(o.GetProperty("idx_bytes").GetInt64(), idx.Length);
            Assert.Equal(o.GetProperty("idx_sha256").GetString(), Sha256(idx));
            output.WriteLine($"{name}: {embedded.Length:N0} bytes, sha256 {Sha256(embedded)}");
        }
    }

    /// <summary>
    /// With the full set installed: the recorded source SHA-256 are the installed files', and the subset is exactly the
    /// documented rule (the first N of each class, in file order) applied to them. Without it only the provenance's own
    /// consistency can be checked (the other tests); the output says so.
    /// </summary>
    [FashionMnistFact]
    public void EmbeddedSubsetIsTheDocumentedSelectionOfTheFullSet()
    {
        var prov = Provenance();
        if (!FashionMnist.IsAvailable())
        {
            output.WriteLine($"full Fashion-MNIST not installed in {FashionMnist.DefaultDirectory}: the selection is not compared with it here");
            return;
        }
        foreach (var src in prov.GetProperty("sources").EnumerateArray())
            Assert.Equal(src.GetProperty("sha256").GetString(),
                Sha256(File.ReadAllBytes(Path.Combine(FashionMnist.DefaultDirectory, src.GetProperty("file").GetString()!))));
        foreach (var train in new[] { true, false })
        {
            var split = prov.GetProperty("splits").GetProperty(train ? "train" : "test");
            int perClass = split.GetProperty("per_class").GetInt32();
            var full = FashionMnist.Load(train, FashionMnist.DefaultDirectory);
            var rule = full.IndicesByClass().SelectMany(ix => ix.Take(perClass)).Order().ToArray();
            Assert.Equal(rule, Indices(split));
            var picked = full.Subset(rule);
            var embedded = FashionMnist.LoadEmbedded(train);
            Assert.True(picked.Pixels.SequenceEqual(embedded.Pixels), "embedded pixels differ from the full set's at the recorded indices");
            Assert.True(picked.Labels.SequenceEqual(embedded.Labels));
            output.WriteLine($"{(train ? "train" : "test")}: {rule.Length} images = the first {perClass} of each class of {full.Count}, last index {rule[^1]}");
        }
    }

    [Fact]
    public void WithoutTheFullSetFashionMnistFallsBackToTheEmbeddedSubsetAndSaysSo()
    {
        using var empty = new TempDir();
        var spec = DatasetSpec.Parse("fashion-mnist");
        Assert.Equal(DatasetOrigin.EmbeddedSubset, spec.ResolveOrigin(empty.Path));
        var pair = spec.LoadFashionMnist(empty.Path);
        Assert.Equal(DatasetOrigin.EmbeddedSubset, pair.Origin);
        Assert.Equal(FashionMnist.EmbeddedNotice, pair.Notice);
        Assert.Contains("apt-get install dataset-fashion-mnist", pair.Notice);
        Assert.Contains("embedded subset of 10,000 training and 2,000 test images", pair.Notice);
        Assert.Equal((10000, 2000), (pair.Train.Count, pair.Test.Count));
        Assert.Same(Normalization.FashionMnist, pair.Normalization);
        Assert.Equal(Augmentation.None, pair.Augmentation);

        // The committed folder read as files (it uses the official names) gives the same data: the resources are those
        // files, read by the same IdxReader. A folder that holds the four files is used as it is, never replaced.
        var files = DatasetSpec.Parse($"fashion-mnist:{EmbeddedDir}").Load();
        Assert.Equal(DatasetOrigin.Files, files.Origin);
        Assert.Null(files.Notice);
        Assert.True(files.Train.Pixels.SequenceEqual(pair.Train.Pixels) && files.Train.Labels.SequenceEqual(pair.Train.Labels));
        Assert.True(files.Test.Pixels.SequenceEqual(pair.Test.Pixels) && files.Test.Labels.SequenceEqual(pair.Test.Labels));
        Assert.Equal(DatasetOrigin.Files, spec.ResolveOrigin(EmbeddedDir));
        var installed = spec.LoadFashionMnist(EmbeddedDir);
        Assert.Equal(DatasetOrigin.Files, installed.Origin);
        Assert.Contains(EmbeddedDir, installed.Train.Source);
    }

    [Fact]
    public void AMissingExplicitFolderStaysAnErrorNamingThePath()
    {
        using var tmp = new TempDir();
        var missing = Path.Combine(tmp.Path, "no-such-folder");
        var spec = DatasetSpec.Parse($"fashion-mnist:{missing}");
        Assert.Equal(DatasetOrigin.Files, spec.ResolveOrigin());
        Assert.Equal(DatasetOrigin.Files, spec.ResolveOrigin(tmp.Path));   // even where no full set is installed
        var e = Assert.Throws<FileNotFoundException>(() => spec.Load());
        Assert.Contains(Path.Combine(missing, FashionMnist.TrainFiles.Images), e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        e = Assert.Throws<FileNotFoundException>(() => spec.LoadFashionMnist(tmp.Path));
        Assert.Contains(missing, e.Message);
        e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(false, missing));
        Assert.Contains(Path.Combine(missing, FashionMnist.TestFiles.Images), e.Message);
    }

    /// <summary>What `fashion-mnist` and <c>FashionMnist.Load(train)</c> give on this machine, with the exact sizes of each case.</summary>
    [FashionMnistFact]
    public void DefaultIsTheFullSetWhenInstalledElseTheSubset()
    {
        var origin = FashionMnist.DefaultOrigin;
        Assert.Equal(FashionMnist.IsAvailable() ? DatasetOrigin.Files : DatasetOrigin.EmbeddedSubset, origin);
        Assert.Equal(origin, DatasetSpec.Parse("fashion-mnist").ResolveOrigin());
        var test = FashionMnist.Load(train: false);
        Assert.Equal(origin == DatasetOrigin.Files ? 10000 : 2000, test.Count);
        Assert.Equal(origin == DatasetOrigin.Files ? $"Fashion-MNIST test ({FashionMnist.DefaultDirectory})" : "Fashion-MNIST test (embedded subset, 200 per class)", test.Source);
        output.WriteLine($"fashion-mnist here: {origin} ({test.Source})");
    }

    /// <summary>acwa train and acwa eval print the notice exactly when the embedded subset stands in.</summary>
    [Trait("Category", TestCategories.Slow)]
    [FashionMnistFact]
    public void TrainAndEvalPrintTheNoticeWhenTheSubsetIsUsed()
    {
        using var tmp = new TempDir();
        bool embedded = FashionMnist.DefaultOrigin == DatasetOrigin.EmbeddedSubset;
        var run = tmp.File("run");
        var (rc, stdout, err) = CliRun.Invoke("train", "--epochs", "1", "--out", run, "--quiet");
        Assert.True(rc == 0, err);
        Assert.Equal(embedded, stdout.Contains(FashionMnist.EmbeddedNotice, StringComparison.Ordinal));
        Assert.Contains(embedded ? "train 4950, validation 550, test 2000" : "train 29700, validation 3300, test 10000", stdout);
        (rc, stdout, err) = CliRun.Invoke("eval", "--model", Path.Combine(run, "model.onnx"), "--dataset", "fashion-mnist");
        Assert.True(rc == 0, err);
        Assert.Equal(embedded, stdout.Contains(FashionMnist.EmbeddedNotice, StringComparison.Ordinal));
        Assert.Contains(embedded ? "test set: 2000 images" : "test set: 10000 images", stdout);
        output.WriteLine(stdout.Split('\n')[0]);
    }
}
