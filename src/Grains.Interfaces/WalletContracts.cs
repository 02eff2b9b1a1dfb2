namespace Qubrid;

/// <summary>How a wallet operation ended. Expected outcomes are values, not exceptions.</summary>
public enum WalletOpStatus : byte
{
    Applied = 1,
    InsufficientCredits = 2,
    IdempotencyConflict = 3,
    Invalid = 4,
    WalletNotFound = 5,
}

/// <summary>
/// Adds credits: a grant (promotional, expiring), a top-up, a positive adjustment or a refund. A grant may carry a
/// <see cref="CreditScope"/> (normalized by <see cref="CreditScopes.Normalize"/>): its lot pays only for matching usage.
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreditRequest")]
public sealed record CreditRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] LedgerEntryKind Kind,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] string Reference,
    [property: Id(4)] DateTimeOffset? ExpiresAt = null,
    [property: Id(5)] CreditScope? Scope = null);

/// <summary>Takes credits in consumption order. <c>AllowPartial</c> takes what is left instead of refusing.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.DebitRequest")]
public sealed record DebitRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] LedgerEntryKind Kind,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] string Reference,
    [property: Id(4)] UsageTags? Usage = null,
    [property: Id(5)] bool AllowPartial = false);

/// <summary>
/// What a charge was for, kept on the ledger entry for usage reports. On an organization's wallet, <c>MemberId</c> is the
/// member the usage was for and <c>ProjectId</c> the project it names (docs/rules.md#R-ORG-4).
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.UsageTags")]
public sealed record UsageTags(
    [property: Id(0)] string? SessionId = null,
    [property: Id(1)] string? InstanceType = null,
    [property: Id(2)] string? Model = null,
    [property: Id(3)] string? Workload = null,
    [property: Id(4)] string? MemberId = null,
    [property: Id(5)] string? ProjectId = null);

/// <summary>The answer to a mutating wallet call.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.WalletOpResult")]
public sealed record WalletOpResult(
    [property: Id(0)] WalletOpStatus Status,
    [property: Id(1)] long? Seq = null,
    [property: Id(2)] Micros Amount = default,
    [property: Id(3)] Micros BalanceAfter = default,
    [property: Id(4)] long? LotId = null,
    [property: Id(5)] bool Replayed = false,
    [property: Id(6)] string? ErrorCode = null,
    [property: Id(7)] string? Detail = null)
{
    public bool Succeeded => Status == WalletOpStatus.Applied;

    public static WalletOpResult Invalid(string code, string detail) => new(WalletOpStatus.Invalid, ErrorCode: code, Detail: detail);
    public static WalletOpResult NotFound(string walletId) =>
        new(WalletOpStatus.WalletNotFound, ErrorCode: ErrorCodes.WalletNotFound, Detail: $"Wallet '{walletId}' does not exist.");
}

/// <summary>The result of creating a wallet; <c>Created</c> is false when it already existed.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreateWalletResult")]
public sealed record CreateWalletResult([property: Id(0)] bool Created, [property: Id(1)] WalletBalance Balance);

[GenerateSerializer, Immutable, Alias("qubrid.ExpiryView")]
public sealed record ExpiryView([property: Id(0)] DateTimeOffset At, [property: Id(1)] Micros Amount);

[GenerateSerializer, Immutable, Alias("qubrid.RunningSessionView")]
public sealed record RunningSessionView(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string InstanceType,
    [property: Id(2)] decimal UsdPerHour,
    [property: Id(3)] DateTimeOffset StartedAt,
    [property: Id(4)] Micros Charged,
    [property: Id(5)] string Workload);

