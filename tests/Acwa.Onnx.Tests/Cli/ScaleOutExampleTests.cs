using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Acwa.Onnx.Graphs;
using Acwa.Onnx.IO;
using Acwa.Onnx.Tests.Data;
using Acwa.Onnx.Tests.Evaluation;
using YamlDotNet.RepresentationModel;

namespace Acwa.Onnx.Tests.Cli;

/// <summary>
/// The committed scale-out examples (examples/scale-out, docs/scale-out.md) run as they are, without a cluster: each Slurm
/// script passes <c>bash -n</c> and runs once per array task with the variables Slurm would set; each Kubernetes manifest
/// parses as an Indexed Job whose container command runs once per completion index with its env. The merged evaluation
/// equals the unsharded one; the grid's report lists every method.
/// </summary>
public sealed partial class ScaleOutExampleTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Repo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Acwa.Onnx.sln"))) return d.FullName;
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    private static string Example(string name) => Path.Combine(Repo(), "examples", "scale-out", name);

    /// <summary>A folder with an <c>acwa</c> command that runs this build's tool, for the PATH.</summary>
    private string Shim()
    {
        var bin = _dir.File("bin");
        Directory.CreateDirectory(bin);
        var shim = Path.Combine(bin, "acwa");
        File.WriteAllText(shim, $"#!/bin/sh\nexec dotnet \"{Path.Combine(AppContext.BaseDirectory, "acwa.dll")}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    private static string Run(string file, IEnumerable<string> args, IDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {p.ExitCode}: {stderr}\n{stdout.Result}");
        return stdout.Result;
    }

    private Dictionary<string, string> BaseEnv(string shim) => new()
    {
        ["PATH"] = shim + ":" + Environment.GetEnvironmentVariable("PATH"),
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
    };

    [GeneratedRegex(@"^#SBATCH --array=(\d+)-(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ArrayLine();

    /// <summary>Runs a Slurm array script once per task (as Slurm sets the variables) and returns the task count.</summary>
    private int RunSlurmArray(string script, Dictionary<string, string> env)
    {
        var m = ArrayLine().Match(File.ReadAllText(script));
        Assert.True(m.Success, $"{script} has no #SBATCH --array=A-B line");
        int min = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), max = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        for (int id = min; id <= max; id++)
        {
            var e = new Dictionary<string, string>(env)
            {
                ["SLURM_ARRAY_TASK_ID"] = id.ToString(CultureInfo.InvariantCulture), ["SLURM_ARRAY_TASK_MIN"] = min.ToString(CultureInfo.InvariantCulture),
                ["SLURM_ARRAY_TASK_MAX"] = max.ToString(CultureInfo.InvariantCulture), ["SLURM_ARRAY_TASK_COUNT"] = (max - min + 1).ToString(CultureInfo.InvariantCulture),
                ["SLURM_CPUS_PER_TASK"] = "1",
            };
            Run("bash", [script], e);
        }
        return max - min + 1;
    }

    /// <summary>The Job of a manifest: its spec and its first container (command, args, env as the manifest sets it).</summary>
    private static (YamlMappingNode Spec, List<string> Command, Dictionary<string, string> Env) Job(string manifest)
    {
        var yaml = new YamlStream();
        using (var r = new StringReader(File.ReadAllText(manifest))) yaml.Load(r);
        var root = (YamlMappingNode)Assert.Single(yaml.Documents).RootNode;
        Assert.Equal("batch/v1", root["apiVersion"].ToString());
        Assert.Equal("Job", root["kind"].ToString());
        var spec = (YamlMappingNode)root["spec"];
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)spec["template"])["spec"])["containers"]).Children[0];
        Assert.Contains("image", container.Children.Keys.Select(k => k.ToString()));
        var command = ((YamlSequenceNode)container["command"]).Select(n => n.ToString()).Concat(((YamlSequenceNode)container["args"]).Select(n => n.ToString())).ToList();
        var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().ToDictionary(e => e["name"].ToString(), e => e["value"].ToString());
        return (spec, command, env);
    }

    /// <summary>Runs an Indexed Job's command once per completion index, with the manifest's env and <paramref name="local"/> over it.</summary>
    private static int RunIndexedJob(string manifest, Dictionary<string, string> local)
    {
        var (spec, command, env) = Job(manifest);
        Assert.Equal("Indexed", spec["completionMode"].ToString());
        int n = int.Parse(spec["completions"].ToString(), CultureInfo.InvariantCulture);
        Assert.Equal(n.ToString(CultureInfo.InvariantCulture), env["SHARDS"]); // --shards must equal completions
        for (int i = 0; i < n; i++)
        {
            var e = new Dictionary<string, string>(env);
            foreach (var (k, v) in local) e[k] = v;
            e["JOB_COMPLETION_INDEX"] = i.ToString(CultureInfo.InvariantCulture);
            Run(command[0], command.Skip(1), e);
        }
        return n;
    }

    private static void RunJob(string manifest, Dictionary<string, string> local)
    {
        var (_, command, env) = Job(manifest);
        foreach (var (k, v) in local) env[k] = v;
        Run(command[0], command.Skip(1), env);
    }

    [Fact]
    public void SlurmScriptsPassBashSyntaxCheckAndManifestsParse()
    {
        foreach (var f in Directory.GetFiles(Path.Combine(Repo(), "examples", "scale-out"), "*.sbatch"))
            Run("bash", ["-n", f], new Dictionary<string, string>());
        foreach (var f in Directory.GetFiles(Path.Combine(Repo(), "examples", "scale-out"), "*.yaml"))
            Assert.StartsWith("/bin/sh", Job(f).Command[0], StringComparison.Ordinal);
        var doc = File.ReadAllText(Path.Combine(Repo(), "docs", "scale-out.md"));
        foreach (var f in Directory.GetFiles(Path.Combine(Repo(), "examples", "scale-out")))
            Assert.Contains($"examples/scale-out/{Path.GetFileName(f)}", doc, StringComparison.Ordinal);
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void ShardedEvaluationExamplesRunAsTheSchedulersWouldAndMergeExactly()
    {
        var shim = Shim();
        var model = EvalModels.Linear(1, 6, 6, 4, seed: 3);
        OnnxModel.Save(model, _dir.File("model.onnx"));
        var data = EvalModels.Data(101, 1, 6, 6, 4, seed: 4);
        NpyFile.Write<byte>(_dir.File("x.npy"), data.Pixels, [101, 6, 6]);
        NpyFile.Write<long>(_dir.File("y.npy"), data.Labels.ToArray().Select(v => (long)v).ToArray());
        var local = new Dictionary<string, string>(BaseEnv(shim))
        {
            ["MODEL"] = _dir.File("model.onnx"), ["DATASET"] = $"npy:{_dir.File("x.npy")},{_dir.File("y.npy")}",
        };
        var (code, _, err) = CliRun.Invoke("eval", "--model", local["MODEL"], "--dataset", local["DATASET"], "--json", _dir.File("whole.json"));
        Assert.True(code == 0, err);

        var slurm = new Dictionary<string, string>(local) { ["OUT"] = _dir.File("slurm") };
        int tasks = RunSlurmArray(Example("slurm-eval.sbatch"), slurm);
        Assert.Equal(tasks, Directory.GetFiles(_dir.File("slurm/parts"), "part-*.json").Length);
        Run("bash", [Example("slurm-eval-merge.sbatch")], slurm);
        Assert.Equal(File.ReadAllText(_dir.File("whole.json")), File.ReadAllText(_dir.File("slurm/report.json")));

        var k8s = new Dictionary<string, string>(local) { ["OUT"] = _dir.File("k8s") };
        int pods = RunIndexedJob(Example("k8s-eval.yaml"), k8s);
        Assert.Equal(pods, Directory.GetFiles(_dir.File("k8s/parts"), "part-*.json").Length);
        RunJob(Example("k8s-eval-merge.yaml"), new Dictionary<string, string>(BaseEnv(shim)) { ["OUT"] = _dir.File("k8s") });
        Assert.Equal(File.ReadAllText(_dir.File("whole.json")), File.ReadAllText(_dir.File("k8s/report.json")));
    }

    [Trait("Category", TestCategories.Slow)]
    [Fact]
    public void ReproductionGridExamplesRunAsTheSchedulersWouldAndReportTheWholeGrid()
    {
        var shim = Shim();
        var grid = $"--dataset {LearnableIdxDataset.Write(_dir)} --model mlp --seeds 2 --epochs 1 --batch 32 --methods ce,cb";
        foreach (var (name, run, report) in new[] { ("slurm", "slurm-reproduce.sbatch", "slurm-reproduce-report.sbatch"), ("k8s", "k8s-reproduce.yaml", "k8s-reproduce-report.yaml") })
        {
            var env = new Dictionary<string, string>(BaseEnv(shim)) { ["GRID"] = name == "slurm" ? grid : grid + " --threads 1", ["OUT"] = _dir.File(name) };
            if (name == "slurm")
            {
                RunSlurmArray(Example(run), env);
                Run("bash", [Example(report)], env);
            }
            else
            {
                RunIndexedJob(Example(run), env);
                RunJob(Example(report), env);
            }
            var md = File.ReadAllLines(Path.Combine(_dir.File(name), "results.md"));
            Assert.Contains(md, l => l.StartsWith("| ce |", StringComparison.Ordinal));
            Assert.Contains(md, l => l.StartsWith("| cb |", StringComparison.Ordinal));
            Assert.Empty(Directory.GetFiles(_dir.File(name), "run.lock", SearchOption.AllDirectories));
        }
        // Both schedulers' grids trained the same runs: the same table.
        static string[] Table(string dir) => File.ReadAllLines(Path.Combine(dir, "results.md")).Where(l => l.StartsWith("| c", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Table(_dir.File("slurm")), Table(_dir.File("k8s")));
    }
}
