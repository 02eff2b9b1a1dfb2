namespace Qubrid.Core;

/// <summary>A refund to the card reserved on a purchased lot and not settled yet: the lot keeps the amount for it.</summary>
public sealed record PendingCardRefund(string RefundId, string PaymentId, long LotId, Micros Amount, string Reason, string IdempotencyKey,
    DateTimeOffset CreatedAt);

/// <summary>A refund row the batch writes: a new reservation (pending) or how one ended.</summary>
public sealed record CardRefundChange(PendingCardRefund Refund, CardRefundStatus Status, long? Seq, string? Failure, DateTimeOffset At);

/// <summary>Voids of promotional lots and refunds to the card (docs/rules.md, voids and refunds). Pure like the rest of the book.</summary>
public sealed partial class WalletBook
{
    private readonly Dictionary<string, PendingCardRefund> _pendingRefunds = new(StringComparer.Ordinal);

    /// <summary>Refunds reserved and not settled, in the order they were reserved.</summary>
    public IReadOnlyList<PendingCardRefund> PendingRefunds => [.. _pendingRefunds.Values.OrderBy(r => r.CreatedAt).ThenBy(r => r.RefundId, StringComparer.Ordinal)];

    /// <summary>A pending refund as loaded from its row.</summary>
    public void AddPendingRefund(PendingCardRefund refund)
    {
        Invariant.Check(refund.Amount.IsPositive, "a reserved refund is positive");
        _pendingRefunds[refund.RefundId] = refund;
    }

    private WalletBook CopyRefundsFrom(WalletBook other)
    {
        foreach (var r in other._pendingRefunds.Values) _pendingRefunds[r.RefundId] = r;
        return this;
    }

    /// <summary>What pending refunds keep from their lots (counted in held: nothing else may spend it).</summary>
    public Micros RefundsReserved()
    {
        var reserved = Micros.Zero;
        foreach (var r in _pendingRefunds.Values) reserved += r.Amount;
        return reserved;
    }

    private Micros ReservedOn(long lotId)
    {
        var reserved = Micros.Zero;
        foreach (var r in _pendingRefunds.Values) if (r.LotId == lotId) reserved += r.Amount;
        return reserved;
    }

    /// <summary>The lots as a debit may take them: a lot with a pending refund offers only what the refund leaves.</summary>
    private List<CreditLot> SpendableLots()
    {
        if (_pendingRefunds.Count == 0) return [.. _lots.Values];
        return [.. _lots.Values.Select(l => ReservedOn(l.Id) is { IsPositive: true } r ? l with { Remaining = l.Remaining - r } : l)];
    }

    // R-VOID-1: a void takes at most min(the lot's remaining, available): never what holds or running sessions keep.
    /// <summary>
    /// Voids a promotional lot's remainder: a <c>grant_void</c> entry of min(remaining, available). A purchased lot is
    /// refused (<c>lot_not_voidable</c>); a lot the book no longer holds (spent, expired or voided) voids 0 and writes nothing.
    /// </summary>
    public BookOutcome VoidLot(VoidLotRequest request, DateTimeOffset now)
    {
        if (!_lots.TryGetValue(request.LotId, out var lot))
            return new BookOutcome(WalletOpStatus.Applied, null, request.LotId, Available(now));
        if (lot.Kind != LotKind.Promotional)
            return BookOutcome.Refused(ErrorCodes.LotNotVoidable, $"Lot {lot.Id} holds purchased credits; refund the payment to the card instead.");
        var voided = Micros.Min(lot.Remaining, Available(now));
        if (!voided.IsPositive) return new BookOutcome(WalletOpStatus.Applied, null, request.LotId, Available(now));
        var entry = Append(now, LedgerEntryKind.GrantVoid, -voided, [new LotMovement(lot.Id, -voided)], request.Reason, request.IdempotencyKey, null);
        return new BookOutcome(WalletOpStatus.Applied, entry, request.LotId, Available(now));
    }

    // R-REFUND-1: a refund reserves at most min(the lot's remaining less other pending refunds, available).
    /// <summary>
    /// Reserves a refund to the card on the purchased lot the payment bought: at most what the lot has left (less other
    /// pending refunds) and what is available (holds keep theirs); otherwise <c>refund_exceeds_remaining</c>. The pending
    /// row is written with the batch, before the gateway is asked.
    /// </summary>
    public BookOutcome ReserveCardRefund(CardRefundRequest request, DateTimeOffset now)
    {
        var lot = _lots.GetValueOrDefault(request.LotId);
        if (lot is not null && lot.Kind != LotKind.Purchased)
            return BookOutcome.Refused(ErrorCodes.LotNotVoidable, $"Lot {lot.Id} holds promotional credits; only purchases go back to the card.");
        var refundable = lot is null ? Micros.Zero : Micros.Min(lot.Remaining - ReservedOn(lot.Id), Available(now));
        if (refundable.IsNegative) refundable = Micros.Zero;
        if (request.Amount > refundable)
            return BookOutcome.Refused(ErrorCodes.RefundExceedsRemaining,
                $"At most {refundable.ToUsd():0.######} USD of payment {request.PaymentId} is unspent and not held; asked {request.Amount.ToUsd():0.######} USD.");
        var pending = new PendingCardRefund(request.RefundId, request.PaymentId, request.LotId, request.Amount, request.Reason, request.IdempotencyKey, now);
        _pendingRefunds[pending.RefundId] = pending;
        Changes.CardRefunds.Add(new CardRefundChange(pending, CardRefundStatus.Pending, null, null, now));
        return new BookOutcome(WalletOpStatus.Applied, null, request.LotId, Available(now));
    }

    // R-REFUND-2: the card_refund entry takes the refunded amount from the payment's own lot, once, after the gateway refunded it.
    /// <summary>
    /// Settles a pending refund: on success a <c>card_refund</c> entry takes its amount from its lot and raises refund_succeeded;
    /// on failure the reservation is released, nothing is written to the ledger and refund_failed is raised. A refund not
    /// pending (settled before, or unknown) changes nothing.
    /// </summary>
    public Decided<OperationResult> SettleCardRefund(string refundId, bool succeeded, string? failure, DateTimeOffset now)
    {
        if (!_pendingRefunds.Remove(refundId, out var refund)) return new(new WalletOpResult(WalletOpStatus.Applied, Replayed: true), BatchEffects.None);
        LedgerEntryView? entry = null;
        if (succeeded)
            entry = Append(now, LedgerEntryKind.CardRefund, -refund.Amount, [new LotMovement(refund.LotId, -refund.Amount)], refund.RefundId, null, null);
        Changes.CardRefunds.Add(new CardRefundChange(refund, succeeded ? CardRefundStatus.Succeeded : CardRefundStatus.Failed, entry?.Seq, failure, now));
        Changes.Events.Add(new BillingEvent(0, now, succeeded ? EventKinds.RefundSucceeded : EventKinds.RefundFailed, WalletId, null, succeeded ? null : failure,
            Balance, null, EventData.Of(("refundId", refund.RefundId), ("paymentId", refund.PaymentId), ("amount", refund.Amount), ("lotId", refund.LotId))));
        return new(new WalletOpResult(WalletOpStatus.Applied, entry?.Seq, refund.Amount, Balance, refund.LotId), BatchEffects.None);
    }
}
