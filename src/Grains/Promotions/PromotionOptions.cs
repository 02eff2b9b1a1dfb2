using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Qubrid.Promotions;

/// <summary>Promotions on the silo.</summary>
public sealed class PromotionOptions
{
    public const string Section = "Qubrid:Promotions";

    /// <summary>
    /// How often a promotion's reminder wakes it to complete reservations a dead silo left pending (a redemption retried by
    /// its client completes its own at once). At least Orleans' minimum reminder period.
    /// </summary>
    public TimeSpan RecoveryPeriod { get; set; } = TimeSpan.FromMinutes(1);
}

public static class PromotionHostingExtensions
{
    public static IServiceCollection AddQubridPromotions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PromotionOptions>().Bind(configuration.GetSection(PromotionOptions.Section))
            .Validate(o => o.RecoveryPeriod >= TimeSpan.FromMilliseconds(200) && o.RecoveryPeriod <= TimeSpan.FromDays(1),
                "Qubrid:Promotions:RecoveryPeriod must be 200 ms to 1 day.")
            .ValidateOnStart();
        services.TryAddSingleton<PromotionStore>();
        return services;
    }
}
