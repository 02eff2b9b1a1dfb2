using Microsoft.Extensions.Logging;
using Qubrid.Payments;

namespace Qubrid;

/// <summary>
/// A wallet's automatic recharges. The wallet decides an attempt (number and amount) in its ledger transaction and hands it
/// over; this grain charges the saved card through the same payment records as a top-up: the payment row, keyed by the
/// attempt, is written before the card is charged, and the credit is keyed by the payment id, so an attempt is charged and
/// credited at most once however often it runs. A reminder held while an attempt is in flight resumes it on another silo
/// if this one dies; the wallet's activation resumes it too.
/// </summary>
public sealed partial class AutoTopupGrain(TopupService topups, Microsoft.Extensions.Options.IOptions<AutoTopupOptions> options, ILogger<AutoTopupGrain> logger)
    : Grain, IAutoTopupGrain, IRemindable
{
    private const string ResumeReminder = "auto-topup";
    private TimeSpan ResumeAfter => options.Value.ResumeAfter;

    private string UserId => this.GetPrimaryKeyString();

    /// <summary>The payment id of an attempt: derived from the wallet and the attempt, never drawn at random.</summary>
    public static string PaymentIdOf(string userId, long attempt) => $"pay_auto_{attempt}_{userId}";

    // R-AUTO-2: pays through TopupService with pay_auto_<n>_<userId>, keyed auto-topup:<n>.
    public async Task Run(AutoTopupAttempt attempt)
    {
        try
        {
            await this.RegisterOrUpdateReminder(ResumeReminder, ResumeAfter, ResumeAfter);
        }
        catch (Exception e)
        {
            LogReminderFailed(logger, e, UserId); // the wallet's next activation resumes the attempt instead
        }
        await RunAsync(attempt);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return;
        var inFlight = await GrainFactory.GetGrain<IWalletGrain>(UserId).GetAutoTopupInFlight();
        if (inFlight is null)
        {
            await UnregisterAsync();
            return;
        }
        await RunAsync(inFlight);
    }

    private async Task RunAsync(AutoTopupAttempt attempt)
    {
        var outcome = await topups.TopupAsync(UserId, attempt.Amount, attempt.PaymentToken, $"auto-topup:{attempt.Attempt}", CancellationToken.None,
            PaymentIdOf(UserId, attempt.Attempt));
        bool succeeded = outcome.Kind == TopupOutcomeKind.Succeeded;
        LogAttempt(logger, UserId, attempt.Attempt, attempt.Amount.ToUsd(), outcome.Kind.ToString());
        var wallet = GrainFactory.GetGrain<IWalletGrain>(UserId);
        await wallet.AutoTopupSettled(attempt.Attempt, succeeded, succeeded ? null : outcome.Failure ?? outcome.Kind.ToString());
        BillingDiagnostics.Write(new BillingDiagnostics.AutoTopupSettled(UserId, attempt.Attempt, succeeded));
        if (await wallet.GetAutoTopupInFlight() is null) await UnregisterAsync();
    }

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId}: auto top-up attempt {Attempt} of {AmountUsd} USD ended {Outcome}")]
    private static partial void LogAttempt(ILogger logger, string walletId, long attempt, decimal amountUsd, string outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: the auto top-up's resume reminder could not be registered")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string walletId);
}
