namespace Qubrid.Api.Extensions;

/// <summary>
/// Checks a scope a client sent against the catalog: the rate card's instance types, the price list's models and premium
/// names (<see cref="CreditScopes.Normalize"/> does the rest). For grants here, and for promotions.
/// </summary>
public static class ScopeChecks
{
    public static async Task<ScopeCheck> CheckAsync(CreditScope? scope, IClusterClient cluster)
    {
        if (scope is null) return new ScopeCheck(null, null, null);
        var rates = await cluster.GetGrain<IRateCardGrain>(0).GetRates();
        var prices = await cluster.GetGrain<IPriceListGrain>(0).GetPriceList();
        var models = prices.Models.Select(m => m.Model).Concat(prices.Premium.Select(p => p.Name)).ToHashSet(StringComparer.Ordinal);
        return CreditScopes.Normalize(scope, rates.Select(r => r.InstanceType).ToHashSet(StringComparer.Ordinal), models);
    }
}
