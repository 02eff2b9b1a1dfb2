using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Qubrid.Payments;

namespace Qubrid.Refunds;

/// <summary>How refunds to the card resume after a crash.</summary>
public sealed class CardRefundOptions
{
    public const string Section = "Qubrid:CardRefunds";

    /// <summary>While a refund of the payment is pending, a reminder resumes it this often (on another silo if the one running it died).</summary>
    public TimeSpan ResumeAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Refunds to the card of one payment (key: the payment id), in three durable steps: the wallet reserves the amount on the
/// payment's lot and writes the pending refund row in its ledger transaction; the gateway refunds, keyed by the refund id;
/// the wallet writes the card_refund entry and the credit note (or, when the gateway refused, releases the reservation).
/// A reminder held while a refund is pending resumes it on another silo if this one dies between two steps: asking the
/// gateway again for the same refund id never refunds twice, and settling a refund that is no longer pending changes nothing.
/// </summary>
public sealed partial class CardRefundGrain(RefundStore store, IPaymentGateway gateway, IOptions<CardRefundOptions> options, ILogger<CardRefundGrain> logger)
    : Grain, ICardRefundGrain, IRemindable
{
    private const string ResumeReminder = "card-refund";

    private string PaymentId => this.GetPrimaryKeyString();

    // R-REFUND-5: row before the gateway, entry after it; a pending row is resumed by this grain's reminder.
    public async Task<CardRefundResult> Refund(CardRefundRequest request)
    {
        var payment = await store.FindPaymentAsync(PaymentId);
        if (payment is not { Succeeded: true, LotId: { } lotId })
            return new CardRefundResult(WalletOpResult.Invalid(ErrorCodes.PaymentNotFound, $"No succeeded payment '{PaymentId}'."), null);
        request = request with { PaymentId = PaymentId, LotId = lotId, RefundId = CardRefunds.IdOf(PaymentId, request.IdempotencyKey) };
        await ResumePendingAsync(); // what a crash left pending first: its reservation may be what this refund needs
        // The reminder before the reservation: a crash right after the pending row is written still has it resumed.
        try
        {
            await this.RegisterOrUpdateReminder(ResumeReminder, options.Value.ResumeAfter, options.Value.ResumeAfter);
        }
        catch (Exception e)
        {
            LogReminderFailed(logger, e, PaymentId); // the next refund call of the payment resumes it
        }
        var wallet = GrainFactory.GetGrain<IWalletLotsGrain>(payment.WalletId);
        var reserved = await wallet.ReserveCardRefund(request);
        if (!reserved.Operation.Succeeded || reserved.Refund is not { Status: CardRefundStatus.Pending } pending)
        {
            await UnregisterIfDoneAsync();
            return reserved;
        }
        var settled = await SettleAsync(wallet, pending);
        await UnregisterIfDoneAsync();
        return settled with { Operation = reserved.Operation };
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return;
        await ResumePendingAsync();
        await UnregisterIfDoneAsync();
    }

    private async Task ResumePendingAsync()
    {
        foreach (var pending in await store.PendingRefundsAsync(PaymentId))
            await SettleAsync(GrainFactory.GetGrain<IWalletLotsGrain>(pending.WalletId), pending);
    }

    private async Task<CardRefundResult> SettleAsync(IWalletLotsGrain wallet, CardRefundView pending)
    {
        var refund = await gateway.RefundAsync(pending.RefundId, pending.PaymentId, pending.Amount, CancellationToken.None);
        LogGateway(logger, pending.WalletId, pending.RefundId, pending.Amount.ToUsd(), refund.Succeeded);
        var settled = await wallet.SettleCardRefund(pending.RefundId, refund.Succeeded, refund.Succeeded ? null : refund.Message);
        BillingDiagnostics.Write(new BillingDiagnostics.CardRefundSettled(pending.WalletId, pending.RefundId, refund.Succeeded));
        return settled;
    }

    private async Task UnregisterIfDoneAsync()
    {
        if ((await store.PendingRefundsAsync(PaymentId)).Count > 0) return;
        if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId}: refund {RefundId} of {AmountUsd} USD to the card: gateway succeeded={Succeeded}")]
    private static partial void LogGateway(ILogger logger, string walletId, string refundId, decimal amountUsd, bool succeeded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Payment {PaymentId}: the card refund's resume reminder could not be registered")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string paymentId);
}

/// <summary>Refund lists and the credits report (stateless: any silo, several activations).</summary>
[Orleans.Concurrency.StatelessWorker]
public sealed class RefundReportGrain(RefundStore store) : Grain, IRefundReportGrain
{
    public Task<IReadOnlyList<CardRefundView>> Refunds(string walletId, int limit) => store.RefundsAsync(walletId, limit);

    public Task<CreditsReport> CreditsReport(int year, int month) => store.CreditsReportAsync(year, month);
}
