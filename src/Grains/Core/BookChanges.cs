namespace Qubrid.Core;

/// <summary>What one batch changed, for the store to write in one transaction.</summary>
public sealed class BookChanges
{
    public List<CreditLot> NewLots { get; } = [];
    public HashSet<long> TouchedLots { get; } = [];
    public List<LedgerEntryView> Entries { get; } = [];
    public Dictionary<string, SessionView> Sessions { get; } = new(StringComparer.Ordinal);
    public List<BillingEvent> Events { get; } = [];
    public bool LowBalanceFlagChanged { get; set; }

    /// <summary>Holds created or settled in the batch, by number.</summary>
    public Dictionary<long, Hold> Holds { get; } = [];

    /// <summary>Whether the limits or the auto top-up (settings or where it stands) changed.</summary>
    public bool ControlsChanged { get; set; }

    /// <summary>An automatic recharge the batch decided on: started once the batch is durable.</summary>
    public AutoTopupAttempt? AutoTopupStarted { get; set; }

    /// <summary>Per model, the fraction of a micro-credit charged for inference but not yet debited, after the batch.</summary>
    public Dictionary<string, decimal> InferenceCarry { get; } = new(StringComparer.Ordinal);

    /// <summary>Refunds to the card reserved (pending rows) or settled in the batch.</summary>
    public List<CardRefundChange> CardRefunds { get; } = [];

    public bool IsEmpty => Entries.Count == 0 && Sessions.Count == 0 && Events.Count == 0 && !LowBalanceFlagChanged && InferenceCarry.Count == 0
        && Holds.Count == 0 && !ControlsChanged && CardRefunds.Count == 0;
}

/// <summary>The outcome of applying one operation to a book, with what it did that the batch-end rules need (<see cref="Effects"/>).</summary>
public readonly record struct BookOutcome(WalletOpStatus Status, LedgerEntryView? Entry, long? LotId, Micros Available, string? ErrorCode = null, string? Detail = null,
    BatchEffects Effects = default)
{
    public static BookOutcome Insufficient(Micros available) => new(WalletOpStatus.InsufficientCredits, null, null, available, ErrorCodes.InsufficientCredits);

    /// <summary>A 402 spend_limit_exceeded: recorded under its key like an insufficient-credits refusal.</summary>
    public static BookOutcome OverLimit(Micros available, string detail) =>
        new(WalletOpStatus.InsufficientCredits, null, null, available, ErrorCodes.SpendLimitExceeded, detail, BatchEffects.AtLimit);

    /// <summary>A refusal that is not recorded under the key (404 hold_not_found, 409 hold_not_active, …).</summary>
    public static BookOutcome Refused(string code, string detail) => new(WalletOpStatus.Invalid, null, null, Micros.Zero, code, detail);
}
