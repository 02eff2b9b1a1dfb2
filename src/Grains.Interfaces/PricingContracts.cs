using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

[GenerateSerializer, Immutable, Alias("qubrid.InstanceRate")]
public sealed record InstanceRate([property: Id(0)] string InstanceType, [property: Id(1)] decimal UsdPerHour);

[GenerateSerializer, Immutable, Alias("qubrid.ModelPrice")]
public sealed record ModelPrice(
    [property: Id(0)] string Model,
    [property: Id(1)] decimal InputUsdPerMillion,
    [property: Id(2)] decimal OutputUsdPerMillion);

[GenerateSerializer, Immutable, Alias("qubrid.PremiumPrice")]
public sealed record PremiumPrice([property: Id(0)] string Name, [property: Id(1)] decimal Usd);

[GenerateSerializer, Immutable, Alias("qubrid.PriceList")]
public sealed record PriceList(
    [property: Id(0)] IReadOnlyList<ModelPrice> Models,
    [property: Id(1)] IReadOnlyList<PremiumPrice> Premium);

/// <summary>The outcome of a rate change.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.RateChangeResult")]
public sealed record RateChangeResult(
    [property: Id(0)] bool Succeeded,
    [property: Id(1)] InstanceRate? Rate,
    [property: Id(2)] string? ErrorCode = null,
    [property: Id(3)] string? Detail = null);

/// <summary>The on-demand rate card (USD per hour per instance type). One grain, key 0.</summary>
[Alias("qubrid.IRateCardGrain")]
[Version(0)]
public interface IRateCardGrain : IGrainWithIntegerKey
{
    [Alias("GetRates"), ReadOnly] Task<IReadOnlyList<InstanceRate>> GetRates();

    /// <summary>Null for an unknown instance type.</summary>
    [Alias("GetRate"), ReadOnly] Task<InstanceRate?> GetRate(string instanceType);

    /// <summary>Applies to sessions started afterwards; running sessions keep the rate they locked.</summary>
    [Alias("SetRate")] Task<RateChangeResult> SetRate(string instanceType, decimal usdPerHour);
}

/// <summary>Model and premium prices from the silo's configuration.</summary>
[Alias("qubrid.IPriceListGrain")]
[Version(0)]
public interface IPriceListGrain : IGrainWithIntegerKey
{
    [Alias("GetPriceList"), ReadOnly] Task<PriceList> GetPriceList();
}

/// <summary>An inference query to charge after it ran.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.InferenceChargeRequest")]
public sealed record InferenceChargeRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] string Model,
    [property: Id(2)] long InputTokens,
    [property: Id(3)] long OutputTokens,
    [property: Id(4)] long? HoldNumber = null,
    [property: Id(5)] string? MemberId = null,
    [property: Id(6)] string? ProjectId = null);

/// <summary>Access to a premium model or API, priced in configuration.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.PremiumChargeRequest")]
public sealed record PremiumChargeRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Reference = null,
    [property: Id(3)] string? MemberId = null,
    [property: Id(4)] string? ProjectId = null);
