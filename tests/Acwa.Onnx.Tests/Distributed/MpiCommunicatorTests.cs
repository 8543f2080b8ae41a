namespace Acwa.Onnx.Tests.Distributed;

/// <summary>The Open MPI binding under mpirun (acwa-dev mpi selftest): every collective against locally computed values, and Abort.</summary>
[Trait("Category", TestCategories.Slow)]
public class MpiCommunicatorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Collectives_give_the_expected_values_on_every_rank(int ranks)
    {
        var r = MpiRun.Run(ranks, "acwa-dev.dll", ["mpi", "selftest"], timeoutSeconds: 120);
        Assert.True(r.Code == 0, $"exit {r.Code}\n{r.Out}\n{r.Err}");
        Assert.Contains($"selftest ok: {ranks} ranks", r.Out);
    }

    [Fact]
    public void Abort_on_one_rank_ends_every_rank_with_its_code_and_names_the_rank()
    {
        var r = MpiRun.Run(3, "acwa-dev.dll", ["mpi", "selftest", "--abort-rank", "1"], timeoutSeconds: 60);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("rank 1 of 3: selftest: asked to abort", r.Err);
        Assert.True(r.Seconds < 60);
    }
}
