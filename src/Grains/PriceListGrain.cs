using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Model and premium prices, served from any silo's configuration.</summary>
[StatelessWorker]
public sealed class PriceListGrain(IOptions<PriceListOptions> options) : Grain, IPriceListGrain
{
    public Task<PriceList> GetPriceList() => Task.FromResult(options.Value.ToPriceList());
}
