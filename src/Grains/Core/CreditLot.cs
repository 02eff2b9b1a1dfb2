namespace Qubrid.Core;

/// <summary>One addition of credits and what is left of it. Its id is the seq of the entry that created it.</summary>
public sealed record CreditLot(
    long Id,
    LotKind Kind,
    Micros Amount,
    Micros Remaining,
    DateTimeOffset GrantedAt,
    DateTimeOffset? ExpiresAt,
    string Source)
{
    /// <summary>At <c>ExpiresAt</c> the remainder is gone: a lot is live strictly before it.</summary>
    public bool IsExpiredAt(DateTimeOffset now) => ExpiresAt is { } at && at <= now;

    public LotView ToView() => new(Id, Kind, Amount, Remaining, GrantedAt, ExpiresAt, Source);
}
