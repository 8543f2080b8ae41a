using Acwa.Cli.Commands;
using Acwa.Cli.Training;
using Acwa.Onnx.Evaluation;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Tests.Models;
using Acwa.Onnx.Training.Runs;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// <c>acwa train --dataset npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>: models exported from PyTorch whose input is not an
/// image (int64 token ids, float sequences) trained end to end by the CLI from real .npy files, and the errors for data
/// that does not fit.
/// </summary>
public sealed class TrainSamplesCommandTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The marker-token task (<see cref="Training.Runtime.MarkerTokens"/>) as .npy files.</summary>
    private (string X, string Y) Tokens(string name, int seed, params int[] perClass)
    {
        var (ids, labels) = Training.Runtime.MarkerTokens.PerClass(seed, perClass);
        var (xp, yp) = (_dir.File($"{name}_x.npy"), _dir.File($"{name}_y.npy"));
        NpyFile.Write<long>(xp, ids, [labels.Length, Training.Runtime.MarkerTokens.Length]);
        NpyFile.Write<long>(yp, labels.Select(l => (long)l).ToArray());
        return (xp, yp);
    }

    [Fact]
    public void TrainsATokenIdModelFromNpyFilesAndEvalOfTheExportAgrees()
    {
        var (x, y) = Tokens("train", 1, 300, 300, 300);
        var (xt, yt) = Tokens("test", 2, 60, 60, 60);
        var outDir = _dir.File("run");
        var o = new TrainingRunOptions
        {
            Dataset = $"npy:{x},{y},{xt},{yt}", Imbalance = "step:0.2:1,2", Model = ModelTestUtil.Fixture("tiny_text.onnx"), Policy = "acwa-prior",
            Epochs = 5, Batch = 32, LearningRate = 3e-3, OutDir = outDir, Threads = 1,
        };
        var log = new StringWriter();
        var outcome = TrainRun.Run(o, log);

        Assert.Contains("npy token ids [6], 3 classes", log.ToString());
        Assert.Contains("train counts [270, 54, 54]", log.ToString()); // step imbalance 300 -> 60 on classes 1 and 2, 10 % held out for validation
        Assert.Equal(5, outcome.History.Count);
        Assert.True(outcome.Test!.MacroF1 >= 0.9, $"test macro-F1 {outcome.Test.MacroF1:F3}");
        Assert.Equal(180, outcome.Test.Total);
        foreach (var f in new[] { "metrics.csv", "weights.csv", "checkpoint.acwa", "model.onnx", "confusion_matrix.csv", "test_report.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), $"run folder lacks {f}");
        // Token ids are fed as they are: the export carries class names but no image normalisation, and evaluates the same.
        var meta = ClassifierMetadata.Read(OnnxModel.Load(Path.Combine(outDir, "model.onnx")));
        Assert.Null(meta.Normalization);
        Assert.Equal(["0", "1", "2"], meta.ClassNames);
        var eval = EvalCommand.Compute(new EvalOptions(Path.Combine(outDir, "model.onnx"), $"npy:{xt},{yt}", Batch: 17), out _);
        Assert.Equal(outcome.TestConfusion!.Counts.ToArray(), eval.Matrix.Counts.ToArray());
    }

    [Fact]
    public void FloatSequencesWithoutTestFilesGetACarvedStratifiedTestSplit()
    {
        // tiny_lstm takes [N, 5, 3]; class c: channel c is raised over the whole sequence.
        var rng = new Random(4);
        int n = 300;
        var xs = new float[n * 15];
        var ys = new long[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % 3;
            ys[i] = c;
            for (int t = 0; t < 5; t++)
                for (int f = 0; f < 3; f++) xs[i * 15 + t * 3 + f] = (float)(rng.NextDouble() - 0.5) + (f == c ? 1.5f : 0f);
        }
        string x = _dir.File("seq_x.npy"), y = _dir.File("seq_y.npy");
        NpyFile.Write<float>(x, xs, [n, 5, 3]);
        NpyFile.Write<long>(y, ys);
        var o = new TrainingRunOptions
        {
            Dataset = $"npy:{x},{y}", Imbalance = "none", Model = ModelTestUtil.Fixture("tiny_lstm.onnx"), Epochs = 8, Batch = 16,
            LearningRate = 1e-2, OutDir = _dir.File("seq"), Threads = 1,
        };
        var log = new StringWriter();
        var outcome = TrainRun.Run(o, log);
        Assert.Contains("npy float samples [5x3], 3 classes", log.ToString());
        Assert.Equal(60, outcome.Test!.Total); // 20 % of 300, stratified
        Assert.True(outcome.Test.MacroF1 >= 0.8, $"test macro-F1 {outcome.Test.MacroF1:F3}");
        Assert.True(outcome.History[^1].TrainLoss < outcome.History[0].TrainLoss);
    }

    [Fact]
    public void Uint8ImagesInNpyFilesTrainLikeIdxImagesWithABuiltInModel()
    {
        // 8x8 grey images, class k (of 4) brightens row 2k; [N, H, W] for training, [N, 1, H, W] for the test file.
        (string X, string Y) Write(string name, int seed, int n, bool channelAxis)
        {
            var rng = new Random(seed);
            var px = new byte[n * 64];
            var ys = new long[n];
            for (int i = 0; i < n; i++)
            {
                int k = i % 4;
                ys[i] = k;
                for (int p = 0; p < 64; p++) px[i * 64 + p] = (byte)(p / 8 == 2 * k ? 150 + rng.Next(100) : rng.Next(120));
            }
            string xp = _dir.File($"{name}_x.npy"), yp = _dir.File($"{name}_y.npy");
            NpyFile.Write<byte>(xp, px, channelAxis ? [n, 1, 8, 8] : [n, 8, 8]);
            NpyFile.Write<long>(yp, ys);
            return (xp, yp);
        }
        var (x, y) = Write("img", 1, 400, channelAxis: false);
        var (xt, yt) = Write("img_test", 2, 100, channelAxis: true);
        var outDir = _dir.File("img-run");
        var o = new TrainingRunOptions { Dataset = $"npy:{x},{y},{xt},{yt}", Imbalance = "none", Model = "mlp", Epochs = 3, Batch = 32, OutDir = outDir, Threads = 1 };
        var log = new StringWriter();
        var outcome = TrainRun.Run(o, log);
        Assert.Contains("npy uint8 images [8x8], 4 classes", log.ToString());
        Assert.True(outcome.Test!.MacroF1 > 0.8, $"test macro-F1 {outcome.Test.MacroF1:F3}");
        // normalised like IDX images: the export carries the statistics, and `acwa eval` of it on the test file agrees
        var model = Path.Combine(outDir, "model.onnx");
        Assert.NotNull(ClassifierMetadata.Read(OnnxModel.Load(model)).Normalization);
        var eval = EvalCommand.Compute(new EvalOptions(model, $"npy:{xt},{yt}", Batch: 7), out _);
        Assert.Equal(outcome.TestConfusion!.Counts.ToArray(), eval.Matrix.Counts.ToArray());
    }

    [Fact]
    public void DataThatDoesNotFitIsRefusedNamingTheFile()
    {
        var (x, y) = Tokens("t", 1, 20, 20, 20);
        var text = ModelTestUtil.Fixture("tiny_text.onnx");
        string Fail(string dataset, string model)
        {
            var err = new StringWriter();
            int rc = TrainRun.Execute(new TrainingRunOptions { Dataset = dataset, Model = model, Epochs = 1, OutDir = _dir.File(Guid.NewGuid().ToString("N")) }, new StringWriter(), err);
            Assert.NotEqual(0, rc);
            return err.ToString();
        }
        Assert.Contains($"{x} holds Int64 samples [6], which a model file takes (the built-in models take images)", Fail($"npy:{x},{y}", "mlp"));
        Assert.Contains("expected npy:X.npy,Y.npy", Fail($"npy:{x},{y},{x}", text));
        string floats = _dir.File("floats.npy");
        NpyFile.Write<float>(floats, new float[60 * 6], [60, 6]);
        Assert.Contains($"{floats}: the model takes int64 token ids; the file holds Float32", Fail($"npy:{floats},{y}", text));
        Assert.Contains($"{x}: samples for a float model must be float32 or float64 (fed as they are), got Int64", Fail($"npy:{x},{y}", ModelTestUtil.Fixture("tiny_lstm.onnx")));
        string badY = _dir.File("bad_y.npy");
        var labels = new long[60];
        labels[17] = -1;
        NpyFile.Write<long>(badY, labels);
        Assert.Contains($"{badY}: label -1 at index 17 is negative", Fail($"npy:{x},{badY}", text));
        string shortY = _dir.File("short_y.npy");
        NpyFile.Write<long>(shortY, new long[59]);
        Assert.Contains($"{x}: expected [N, ...] with N = 59", Fail($"npy:{x},{shortY}", text));
        // same number of values, other shape: [N, 3, 5] data for the LSTM's [N, 5, 3] input; test samples of another shape
        string seqT = _dir.File("seq_t.npy");
        NpyFile.Write<float>(seqT, new float[60 * 15], [60, 3, 5]);
        Assert.Contains($"{seqT}: model '{ModelTestUtil.Fixture("tiny_lstm.onnx")}' takes input 'x' as [N, 5, 3], the data's samples are [N, 3, 5]",
            Fail($"npy:{seqT},{y}", ModelTestUtil.Fixture("tiny_lstm.onnx")));
        string shorter = _dir.File("ids5.npy");
        NpyFile.Write<long>(shorter, new long[60 * 5], [60, 5]);
        Assert.Contains($"{shorter}: test samples are [5], the training samples in {x} [6]", Fail($"npy:{x},{y},{shorter},{y}", text));
        // four classes in the labels, three logits in the model
        string fourY = _dir.File("four_y.npy");
        NpyFile.Write<long>(fourY, Enumerable.Range(0, 60).Select(i => (long)(i % 4)).ToArray());
        Assert.Contains("4 classes were asked for", Fail($"npy:{x},{fourY}", text));
    }
}
