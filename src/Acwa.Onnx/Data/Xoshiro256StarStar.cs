namespace Acwa.Onnx.Data;

/// <summary>
/// The xoshiro256** generator (Blackman and Vigna) seeded through SplitMix64. Its whole state is four 64-bit words
/// exposed by <see cref="State"/>, so a checkpoint can save it and a resumed run continues bit-identically.
/// Not thread-safe; not for cryptography.
/// </summary>
internal sealed class Xoshiro256StarStar
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator whose state is expanded from <paramref name="seed"/> with SplitMix64.</summary>
    public Xoshiro256StarStar(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>
    /// The four state words. Getting returns a copy; setting restores a saved state (exactly 4 words, not all zero).
    /// </summary>
    /// <exception cref="ArgumentException">The array does not hold 4 words or they are all zero.</exception>
    public ulong[] State
    {
        get => [_s0, _s1, _s2, _s3];
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Length != 4) throw new ArgumentException($"xoshiro256** state has 4 words, got {value.Length}", nameof(value));
            if ((value[0] | value[1] | value[2] | value[3]) == 0) throw new ArgumentException("xoshiro256** state must not be all zero", nameof(value));
            (_s0, _s1, _s2, _s3) = (value[0], value[1], value[2], value[3]);
        }
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform integer in <c>[0, bound)</c> without modulo bias (Lemire's multiply-and-reject).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bound"/> is not positive.</exception>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "bound must be positive");
        ulong b = (ulong)bound;
        UInt128 m = (UInt128)NextUInt64() * b;
        ulong low = (ulong)m;
        if (low < b)
        {
            ulong threshold = (0 - b) % b;
            while (low < threshold)
            {
                m = (UInt128)NextUInt64() * b;
                low = (ulong)m;
            }
        }
        return (int)(ulong)(m >> 64);
    }

    /// <summary>Uniform double in <c>[0, 1)</c> with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Shuffles <paramref name="items"/> in place (Fisher-Yates, from the last element down).</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>
    /// A generator for a derived stream: its seed is a SplitMix64 hash chain over <paramref name="seed"/> and
    /// <paramref name="keys"/>, so e.g. (seed, epoch) or (seed, epoch, batch) give independent, reproducible streams.
    /// </summary>
    public static Xoshiro256StarStar Derive(ulong seed, params ReadOnlySpan<ulong> keys)
    {
        ulong x = seed;
        ulong h = SplitMix64(ref x);
        foreach (var k in keys)
        {
            x = h ^ k;
            h = SplitMix64(ref x);
        }
        return new Xoshiro256StarStar(h);
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