/// <summary>
/// A wallet's balance at one instant: expired lots are never counted. <c>Scoped</c> is the part of <c>Total</c> (and of
/// <c>Promotional</c>) in scoped lots; <c>Available</c> leaves it out (a scoped lot pays only the usage it matches).
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.WalletBalance")]
public sealed record WalletBalance(
    [property: Id(0)] string UserId,
    [property: Id(1)] Micros Total,
    [property: Id(2)] Micros Promotional,
    [property: Id(3)] Micros Purchased,
    [property: Id(4)] ExpiryView? NextExpiry,
    [property: Id(5)] decimal BurnRatePerHour,
    [property: Id(6)] long? RunwaySeconds,
    [property: Id(7)] IReadOnlyList<RunningSessionView> RunningSessions,
    [property: Id(8)] DateTimeOffset AsOf,
    [property: Id(9)] Micros Held = default,
    [property: Id(10)] Micros Available = default,
    [property: Id(11)] Micros Scoped = default);

/// <summary>One addition of credits and what is left of it. Its id is the seq of the entry that created it.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreditLot")]
public sealed record CreditLot(
    [property: Id(0)] long Id,
    [property: Id(1)] LotKind Kind,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] Micros Remaining,
    [property: Id(4)] DateTimeOffset GrantedAt,
    [property: Id(5)] DateTimeOffset? ExpiresAt,
    [property: Id(6)] string Source,
    [property: Id(7)] int ExpiryNotices = 0,
    [property: Id(8)] CreditScope? Scope = null)
{
    // R-EXP-1: expired from expiresAt on; no read counts it and no debit takes it.
    /// <summary>At <c>ExpiresAt</c> the remainder is gone: a lot is live strictly before it.</summary>
    public bool IsExpiredAt(DateTimeOffset now) => ExpiresAt is { } at && at <= now;
}

[GenerateSerializer, Immutable, Alias("qubrid.LotMovement")]
public sealed record LotMovement([property: Id(0)] long LotId, [property: Id(1)] Micros Amount);

[GenerateSerializer, Immutable, Alias("qubrid.LedgerEntryView")]
public sealed record LedgerEntryView(
    [property: Id(0)] long Seq,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] LedgerEntryKind Kind,
    [property: Id(3)] Micros Amount,
    [property: Id(4)] Micros BalanceAfter,
    [property: Id(5)] IReadOnlyList<LotMovement> Lots,
    [property: Id(6)] string Reference,
    [property: Id(7)] string? IdempotencyKey,
    [property: Id(8)] UsageTags? Usage);

/// <summary>A page of the ledger, newest first. <c>Before</c> is the cursor: only entries with a smaller seq.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.LedgerQuery")]
public sealed record LedgerQuery(
    [property: Id(0)] IReadOnlyList<LedgerEntryKind>? Kinds = null,
    [property: Id(1)] DateTimeOffset? From = null,
    [property: Id(2)] DateTimeOffset? To = null,
    [property: Id(3)] long? Before = null,
    [property: Id(4)] int Limit = 50)
{
    public const int MaxLimit = 500;
}

[GenerateSerializer, Immutable, Alias("qubrid.LedgerPage")]
public sealed record LedgerPage([property: Id(0)] IReadOnlyList<LedgerEntryView> Items, [property: Id(1)] long? NextBefore);

/// <summary>Usage (what was spent) between two instants, grouped by day and by what it was spent on; only one member's when <c>MemberId</c> is set.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.UsageQuery")]
public sealed record UsageQuery([property: Id(0)] DateTimeOffset From, [property: Id(1)] DateTimeOffset To, [property: Id(2)] string? MemberId = null);

/// <summary>One SQL group: spending of one kind on one day for one instance type, model, workload, member and project.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.UsageRow")]
public sealed record UsageRow(
    [property: Id(0)] DateOnly Day,
    [property: Id(1)] LedgerEntryKind Kind,
    [property: Id(2)] string? InstanceType,
    [property: Id(3)] string? Model,
    [property: Id(4)] string? Workload,
    [property: Id(5)] Micros Amount,
    [property: Id(6)] long Count,
    [property: Id(7)] string? MemberId = null,
    [property: Id(8)] string? ProjectId = null);
