using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Configuration;
using Qubrid.Statements;
using Qubrid.Webhooks;

namespace Qubrid.Silo;

/// <summary>Webhook delivery and statements on a silo: options, the store, the sender with its caps, the per-silo event signal.</summary>
public static class WebhookHostingExtensions
{
    public static IServiceCollection AddQubridWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.IsValid(), "Qubrid:Webhooks settings out of range (intervals, timeouts, retry schedule).")
            .ValidateOnStart();
        var keepAlive = configuration.GetSection(WebhookOptions.Section).Get<WebhookOptions>()?.KeepAlivePeriod ?? TimeSpan.FromMinutes(1);
        services.Configure<ReminderOptions>(o =>
        {
            if (keepAlive < o.MinimumReminderPeriod) o.MinimumReminderPeriod = keepAlive;
        });
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WebhookStore>();
        services.TryAddSingleton<WebhookSender>();
        services.TryAddSingleton<WebhookSignal>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookSignal>());
        services.TryAddSingleton<StatementStore>();
        return services;
    }
}
