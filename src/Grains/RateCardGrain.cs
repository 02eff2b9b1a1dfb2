using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Qubrid;

[GenerateSerializer, Alias("qubrid.RateCardState")]
public sealed class RateCardState
{
    /// <summary>Rates set by an admin; they win over the configured defaults.</summary>
    [Id(0)] public Dictionary<string, decimal> Overrides { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The rate card: configured defaults plus persisted admin changes. A session locks its rate at start.</summary>
public sealed class RateCardGrain(
    [PersistentState("ratecard", ClusterNames.GrainStorage)] IPersistentState<RateCardState> state,
    IOptions<MeteringOptions> meteringOptions) : Grain, IRateCardGrain
{
    public const decimal MaxUsdPerHour = 10_000m;
    private static readonly Regex TypePattern = new("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$", RegexOptions.Compiled);

    public Task<IReadOnlyList<InstanceRate>> GetRates()
    {
        var merged = new Dictionary<string, decimal>(meteringOptions.Value.Rates, StringComparer.Ordinal);
        foreach (var (type, rate) in state.State.Overrides) merged[type] = rate;
        IReadOnlyList<InstanceRate> rates = merged.OrderBy(r => r.Value).ThenBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new InstanceRate(r.Key, r.Value)).ToList();
        return Task.FromResult(rates);
    }

    public Task<InstanceRate?> GetRate(string instanceType)
    {
        decimal rate;
        var found = state.State.Overrides.TryGetValue(instanceType, out rate) || meteringOptions.Value.Rates.TryGetValue(instanceType, out rate);
        return Task.FromResult(found ? new InstanceRate(instanceType, rate) : null);
    }

    // R-ADMIN-3: a rate is > 0 with at most 6 decimals; running sessions keep theirs.
    public async Task<RateChangeResult> SetRate(string instanceType, decimal usdPerHour)
    {
        if (string.IsNullOrEmpty(instanceType) || !TypePattern.IsMatch(instanceType))
            return new RateChangeResult(false, null, ErrorCodes.InvalidRequest, "An instance type is 1–32 letters, digits or . _ -.");
        if (usdPerHour <= 0 || usdPerHour > MaxUsdPerHour || !Micros.TryFromUsd(usdPerHour, out _))
            return new RateChangeResult(false, null, ErrorCodes.InvalidAmount, $"A rate is more than 0 and at most {MaxUsdPerHour} USD per hour, with at most 6 decimals.");
        state.State.Overrides[instanceType] = usdPerHour;
        await state.WriteStateAsync();
        return new RateChangeResult(true, new InstanceRate(instanceType, usdPerHour));
    }
}
