using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Acwa.Onnx.Distributed;

namespace Acwa.DevBench;

/// <summary>
/// <c>acwa-dev mpi selftest | allreduce</c>, run under <c>mpirun</c>: <c>selftest</c> checks every collective of
/// <see cref="MpiCommunicator"/> against values computed locally (tests/Acwa.Onnx.Tests/Distributed); <c>allreduce</c> times
/// the in-place float all-reduce of gradient buffers of the given sizes (docs/distributed.md).
/// </summary>
internal static class DevMpiCommand
{
    public static Command Create()
    {
        var mpi = new Command("mpi", "MPI collectives under mpirun: a self-test and all-reduce timings (docs/distributed.md).");
        var selftest = new Command("selftest", "Checks init, rank/size, all-reduce (float, double, int64), broadcast and a caught NullReferenceException; rank 0 prints 'selftest ok: N ranks'.");
        var fail = new Option<int>("--abort-rank") { Description = "This rank calls Abort(3) after the checks (the others wait in a collective).", DefaultValueFactory = _ => -1 };
        selftest.Add(fail);
        selftest.SetAction(r => SelfTest(r.GetValue(fail)));
        var allreduce = new Command("allreduce", "Median seconds of an in-place float all-reduce per buffer length (floats), rank 0 prints 'allreduce LENGTH BYTES MEDIAN_MS'.");
        var lengths = new Option<string>("--lengths") { Description = "Comma-separated buffer lengths in floats.", DefaultValueFactory = _ => "1000000" };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats per length (after 5 warm-up ones).", DefaultValueFactory = _ => 50 };
        allreduce.Add(lengths); allreduce.Add(repeats);
        allreduce.SetAction(r => AllReduceTimes(r.GetValue(lengths)!, r.GetValue(repeats)));
        mpi.Add(selftest); mpi.Add(allreduce);
        return mpi;
    }

    private static int SelfTest(int abortRank)
    {
        using var c = MpiCommunicator.Initialize();
        int n = c.Size, r = c.Rank;
        void Expect(bool ok, string what) { if (!ok) c.Abort(4, $"selftest: {what}"); }
        // float: rank-dependent values whose sums are exact in fp32.
        var f = new float[1000];
        for (int i = 0; i < f.Length; i++) f[i] = (r + 1) * 0.5f + i;
        c.AllReduceSum(f);
        for (int i = 0; i < f.Length; i++) Expect(f[i] == n * (n + 1) / 2 * 0.5f + n * i, $"float[{i}] = {f[i]}");
        var d = new double[] { r, 1e300 / n, r * 0.25 };
        c.AllReduceSum(d);
        Expect(d[0] == n * (n - 1) / 2 && Math.Abs(d[1] - 1e300) < 1e287 && d[2] == 0.25 * n * (n - 1) / 2, $"double [{string.Join(", ", d)}]");
        var l = new long[] { 1L << 40, r, -r };
        c.AllReduceSum(l);
        Expect(l[0] == n * (1L << 40) && l[1] == n * (n - 1) / 2 && l[2] == -l[1], $"int64 [{string.Join(", ", l)}]");
        var empty = Array.Empty<float>();
        c.AllReduceSum(empty);
        int root = n - 1;
        var bf = new float[] { r, r + 0.5f }; c.Broadcast(bf, root);
        var bd = new double[] { r * Math.PI }; c.Broadcast(bd, root);
        var bl = new long[] { r * 7L }; c.Broadcast(bl, root);
        var bb = new byte[] { (byte)r, 9 }; c.Broadcast(bb, root);
        Expect(bf[0] == root && bf[1] == root + 0.5f && bd[0] == root * Math.PI && bl[0] == root * 7L && bb[0] == root && bb[1] == 9, "broadcast");
        // .NET turns SIGSEGV on a null dereference into NullReferenceException; MPI must not have taken that signal over.
        try { string? s = n > 0 ? null : ""; _ = s!.Length; Expect(false, "no NullReferenceException"); }
        catch (NullReferenceException) { }
        if (r == abortRank) c.Abort(3, "selftest: asked to abort");
        var sync = new long[] { 1 };
        c.AllReduceSum(sync); // the others wait here for an aborting rank
        if (r == 0) Console.WriteLine($"selftest ok: {n} ranks, {c.LibraryPath}");
        return 0;
    }

    private static int AllReduceTimes(string lengths, int repeats)
    {
        using var c = MpiCommunicator.Initialize();
        foreach (var part in lengths.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int len = int.Parse(part, CultureInfo.InvariantCulture);
            var buf = new float[len];
            var times = new double[repeats];
            for (int i = -5; i < repeats; i++)
            {
                buf.AsSpan().Fill(1e-3f);
                var sync = new long[1]; c.AllReduceSum(sync); // start together
                long t0 = Stopwatch.GetTimestamp();
                c.AllReduceSum(buf);
                if (i >= 0) times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            var mine = new double[] { Median(times) };
            var all = new double[c.Size];
            all[c.Rank] = mine[0];
            c.AllReduceSum(all);
            if (c.Rank == 0)
                Console.WriteLine(FormattableString.Invariant($"allreduce {len} {len * 4L} {all.Max():F3} (median ms per rank: {string.Join(" ", all.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))})"));
        }
        return 0;
    }

    private static double Median(double[] v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length == 0 ? 0 : s[s.Length / 2];
    }
}
