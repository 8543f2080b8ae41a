using System.CommandLine;
using Acwa.Cli.Training;
using Acwa.Onnx.Training.Compiler;
using Acwa.Onnx.Training.Runs;
using Acwa.Onnx.Training.Runtime;

namespace Acwa.Cli.Commands;

/// <summary><c>acwa train</c>: parses options into a <see cref="TrainingRunOptions"/> and hands it to <see cref="TrainRun"/>.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "fashion-mnist | cifar10:DIR | isic2018:DIR | folder:DIR (one subfolder per class, optional train/ test/) | idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS] | npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy] (uint8 [N, H, W] or [N, C, H, W] images, normalised as IDX images; other samples fed as they are: float features/sequences, or int64 token ids for a model with an int64 input, with --model M.onnx). Without test files a stratified test split is carved out.", DefaultValueFactory = _ => "fashion-mnist" };
        var imbalance = new Option<string?>("--imbalance") { Description = "step (classes 5-9 keep 10%, the paper's protocol) | step:FRACTION[:CLASS,...] | lt:RHO (long tail, ratio rho) | none. Default: step for fashion-mnist and cifar10 (the datasets the paper used), none for every other dataset (your data as it is)." };
        var model = new Option<string>("--model") { Description = "mlp | cnn | resnet20 | resnet32 | PATH.onnx (a forward model with logits [N,classes] whose input takes the data: images [N,C,H,W], or with npy: data any [N, ...] floats or int64 token ids).", DefaultValueFactory = _ => "mlp" };
        var loss = new Option<string>("--loss") { Description = "ce (class-weighted cross-entropy) | focal[:gamma=2] | ldam[:s=30,margin=0.5] (scale, largest margin) | la[:tau=1] (logit adjustment; tau 1 = balanced softmax). Keys left out keep these defaults.", DefaultValueFactory = _ => "ce" };
        var policy = new Option<string>("--policy") { Description = "Class-weight policy: " + string.Join(", ", Acwa.Onnx.Weighting.PolicyFactory.Names) + " (options as name:key=value,...; see docs/policies.md).", DefaultValueFactory = _ => "acwa" };
        var optimizer = new Option<string>("--optimizer") { Description = "adam | sgd | adamw.", DefaultValueFactory = _ => "adam" };
        var lr = new Option<double>("--lr") { Description = "Base learning rate.", DefaultValueFactory = _ => 1e-3 };
        var schedule = new Option<string>("--schedule") { Description = "LR schedule: " + Acwa.Onnx.Training.LearningRateSchedules.Syntax + " (lr= overrides --lr, warmup=E warms up linearly over E epochs; e.g. step:every=30,gamma=0.1; see docs/runtime.md).", DefaultValueFactory = _ => "constant" };
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum (as acwa artifacts; 0 turns it off; ignored by adam/adamw).", DefaultValueFactory = _ => 0.9 };
        var wd = new Option<double>("--weight-decay") { Description = "Weight decay (L2 for sgd/adam, decoupled for adamw).", DefaultValueFactory = _ => 0.0 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs.", DefaultValueFactory = _ => 15 };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        var valFraction = new Option<double>("--val-fraction") { Description = "Stratified validation split carved from the training set (feeds the policy).", DefaultValueFactory = _ => 0.1 };
        var feedback = new Option<string>("--feedback") { Description = "Which split feeds the class-weight policy after every epoch: validation (the held-out --val-fraction split) | training (the confusion matrix of the epoch's training predictions, with augmentation and dropout as trained; optimistic, since the model fits its training data, so adaptive policies react less). The validation split is evaluated and reported either way; a resumed run keeps its source.", DefaultValueFactory = _ => "validation" };
        var device = new Option<string>("--device") { Description = "cpu | cuda | cuda:N.", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int>("--threads") { Description = "CPU intra-op threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed for imbalance sampling, splits, shuffling and initialisation.", DefaultValueFactory = _ => 0UL };
        var outDir = new Option<string?>("--out") { Description = "Run folder (default runs/DATASET-IMBALANCE-MODEL-LOSS-POLICY-DEVICE-seedN, e.g. runs/fashion-mnist-step-mlp-ce-acwa-cpu-seed0)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its checkpoint (a finished run is reported, not redone)." };
        var testEach = new Option<bool>("--test-each-epoch") { Description = "Also evaluate the test split after every epoch." };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Also write checkpoint.acwa every STEPS training steps, mid-epoch (a killed run loses at most STEPS steps; --resume continues with the next batch). 0 = after every epoch only. SIGINT/SIGTERM always write one at the next step boundary.", DefaultValueFactory = _ => 0 };
        var divergence = new Option<double>("--divergence-factor") { Description = "Stop as diverged when the mean loss of the last 20 steps (or of the epoch) exceeds K x max(first step's loss, ln classes); NaN/inf always stops. 0 = NaN/inf only.", DefaultValueFactory = _ => 10.0 };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bars; one line per epoch." };
        var trainable = new Option<string?>("--trainable") { Description = "Comma-separated initializers to train, '*' as wildcard (e.g. 'fc.*'); default: every fp32 parameter." };
        var frozen = new Option<string?>("--frozen") { Description = "Comma-separated initializers to keep frozen, '*' as wildcard (e.g. 'conv*,bn*' to fine-tune only the head)." };
        var frozenBn = new Option<bool>("--frozen-bn") { Description = "Batch-norm layers whose scale and bias are frozen run in inference mode (running statistics, not updated), as PyTorch's eval() on a frozen backbone." };
        var imageSize = new Option<int?>("--image-size") { Description = "Side that folder:/isic2018: images are resized to (default: a model file's declared input side, else 64)." };
        var cudaGraph = new Option<bool>("--cuda-graph") { Description = "CUDA only: run each training step as a captured CUDA graph (fewer launches; the last, smaller batch runs uncaptured)." };
        var distributed = new Option<bool>("--distributed") { Description = "One rank of a data-parallel run started by mpirun or srun (Open MPI; CPU): each rank trains on its slice of every global --batch, gradients are summed with MPI all-reduce, rank 0 writes the run folder (docs/distributed.md). E.g. mpirun -np 2 acwa train ... --distributed." };
        var cmd = new Command("train", "Train a classifier on imbalanced data with a class-weight policy (ACWA by default) and write a report.")
        {
            dataset, imbalance, imageSize, model, trainable, frozen, frozenBn, loss, policy, optimizer, lr, schedule, momentum, wd, epochs, batch, valFraction, feedback, device, threads, cudaGraph, seed, outDir, resume, checkpointEvery, divergence, testEach, quiet, distributed,
        };
        cmd.SetAction(pr =>
        {
            TrainingRunOptions o;
            try
            {
                var lossSpec = Parsed("--loss", () => TrainingNames.ParseLossSpec(pr.GetValue(loss)!));
                o = new TrainingRunOptions
                {
                    Dataset = pr.GetValue(dataset)!, Imbalance = pr.GetValue(imbalance), Model = pr.GetValue(model)!, Loss = lossSpec.Loss, LossSettings = lossSpec.Settings,
                    Policy = pr.GetValue(policy)!, Optimizer = Parsed("--optimizer", () => TrainingNames.ParseOptimizer(pr.GetValue(optimizer)!)), LearningRate = pr.GetValue(lr), Schedule = pr.GetValue(schedule)!,
                    Momentum = pr.GetValue(momentum), WeightDecay = pr.GetValue(wd), Epochs = pr.GetValue(epochs), Batch = pr.GetValue(batch),
                    ValidationFraction = pr.GetValue(valFraction), Feedback = Parsed("--feedback", () => TrainingRunOptions.ParseFeedback(pr.GetValue(feedback)!)), Device = Parsed("--device", () => Device.Parse(pr.GetValue(device)!)), Threads = pr.GetValue(threads), CudaGraph = pr.GetValue(cudaGraph), Seed = pr.GetValue(seed),
                    OutDir = pr.GetValue(outDir), Resume = pr.GetValue(resume), TestEachEpoch = pr.GetValue(testEach),
                    Trainable = ArtifactsCommand.SplitList(pr.GetValue(trainable)), Frozen = ArtifactsCommand.SplitList(pr.GetValue(frozen)),
                    FrozenBatchNorm = pr.GetValue(frozenBn), ImageSize = pr.GetValue(imageSize),
                    CheckpointEverySteps = pr.GetValue(checkpointEvery), DivergenceFactor = pr.GetValue(divergence),
                };
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                return ConsoleOutput.Fail(pr.InvocationConfiguration.Error, e.Message);
            }
            var line = pr.Tokens.Select(t => t.Value).ToList();
            if (pr.GetValue(distributed)) return TrainRun.ExecuteDistributed(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error, pr.GetValue(quiet), line);
            return TrainRun.Execute(o, pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error, pr.GetValue(quiet), line);
        });
        return cmd;
    }

    /// <summary>A parsed option value; a parse error gets the flag in front.</summary>
    private static T Parsed<T>(string flag, Func<T> parse)
    {
        try { return parse(); }
        catch (FormatException e) { throw new FormatException($"{flag}: {e.Message}", e); }
    }
}
