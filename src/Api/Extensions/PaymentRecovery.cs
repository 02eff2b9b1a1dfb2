using Microsoft.Extensions.Options;

using Qubrid.Payments;

namespace Qubrid.Api.Extensions;

/// <summary>Settles top-ups a crash left half-done, so a paid top-up is never lost and an unpaid one never credited.</summary>
public sealed partial class PaymentRecovery(TopupService topups, IOptions<TopupOptions> options, ILogger<PaymentRecovery> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                int settled = await topups.SettleStaleAsync(options.Value.SettleAfter, stoppingToken);
                if (settled > 0) LogSettled(logger, settled);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Settled {Count} stale payments")]
    private static partial void LogSettled(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Payment recovery failed this round: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
