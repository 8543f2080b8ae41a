using System.CommandLine;
using Acwa.Cli.Training;

namespace Acwa.Cli.Commands;

/// <summary><c>acwa reproduce</c>: parses options into a <see cref="ReproduceOptions"/> and hands it to <see cref="ReproduceRun"/>.</summary>
internal static class ReproduceCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "fashion-mnist | cifar10:DIR | isic2018:DIR | folder:DIR (one subfolder per class, optional train/ test/) | idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS].", DefaultValueFactory = _ => "fashion-mnist" };
        var imbalance = new Option<string>("--imbalance") { Description = "step (classes 5-9 keep 10%, the paper's protocol) | step:FRACTION | lt:RHO | none.", DefaultValueFactory = _ => "step" };
        var model = new Option<string>("--model") { Description = "mlp | cnn | resnet20 | resnet32 | PATH.onnx.", DefaultValueFactory = _ => "cnn" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds 0..N-1 per method.", DefaultValueFactory = _ => 3 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per run.", DefaultValueFactory = _ => 30 };
        var methods = new Option<string?>("--methods") { Description = "Comma-separated subset of: " + string.Join(", ", ReproduceMethod.Names) + " (default all)." };
        var reference = new Option<string?>("--reference") { Description = "Method the paired differences (mean over seeds with a 95% t-interval) are taken against; default the best baseline run (highest mean test macro-F1 among " + string.Join(", ", ReproduceMethod.BaselineNames) + ")." };
        var split = new Option<string>("--split") { Description = "test | validation: the split the report's numbers come from (validation: the final epoch's validation metrics, to screen or tune without looking at the test split).", DefaultValueFactory = _ => "test" };
        var extraMethod = new Option<string[]>("--extra-method") { Description = "NAME=LOSS/POLICY[/OPTIMIZER[:lr=LR]][/feedback=training]: also run this adaptive candidate (repeatable), e.g. wilson-eta2=ce/acwa-wilson:eta=2; LOSS may carry its options (focal:gamma=1, la:tau=1.5, ldam:margin=0.3); OPTIMIZER (adam, sgd, adamw) replaces Adam at --lr for this method; feedback=training feeds its policy the epoch's training predictions instead of the validation split (optimistic: the model fits its training data), e.g. wilson-tr=ce/acwa-wilson/feedback=training; without --methods only the extra methods run.", Arity = ArgumentArity.ZeroOrMore, DefaultValueFactory = _ => [] };
        var extraBaseline = new Option<string[]>("--extra-baseline") { Description = "NAME=LOSS/POLICY[/OPTIMIZER[:lr=LR]][/feedback=training]: also run this static baseline (repeatable), e.g. cb-0.999=ce/cb:beta=0.999 or ldam-drw-sgd=ldam/drw:at=0.8,then=[cb:beta=0.9999]/sgd:lr=0.01; it counts as a baseline for the verdict and the paired reference.", Arity = ArgumentArity.ZeroOrMore, DefaultValueFactory = _ => [] };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (constant).", DefaultValueFactory = _ => 1e-3 };
        var valFraction = new Option<double>("--val-fraction") { Description = "Stratified validation split carved from the training set (feeds the adaptive policies).", DefaultValueFactory = _ => 0.1 };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int>("--threads") { Description = "CPU intra-op threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string?>("--out") { Description = "Output folder (default runs/reproduce-DATASET-IMBALANCE-MODEL); runs go to OUT/METHOD/seedN and are resumed, never redone; several processes may share one OUT (each run is held by one at a time)." };
        var reportOnly = new Option<bool>("--report-only") { Description = "Train nothing: write the report for the methods whose runs have finished for every seed, and list the others with their progress (for a long run still going, or interrupted), and name the missing runs; after a sharded grid, the report of the whole grid." };
        var shard = new Option<string?>("--shard") { Description = "I/N: train only shard I of N of the grid (runs sorted by dataset, method, seed; run r to shard r mod N), write no report; default from SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --shards. Afterwards --report-only writes the grid's report (docs/scale-out.md)." };
        var shards = new Option<int?>("--shards") { Description = "N, the shard count, with Kubernetes' JOB_COMPLETION_INDEX (Kubernetes gives no count)." };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Also checkpoint each run every STEPS training steps, mid-epoch (a killed or preempted process loses at most STEPS steps of its run). 0 = after every epoch only. SIGINT/SIGTERM always checkpoint at the next step boundary (exit 130/143); rerunning the command resumes.", DefaultValueFactory = _ => 0 };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "CUDA only: run each training step as a captured CUDA graph (fewer launches; the last, smaller batch runs uncaptured)." };
        var cmd = new Command("reproduce", "Run the paper's comparison (baselines, paper-exact ACWA, its ablations and variants) over several seeds and write results.md/json and plots.")
        {
            dataset, imbalance, model, seeds, epochs, methods, extraMethod, extraBaseline, reference, split, batch, lr, valFraction, device, threads, cudaGraph, outDir, reportOnly, shard, shards, checkpointEvery,
        };
        cmd.SetAction(pr => ReproduceRun.Execute(new ReproduceOptions
        {
            Dataset = pr.GetValue(dataset)!, Imbalance = pr.GetValue(imbalance)!, Model = pr.GetValue(model)!, Seeds = pr.GetValue(seeds),
            Epochs = pr.GetValue(epochs), Methods = pr.GetValue(methods), ExtraMethods = pr.GetValue(extraMethod) ?? [], ExtraBaselines = pr.GetValue(extraBaseline) ?? [], Reference = pr.GetValue(reference), Split = pr.GetValue(split)!.Trim().ToLowerInvariant(), Batch = pr.GetValue(batch), LearningRate = pr.GetValue(lr),
            ValidationFraction = pr.GetValue(valFraction), Device = pr.GetValue(device)!, Threads = pr.GetValue(threads), CudaGraph = pr.GetValue(cudaGraph), OutDir = pr.GetValue(outDir),
            ReportOnly = pr.GetValue(reportOnly), Shard = pr.GetValue(shard), Shards = pr.GetValue(shards), CheckpointEverySteps = pr.GetValue(checkpointEvery),
        }, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error, pr.Tokens.Select(t => t.Value).ToList()));
        return cmd;
    }
}
